"""remadom.pl: scanpy's ax=/show=/save=/return_fig= on every plot, the backend left alone, the
tissue image found in ``uns["spatial"]``, and loss curves from every model's ``history``.

Plots are drawn from the bundled real data (lymph node slice A1 protein, her2st C2 with its H&E).
"""

import matplotlib
import matplotlib.pyplot as plt
import mudata as md
import numpy as np
import pytest
import scvi
from matplotlib.figure import Figure

import remadom
from remadom import pl

md.set_options(pull_on_update=False)


@pytest.fixture(scope="module")
def her2st():
    a = remadom.datasets.her2st_c2()
    a.obsm["X_latent"] = np.random.default_rng(0).normal(size=(a.n_obs, 6)).astype(np.float32)
    return a


@pytest.fixture(scope="module")
def lymph():
    m = remadom.datasets.lymph_node_s1()
    x = m["prot"].X
    x = np.log1p(np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32))
    m.obsm["X_latent"] = (x - x.mean(0)) @ np.linalg.svd(x - x.mean(0), full_matrices=False)[2][:8].T
    return m[:600].copy()


@pytest.fixture(autouse=True)
def _no_open_figures():
    yield
    plt.close("all")


def _history():
    idx = np.arange(1, 6)
    import pandas as pd

    return {"train_loss": pd.DataFrame({"train_loss": 10.0 / idx}, index=idx),
            "validation_loss": pd.DataFrame({"validation_loss": 12.0 / idx}, index=idx),
            "elbo_train": pd.DataFrame({"elbo_train": 11.0 / idx}, index=idx)}


def _calls(her2st, lymph):
    """(name, function of the plot's keyword arguments) for every plot function."""
    lib = her2st.uns["spatial"]["C2"]
    return [
        ("domains_image", lambda **kw: pl.domains(her2st, ["expr_cluster", "patient"], **kw)),
        ("domains_given_image", lambda **kw: pl.domains(
            her2st, "expr_cluster", img=lib["images"]["hires"],
            scale_factor=lib["scalefactors"]["tissue_hires_scalef"], size=40, **kw)),
        ("domains_mudata", lambda **kw: pl.domains(lymph, "final_annot", size=8, **kw)),
        ("latent_umap", lambda **kw: pl.latent_umap(lymph, "X_latent", color="final_annot", **kw)),
        ("loss_curves", lambda **kw: pl.loss_curves(_history(), **kw)),
    ]


def test_return_fig_save_show_and_backend(her2st, lymph, tmp_path, monkeypatch):
    backend = matplotlib.get_backend()
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(1))
    for name, call in _calls(her2st, lymph):
        fig = call(show=False, return_fig=True)
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert call(show=False) is None, name
        n_open = len(plt.get_fignums())
        out = tmp_path / f"{name}.png"
        assert call(save=out) is None, name  # show=None: a saved figure is not shown
        assert out.stat().st_size > 1000, name
        assert len(plt.get_fignums()) == n_open, name  # ...and closed after saving
        assert not shown, name
        assert call() is None and len(shown) == 1, name  # show=None, nothing else: shown
        shown.clear()
        assert matplotlib.get_backend() == backend, name
        plt.close("all")


def test_into_given_axes(her2st, lymph):
    fig, axes = plt.subplots(1, 3)
    assert pl.domains(her2st, "expr_cluster", ax=axes[0]) is None  # not shown: ax given
    pl.loss_curves(_history(), ax=axes[1])
    pl.latent_umap(lymph, "X_latent", color="final_annot", ax=axes[2])
    assert all(a.has_data() or a.images or a.collections for a in axes)
    assert plt.get_fignums() == [fig.number]


def test_domains_image_palette_and_na(her2st):
    fig = pl.domains(her2st, "expr_cluster", show=False, return_fig=True)
    ax = fig.axes[0]
    assert ax.images, "the H&E registered in uns['spatial'] is drawn"
    assert not pl.domains(her2st, "expr_cluster", img=False, show=False, return_fig=True).axes[0].images
    # spot colours: the colour-blind-safe palette, missing labels in grey
    lab = her2st.obs["expr_cluster"]
    assert lab.isna().any()
    faces = np.concatenate([c.get_facecolors() for c in ax.collections if len(c.get_facecolors())])
    cats = list(lab.astype("category").cat.categories)
    expected = {matplotlib.colors.to_hex(c) for c in pl.palette(len(cats))} | {pl.NA_COLOUR.lower()}
    got = {matplotlib.colors.to_hex(c) for c in faces}
    assert pl.NA_COLOUR.lower() in got and got <= expected
    assert len(set(pl.palette(17))) == 17
    assert "expr_cluster_colors" not in her2st.uns  # the data are not written to


