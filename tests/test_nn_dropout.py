"""ByteDropout: inverted dropout with byte masks (rate, scaling, gradient, seeding, eval, errors)."""

import pytest


def test_byte_dropout_rate_scale_and_gradient():
    torch = pytest.importorskip("torch")
    from remadom.nn import ByteDropout

    layer = ByteDropout(0.1)
    assert layer.p == 26 / 256  # rounded to a multiple of 1/256
    torch.manual_seed(0)
    x = torch.ones(64, 1000, 3, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape
    kept = y != 0
    frac_dropped = 1 - kept.float().mean().item()
    assert abs(frac_dropped - layer.p) < 0.005  # 192,000 draws: s.d. of the fraction ~0.0007
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - layer.p)))
    assert abs(y.mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(sum)/dx is the scaled mask, equal to y for x = 1


def test_byte_dropout_odd_sizes_seeding_and_eval():
    torch = pytest.importorskip("torch")
    from remadom.nn import ByteDropout

    layer = ByteDropout(0.5)
    x = torch.randn(7, 13)  # 91 elements: not a multiple of 8
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    b = layer(x)
    assert torch.equal(a, b)
    assert ((a == 0) | torch.isclose(a, 2 * x)).all()
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(ByteDropout(0.0).train()(x), x)
    assert torch.equal(ByteDropout(0.001).train()(x), x)  # rounds to 0/256: identity


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_byte_dropout_rejects_bad_rate(p):
    pytest.importorskip("torch")
    from remadom.nn import ByteDropout

    with pytest.raises(ValueError, match=r"dropout rate p must be in \[0, 1\)"):
        ByteDropout(p)


def test_compiles_without_graph_breaks():
    """torch.compile(fullgraph=True) of dropout + the KL term: a graph break raises here."""
    torch = pytest.importorskip("torch")
    from torch.distributions import Normal, kl_divergence

    from remadom.nn import ByteDropout, kl_standard_normal

    layer = ByteDropout(0.5).train()

    def step(x, mu, sigma):
        q = Normal(mu, sigma, validate_args=False)
        return layer(x).sum() + kl_standard_normal(q).sum()

    x, mu, sigma = torch.ones(8, 16), torch.randn(8, 4), torch.rand(8, 4) + 0.1
    out = torch.compile(step, fullgraph=True, backend="eager")(x, mu, sigma)
    assert torch.isfinite(out)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu), validate_args=False)
    expected = kl_divergence(Normal(mu, sigma, validate_args=False), prior).sum(-1)
    assert torch.equal(kl_standard_normal(Normal(mu, sigma, validate_args=False)), expected)  # same arithmetic
