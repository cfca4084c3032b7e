"""kl_standard_normal: the closed form equals torch.distributions' KL to N(0, I)."""


def test_kl_standard_normal_matches_torch_distributions():
    import torch
    from torch.distributions import Normal, kl_divergence

    from remadom.nn import kl_standard_normal

    torch.manual_seed(0)
    loc = torch.randn(64, 3, 10) * 3
    scale = torch.exp(torch.randn(64, 3, 10))
    q = Normal(loc, scale)
    ref = kl_divergence(q, Normal(torch.zeros_like(loc), torch.ones_like(loc))).sum(-1)
    out = kl_standard_normal(q)
    assert out.shape == (64, 3)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # zero exactly at the prior, positive elsewhere
    assert kl_standard_normal(Normal(torch.zeros(4, 5), torch.ones(4, 5))).abs().max() == 0
    assert (out > 0).all()


def test_kl_standard_normal_gradient_matches():
    import torch
    from torch.distributions import Normal, kl_divergence

    from remadom.nn import kl_standard_normal

    torch.manual_seed(1)
    loc = torch.randn(8, 6, requires_grad=True)
    log_scale = torch.randn(8, 6, requires_grad=True)
    g1 = torch.autograd.grad(kl_standard_normal(Normal(loc, log_scale.exp())).sum(), (loc, log_scale))
    ref = kl_divergence(Normal(loc, log_scale.exp()), Normal(0.0, 1.0)).sum()
    g2 = torch.autograd.grad(ref, (loc, log_scale))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
