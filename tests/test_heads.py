"""Alignment heads, the group-balanced sampler and the latent bank (synthetic data: shapes, zeros,
monotonicity and errors only)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scvi
import torch

import remadom
from remadom.heads import (
    HEADS,
    BridgeDictionary,
    CrossGraphHead,
    GraphRegularizer,
    GWHead,
    MMDHead,
    SinkhornHead,
    TemporalHead,
    make_head,
    mnn_pairs,
)
from remadom.model import MOSAICVI
from remadom.train import GroupBalancedBatchSampler

from .test_mosaicvi import _toy_mosaic

GROUP_HEADS = [MMDHead, SinkhornHead, GWHead]


def _two_groups(shift: float, n: int = 48, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g)
    b = torch.randn(n, d, generator=g) + shift
    return torch.cat([a, b]), torch.tensor([0] * n + [1] * n)


@pytest.mark.parametrize("cls", GROUP_HEADS)
def test_group_head_small_for_identical_groups_grows_with_shift(cls):
    head = cls(weight=1.0)
    z, groups = _two_groups(0.0)
    same = head(torch.cat([z[:48], z[:48]]), groups).item()
    losses = [head(*_two_groups(s)).item() for s in (0.5, 2.0, 5.0)]
    assert same <= 1e-3 + 0.1 * losses[0], (same, losses)
    assert losses[0] < losses[1] < losses[2], losses


@pytest.mark.parametrize("cls", [*GROUP_HEADS, CrossGraphHead])
def test_heads_give_finite_gradients(cls):
    kwargs = {"space": "latent"} if cls is CrossGraphHead else {}
    head = cls(weight=1.0, **kwargs)
    z, groups = _two_groups(1.0)
    z = z.clone().requires_grad_(True)
    head(z, groups).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", [*GROUP_HEADS, CrossGraphHead])
def test_heads_cannot_be_lowered_by_shrinking_the_latent(cls):
    # scale-invariant: loss(c z) == loss(z) and the gradient has no radial component, so a head
    # never pulls the latent towards the prior mean (a detached scale collapsed it on real data)
    kwargs = {"space": "latent"} if cls is CrossGraphHead else {}
    head = cls(weight=1.0, **kwargs)
    z, groups = _two_groups(1.0)
    base = head(z, groups).item()
    assert head(0.1 * z, groups).item() == pytest.approx(base, rel=1e-3, abs=1e-5)
    z = z.clone().requires_grad_(True)
    head(z, groups).backward()
    radial = (z.grad * z).sum().item()
    assert abs(radial) <= 1e-3 * z.grad.norm().item() * z.norm().item() + 1e-6, radial


def test_crossgraph_pulls_mnn_pairs_from_link_space():
    # link features identify the true partners; the loss is the pairs' squared distance
    link = torch.randn(20, 6)
    z = torch.randn(40, 3)
    pairs = mnn_pairs(link, link, k=1)
    assert (pairs[:, 0] == pairs[:, 1]).all() and len(pairs) == 20
    head = CrossGraphHead(k=1, space="link")
    groups = torch.tensor([0] * 20 + [1] * 20)
    aligned = torch.cat([z[:20], z[:20]])
    assert head(aligned, groups, link=torch.cat([link, link])).item() == pytest.approx(0.0, abs=1e-6)
    assert head(z, groups, link=torch.cat([link, link])).item() > 0.1


def test_graph_regularizer_reads_neighbours_from_bank():
    n = 10
    g = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")  # a path graph
    head = GraphRegularizer(weight=1.0)
    head.set_graph(g)
    bank = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 2)
    idx = torch.tensor([2, 5, 7])
    smooth = head(bank[idx], idx, indices=idx, bank=bank).item()
    rough = head(bank[idx] + 10, idx, indices=idx, bank=bank).item()
    assert smooth < rough


def test_temporal_head_orders_time_on_synthetic_data():
    torch.manual_seed(0)
    t = torch.linspace(0, 1, 64)
    head = TemporalHead(weight=1.0, n_latent=2)
    z_good = torch.stack([t, torch.zeros_like(t)], 1) + 0.01 * torch.randn(64, 2)
    z_rand = torch.randn(64, 2)
    with torch.no_grad():
        head.direction.copy_(torch.tensor([1.0, 0.0]))
    assert head(z_good, t, time=t).item() < head(z_rand, t, time=t).item()
    z = torch.randn(64, 2, requires_grad=True)
    opt = torch.optim.Adam([z, *head.parameters()], lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        head(z, t, time=t).backward()
        opt.step()
    proj = (z @ torch.nn.functional.normalize(head.direction, dim=0)).detach()
    rho = np.corrcoef(np.argsort(np.argsort(proj.numpy())), np.arange(64))[0, 1]
    assert rho > 0.9, rho


def test_bridge_dictionary_fits_map_on_bridge_cells():
    torch.manual_seed(0)
    head = BridgeDictionary(source="a", target="b", n_latent=3, weight=1.0)
    mu_a = torch.randn(40, 3)
    mu_b = mu_a @ torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) + 2.0
    mask = torch.ones(40, 2)
    mask[20:30, 1] = 0  # source only
    mask[30:, 0] = 0    # target only
    experts = torch.stack([mu_a, mu_b])
    z = torch.randn(40, 3)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = head(z, z[:, 0], experts=experts, mask=mask, modalities=["a", "b"])
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


def test_balanced_sampler_puts_every_group_in_every_batch():
    groups = np.array([0] * 500 + [1] * 20 + [2] * 80)
    s = GroupBalancedBatchSampler(groups, batch_size=30, seed=0)
    batches = list(s)
    assert len(batches) == len(s) == 20
    for b in batches:
        assert len(b) == 30 and set(groups[b]) == {0, 1, 2}
        counts = np.bincount(groups[b], minlength=3)
        assert counts.min() >= 10 - 1
    with pytest.raises(ValueError, match="smaller than"):
        GroupBalancedBatchSampler(groups, batch_size=2)


def test_heads_registry_and_errors():
    assert set(HEADS) == {"mmd", "sinkhorn", "gw", "crossgraph", "graph", "temporal", "bridge"}
    with pytest.raises(ValueError, match="unknown head 'wasserstein'"):
        make_head({"name": "wasserstein"})
    with pytest.raises(ValueError, match="valid parameters"):
        make_head({"name": "sinkhorn", "epsilon": 0.1})
    with pytest.raises(ValueError, match="weight must be >= 0"):
        make_head({"name": "gw", "weight": -2})
    with pytest.raises(ValueError, match="unknown group_by"):
        make_head({"name": "mmd", "group_by": "donor"})
    with pytest.raises(ValueError, match="space"):
        make_head({"name": "crossgraph", "space": "genes"})


def test_model_validates_head_needs_before_training():
    m = _toy_mosaic()
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    with pytest.raises(ValueError, match="needs 'time'"):
        MOSAICVI(m, heads=[{"name": "temporal"}])
    with pytest.raises(ValueError, match="needs 'link'"):
        MOSAICVI(m, heads=[{"name": "crossgraph", "space": "link"}])
    with pytest.raises(ValueError, match="spatial_connectivities"):
        MOSAICVI(m, heads=[{"name": "graph"}])
    with pytest.raises(ValueError, match="modality 'atac' is not registered"):
        MOSAICVI(m, heads=[{"name": "bridge", "source": "rna", "target": "atac"}])
    with pytest.raises(ValueError, match="balance_by"):
        MOSAICVI(m).train(max_epochs=1, balance_by="study")


def test_every_head_trains_in_mosaicvi():
    m = _toy_mosaic()
    rng = np.random.default_rng(0)
    m.obs["t"] = np.linspace(0, 1, m.n_obs)
    m.obsm["spatial"] = rng.uniform(size=(m.n_obs, 2))
    remadom.data.spatial_graph(m, n_neighs=4)
    m.obsm["X_link"] = rng.normal(size=(m.n_obs, 5)).astype(np.float32)
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch", time_key="t", link_key="X_link")
    heads = [{"name": "mmd", "group_by": "batch"}, {"name": "sinkhorn"}, {"name": "gw"},
             {"name": "crossgraph"}, {"name": "graph"}, {"name": "temporal"},
             {"name": "bridge", "source": "rna", "target": "adt"}]
    scvi.settings.seed = 0
    model = MOSAICVI(m, heads=heads, n_latent=4, n_hidden=16)
    model.train(max_epochs=2, batch_size=30, enable_progress_bar=False)
    assert np.isfinite(model.get_latent_representation()).all()
    logged = {k for k in model.history if k.startswith("head_")}
    assert len(logged) == len(heads), logged
    assert model.module.bank.abs().sum() > 0  # refreshed by the LatentBank callback


class _NaNGradientHead(remadom.heads.AlignmentHead):
    """Finite loss (0) whose gradient is NaN: d sqrt(x) / dx at x = 0 times 0."""

    name = "nan_gradient"

    def loss(self, z, groups, **context):
        return torch.sqrt((z - z.detach()).pow(2).sum())


def test_non_finite_gradient_stops_training_with_a_clear_error():
    from remadom.train import NonFiniteLossError

    m = _toy_mosaic()
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(m, heads=[_NaNGradientHead(weight=1.0)], n_latent=4, n_hidden=16)
    with pytest.raises(NonFiniteLossError, match="non-finite gradient of"):
        model.train(max_epochs=1, batch_size=30, enable_progress_bar=False)


def test_gw_converges_silently_and_reports_non_convergence_once():
    import warnings

    torch.manual_seed(0)
    z = torch.randn(128, 8)
    groups = torch.arange(128) % 2
    head = GWHead()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(3):
            assert torch.isfinite(head.loss(z, groups))
    assert not rec and head.n_solves == 3 and head.n_unconverged == 0
    short = GWHead(sinkhorn_max_iter=2)  # too few Sinkhorn iterations: one warning for all steps
    with pytest.warns(RuntimeWarning, match="did not converge") as rec:
        for _ in range(3):
            assert torch.isfinite(short.loss(z, groups))
    assert len([w for w in rec if "converge" in str(w.message)]) == 1
    assert short.n_unconverged == short.n_solves == 3
    with pytest.raises(ValueError, match="sinkhorn_rtol"):
        GWHead(sinkhorn_rtol=0)