def test_domains_errors(her2st):
    with pytest.raises(KeyError, match="not a column of obs"):
        pl.domains(her2st, "nope", show=False)
    with pytest.raises(ValueError, match="titles"):
        pl.domains(her2st, ["expr_cluster"], title=["a", "b"], show=False)
    with pytest.raises(ValueError, match="axes"):
        pl.domains(her2st, ["expr_cluster", "patient"], ax=plt.subplots()[1], show=False)


def test_latent_umap_leaves_data_alone(lymph):
    before = set(lymph.obsm) | set(lymph.obsp) | set(lymph.uns)
    fig = pl.latent_umap(lymph, "X_latent", color=["final_annot", "lab"], show=False, return_fig=True)
    assert len([a for a in fig.axes if a.collections]) == 2
    assert set(lymph.obsm) | set(lymph.obsp) | set(lymph.uns) == before
    with pytest.raises(KeyError, match="X_nope"):
        pl.latent_umap(lymph, "X_nope")


def test_loss_curves_keys_and_errors():
    fig = pl.loss_curves(_history(), show=False, return_fig=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train_loss", "validation_loss"]
    with pytest.raises(KeyError, match="logged"):
        pl.loss_curves(_history(), keys="nope", show=False)
    with pytest.raises(ValueError, match="empty"):
        pl.loss_curves({}, show=False)


def _trained_models(lymph, her2st):
    """Each of the five models, trained for a moment on small data."""
    from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF

    from .test_morphovi import _mdata
    from .test_mosaicvi import _toy_mosaic

    scvi.settings.seed = 0
    m = lymph.copy()
    m.obsm["X_pca"] = m.obsm["X_latent"]
    m["prot"].obsm["X_pca"] = m.obsm["X_latent"]
    remadom.data.spatial_graph(m, n_neighs=6)
    URMF.setup_mudata(m, modalities=["prot"], layers={"prot": "X_pca"})
    urmf = URMF(m)
    urmf.train(max_epochs=2, enable_progress_bar=False)
    yield "URMF", urmf

    st = her2st.copy()
    STEREOMM.setup_anndata(st, n_dims=16)
    stereomm = STEREOMM(st, hidden_dims=[32, 8], n_latent=4)
    stereomm.train(max_epochs=2, enable_progress_bar=False)
    yield "STEREOMM", stereomm

    mos = _toy_mosaic()
    MOSAICVI.setup_mudata(mos, modalities=["rna", "adt"], batch_key="batch")
    mosaicvi = MOSAICVI(mos, n_latent=4, n_hidden=32)
    mosaicvi.train(max_epochs=2, enable_progress_bar=False)
    yield "MOSAICVI", mosaicvi

    mos = _toy_mosaic()
    PRIORVI.setup_mudata(mos, modalities=["rna", "adt"], batch_key="batch")
    priorvi = PRIORVI(mos, n_latent=4, n_hidden=32)
    priorvi.train(max_epochs=2, enable_progress_bar=False)
    yield "PRIORVI", priorvi

    mo = _mdata()
    MORPHOVI.setup_mudata(mo, modality_a="morph", modality_b="rna", nan_policy="mask")
    morphovi = MORPHOVI(mo, n_latent=4, n_hidden=16)
    morphovi.train(max_iter=6, batch_size=32, enable_progress_bar=False)
    yield "MORPHOVI", morphovi


def test_loss_curves_every_model(lymph, her2st, tmp_path):
    for name, model in _trained_models(lymph, her2st):
        fig = pl.loss_curves(model, show=False, return_fig=True)
        lines = fig.axes[0].get_lines()
        assert lines and all(np.isfinite(ln.get_ydata()).all() for ln in lines), name
        pl.loss_curves(model.history, keys="train_loss", save=tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name
        if name == "PRIORVI":
            fig = pl.prior_posterior(model, "rna", n_samples=50, show=False, return_fig=True)
            assert len(fig.axes[0].collections) == 2
            assert pl.prior_posterior(model, "rna", n_samples=50, save=tmp_path / "p.png") is None
        plt.close("all")
