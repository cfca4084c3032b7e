"""posterior_predictive_sample, scvi.criticism.PosteriorPredictiveCheck and differential_expression
on small real data: the bundled lymph node ADT counts (URMF) and the MIDAS PBMC mosaic (MOSAICVI,
PRIORVI; skipped with a reason when ../shared/data is absent)."""

import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scvi
import sparse
from scvi.criticism import PosteriorPredictiveCheck

import remadom
from remadom.model import MOSAICVI, PRIORVI, URMF

from ._shared import shared_file

md.set_options(pull_on_update=False)


def _dense(x):
    return np.asarray(x.toarray() if sp.issparse(x) else x)


def _dense_any(x):
    return np.asarray(x.todense() if hasattr(x, "todense") else x)


def _check_counts(x, shape):
    """A GCXS of float32 non-negative integers of the given shape; returns it dense."""
    assert isinstance(x, sparse.GCXS)
    assert x.shape == shape and x.dtype == np.float32
    d = x.todense()
    assert np.isfinite(d).all() and (d >= 0).all()
    np.testing.assert_array_equal(d, np.round(d))
    return d


def _int_layer(adata):
    """An integer copy of .X for PosteriorPredictiveCheck (scvi-tools 1.4.2 cannot test a sparse
    float32 matrix for integers)."""
    adata.layers["counts"] = sp.csr_matrix(_dense(adata.X).astype(np.int64))


def _check_ppc(ppc, n_cells, n_vars):
    ppc.coefficient_of_variation("cells")
    ppc.coefficient_of_variation("features")
    ppc.calibration_error()
    cv_gene, cv_cell = ppc.metrics["cv_gene"], ppc.metrics["cv_cell"]
    assert cv_gene.shape == (n_vars, 2) and cv_cell.shape == (n_cells, 2)
    cal = float(ppc.metrics["calibration"].loc["features", "model1"])
    assert np.isfinite(cal) and 0 <= cal < 1, cal
    return cv_gene, cv_cell, cal


# --------------------------------------------------------------------------- URMF, lymph node
@pytest.fixture(scope="module")
def urmf_ln():
    m = remadom.datasets.lymph_node_s1()
    lib = _dense(m["prot"].X).sum(1)
    m = m[lib > 0].copy()  # one spot has no ADT count; an NB modality refuses it
    remadom.data.spatial_graph(m, n_neighs=6)
    scvi.settings.seed = 0
    URMF.setup_mudata(m, modalities=["prot"], likelihoods={"prot": "nb"})
    model = URMF(m)
    model.train(max_epochs=2, enable_progress_bar=False)
    return m, model


def test_urmf_posterior_predictive_sample_lymph_node(urmf_ln):
    m, model = urmf_ln
    n, p = m.n_obs, m["prot"].n_vars
    one = _check_counts(model.posterior_predictive_sample(modality="prot"), (n, p))
    ten = _check_counts(
        model.posterior_predictive_sample(modality="prot", n_samples=10), (n, p, 10)
    )
    # conditioned on each spot's library: sampled totals follow the observed ones (the NB is
    # wide after 2 epochs, inverse dispersion ~1: r = 0.76 for one draw, 0.96 for 10 here)
    lib = _dense(m["prot"].X).sum(1)
    assert np.corrcoef(np.log1p(one.sum(1)), np.log1p(lib))[0, 1] > 0.6
    assert np.corrcoef(np.log1p(ten.mean(2).sum(1)), np.log1p(lib))[0, 1] > 0.9
    # indices keep their order, gene_list keeps the modality's order
    genes = list(m["prot"].var_names[[7, 2]])
    sub = model.posterior_predictive_sample(
        indices=[5, 0, 9], gene_list=genes, modality="prot", n_samples=2
    )
    _check_counts(sub, (3, 2, 2))
    # modality=None: a dict over the count modalities (what PosteriorPredictiveCheck reads)
    d = model.posterior_predictive_sample(indices=[0, 1])
    assert set(d) == {"prot"} and d["prot"].shape == (2, p)
    with pytest.raises(ValueError, match="not registered"):
        model.posterior_predictive_sample(modality="rna")
    with pytest.raises(ValueError, match="gene_list"):
        model.posterior_predictive_sample(modality="prot", gene_list=["not_a_protein"])
    with pytest.raises(ValueError, match="n_samples"):
        model.posterior_predictive_sample(modality="prot", n_samples=0)


def test_urmf_posterior_predictive_check_lymph_node(urmf_ln):
    m, model = urmf_ln
    _int_layer(m["prot"])
    rows = np.arange(0, m.n_obs, 4)
    ppc = PosteriorPredictiveCheck(
        m, {"model1": model}, modality="prot", n_samples=3, count_layer_key="counts", indices=rows
    )
    cv_gene, _, _ = _check_ppc(ppc, len(rows), m["prot"].n_vars)
    assert np.isfinite(cv_gene.to_numpy()).all()
    # the samples the check holds follow the data protein by protein (Spearman of the means
    # 0.995 here; the CVs are wider than the data's after 2 epochs, inverse dispersion ~1)
    ds = ppc.samples_dataset
    model_mean = _dense_any(ds["model1"].data).mean((0, 2))
    raw_mean = _dense_any(ds["Raw"].data).mean(0)
    assert pd.Series(model_mean).corr(pd.Series(raw_mean), method="spearman") > 0.9


def test_urmf_posterior_predictive_refuses_gaussian_modality():
    m = remadom.datasets.lymph_node_s1()
    remadom.data.spatial_graph(m, n_neighs=6)
    URMF.setup_mudata(
        m, modalities=["prot"], likelihoods={"prot": "gaussian"}, use_feature_graph=False
    )
    model = URMF(m)
    with pytest.raises(
        ValueError, match=r"'prot' has likelihood 'gaussian'.*likelihoods=\{'prot': 'nb'\}"
    ):
        model.posterior_predictive_sample(modality="prot")
    with pytest.raises(ValueError, match="no registered modality has a count likelihood"):
        model.posterior_predictive_sample()


# --------------------------------------------------------------------------- MOSAICVI, PBMC mosaic
def _pbmc():
    full = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    m = md.MuData({"rna": full["rna"].copy(), "adt": full["adt"].copy()})
    m.obs = full.obs[["batch", "celltype"]].reindex(m.obs_names)
    return m


@pytest.fixture(scope="module")
def mosaic_pbmc():
    """MOSAICVI on the MIDAS PBMC mosaic (RNA-only, ADT-only and paired batches), 10 epochs:
    about 4 s here, the shortest run whose monocyte-vs-B DE found the monocyte markers in 3 of 3
    seeds (3 epochs did in none)."""
    m = _pbmc()
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(m, n_hidden=64)
    model.train(max_epochs=10, enable_progress_bar=False, plan_kwargs={"lr": 3e-3})
    return m, model


def test_mosaicvi_posterior_predictive_sample_pbmc(mosaic_pbmc):
    m, model = mosaic_pbmc
    idx = np.arange(0, m.n_obs, 20)  # RNA-only, ADT-only and paired cells
    x = _check_counts(
        model.posterior_predictive_sample(indices=idx, n_samples=10, modality="rna"),
        (len(idx), 500, 10),
    )
    has_rna = m.obs_names[idx].isin(m["rna"].obs_names)
    assert has_rna.any() and (~has_rna).any()
    lib = _dense(m["rna"][m.obs_names[idx][has_rna]].X).sum(1)
    # sampled totals follow the observed library (r = 0.65 for 2 draws per cell after 10 epochs)
    assert np.corrcoef(np.log1p(x[has_rna].mean(2).sum(1)), np.log1p(lib))[0, 1] > 0.8
    d = model.posterior_predictive_sample(indices=idx[:4])
    assert set(d) == {"rna", "adt"} and d["adt"].shape == (4, 224)
    sub = model.posterior_predictive_sample(
        indices=idx[:4], gene_list=["S100A9", "PPBP"], modality="rna"
    )
    assert sub.shape == (4, 2)  # in var order: PPBP, S100A9
    with pytest.raises(ValueError, match="gene_list= needs modality="):
        model.posterior_predictive_sample(gene_list=["S100A9"])


def test_mosaicvi_posterior_predictive_check_pbmc(mosaic_pbmc):
    m, model = mosaic_pbmc
    _int_layer(m["rna"])
    rows = np.flatnonzero(m.obs_names.isin(m["rna"].obs_names))[::2]  # cells that have RNA
    ppc = PosteriorPredictiveCheck(
        m, {"model1": model}, modality="rna", n_samples=3, indices=rows, count_layer_key="counts"
    )
    cv_gene, cv_cell, cal = _check_ppc(ppc, len(rows), 500)
    assert np.isfinite(cv_cell.to_numpy()).all()
    ok = np.isfinite(cv_gene.to_numpy()).all(1)
    assert ok.mean() > 0.95  # a gene never sampled above 0 in a draw has an undefined CV
    rho = cv_gene[ok]["model1"].corr(cv_gene[ok]["Raw"], method="spearman")
    assert rho > 0.3, rho


DE_VANILLA = [
    "proba_m1",
    "proba_m2",
    "bayes_factor",
    "scale1",
    "scale2",
    "raw_mean1",
    "non_zeros_proportion1",
    "raw_normalized_mean1",
    "raw_mean2",
    "non_zeros_proportion2",
    "raw_normalized_mean2",
    "comparison",
    "group1",
    "group2",
]
DE_CHANGE = [
    "proba_de",
    "proba_not_de",
    "bayes_factor",
    "scale1",
    "scale2",
    "pseudocounts",
    "delta",
    "lfc_mean",
    "lfc_median",
    "lfc_std",
    "lfc_min",
    "lfc_max",
    "raw_mean1",
    "non_zeros_proportion1",
    "raw_normalized_mean1",
    "raw_mean2",
    "non_zeros_proportion2",
    "raw_normalized_mean2",
    "is_de_fdr_0.05",
    "comparison",
    "group1",
    "group2",
]


def test_mosaicvi_differential_expression_monocytes_vs_b_cells(mosaic_pbmc):
    """Monocytes vs B cells of the PBMC mosaic's RNA: the monocyte alarmins S100A8/S100A9 (raw
    normalised means ~100x those of the B cells here) lead the list."""
    m, model = mosaic_pbmc
    before = (list(m.obs.columns), set(m.obsm), set(m["rna"].obs.columns))
    scvi.settings.seed = 0
    de = model.differential_expression(groupby="celltype", group1="Mono", group2="B", silent=True)
    assert list(de.columns) == DE_VANILLA
    assert len(de) == 500 and set(de.index) == set(m["rna"].var_names)
    assert (de["comparison"] == "Mono vs B").all()
    assert np.isfinite(de[["bayes_factor", "scale1", "scale2"]].to_numpy()).all()
    assert de["bayes_factor"].is_monotonic_decreasing
    top = list(de.index[:10])
    assert "S100A8" in top and "S100A9" in top, top
    # raw statistics over the cells that have RNA
    mono = m["rna"].obs["celltype"] == "Mono"
    np.testing.assert_allclose(
        de.loc["S100A9", "raw_mean1"],
        _dense(m["rna"][mono].X)[:, m["rna"].var_names.get_loc("S100A9")].mean(),
        rtol=1e-6,
    )
    # "change" mode: the layout. (Its lfc needs a longer run: after 10 epochs the S100A9
    # lfc_mean is 0.1-0.6 over 3 seeds; 20 epochs of the 128-wide model gave 1.8.)
    chg = model.differential_expression(
        groupby="celltype",
        group1="Mono",
        group2="B",
        mode="change",
        silent=True,
        n_samples_overall=2000,
    )
    assert list(chg.columns) == DE_CHANGE and len(chg) == 500
    assert np.isfinite(chg[["lfc_mean", "lfc_std", "proba_de", "pseudocounts"]].to_numpy()).all()
    assert chg["proba_de"].is_monotonic_decreasing and chg["is_de_fdr_0.05"].dtype == bool
    # idx1/idx2 (a mask and a query) in the other direction
    rev = model.differential_expression(
        idx1=(m.obs["celltype"] == "B").to_numpy(),
        idx2="celltype == 'Mono'",
        silent=True,
        n_samples_overall=2000,
    )
    assert "comparison" not in rev.columns and len(rev) == 500
    assert rev.loc["S100A9", "bayes_factor"] < 0 and rev.loc["S100A8", "bayes_factor"] < 0
    # one vs rest for two groups: one block of rows per group
    ovr = model.differential_expression(
        groupby="celltype", group1=["Mono", "B"], silent=True, n_samples_overall=2000
    )
    assert len(ovr) == 1000 and set(ovr["comparison"]) == {"Mono vs Rest", "B vs Rest"}
    assert before == (list(m.obs.columns), set(m.obsm), set(m["rna"].obs.columns))


def test_mosaicvi_differential_expression_errors(mosaic_pbmc):
    m, model = mosaic_pbmc
    with pytest.raises(ValueError, match="mode must be"):
        model.differential_expression(groupby="celltype", mode="t-test")
    with pytest.raises(ValueError, match="pass groupby="):
        model.differential_expression()
    with pytest.raises(ValueError, match="'cell_type' is not a column"):
        model.differential_expression(groupby="cell_type")
    with pytest.raises(ValueError, match=r"\['Platelet'\] not among"):
        model.differential_expression(groupby="celltype", group1="Platelet")
    # ADT-only cells have no RNA: with observed_only (default) the set is empty
    adt_only = (m.obs["batch"] == "p2_0").to_numpy()
    with pytest.raises(ValueError, match="no cell with modality 'rna'"):
        model.differential_expression(idx1=adt_only, silent=True)
    with pytest.raises(
        ValueError, match=r"several count modalities \['adt', 'hto'\]; pass modality="
    ):
        MOSAICVI._expression_modality(_TwoCounts(), None, "differential_expression")


class _TwoCounts:
    """Stand-in with two count modalities, neither named like RNA (no default can be chosen)."""

    modalities = ["adt", "hto"]

    class module:  # noqa: N801
        likelihoods = {"adt": "nb", "hto": "nb"}

    _count_modalities = MOSAICVI._count_modalities


def test_mosaicvi_get_normalized_expression_scvi_arguments(mosaic_pbmc):
    m, model = mosaic_pbmc
    idx = [3, 1, 1500]
    ne = model.get_normalized_expression(indices=idx)  # default modality: the RNA
    assert isinstance(ne, pd.DataFrame) and ne.shape == (3, 500)
    assert list(ne.index) == list(m.obs_names[idx]) and list(ne.columns) == list(m["rna"].var_names)
    np.testing.assert_allclose(ne.sum(1), 1.0, rtol=1e-4)
    sub = model.get_normalized_expression(
        adata=m, indices=idx, gene_list=["S100A9", "PPBP"], library_size=1e4
    )
    assert list(sub.columns) == ["PPBP", "S100A9"]
    draws = model.get_normalized_expression(indices=idx, n_samples=4, return_mean=False)
    assert (
        isinstance(draws, np.ndarray) and draws.shape == (4, 3, 500) and draws.dtype == np.float32
    )
    overall = model.get_normalized_expression(indices=idx, n_samples_overall=7, return_numpy=True)
    assert overall.shape == (7, 500) and np.isfinite(overall).all()
    adt = model.get_normalized_expression(indices=idx, modality="adt", return_numpy=True)
    assert adt.shape == (3, 224)
    with pytest.warns(DeprecationWarning, match="modality="):
        old = model.get_normalized_expression("rna", indices=idx)
    assert old.shape == (3, 500)
    with pytest.raises(ValueError, match="n_samples_overall"):
        model.get_normalized_expression(n_samples=2, n_samples_overall=5)
    with pytest.raises(ValueError, match="is not a batch"):
        model.get_normalized_expression(indices=idx, transform_batch="p9_9")


def test_priorvi_posterior_predictive_sample_pbmc():
    m = _pbmc()
    scvi.settings.seed = 0
    PRIORVI.setup_mudata(m, modalities=["rna", "adt"], batch_key="batch")
    model = PRIORVI(m, n_hidden=64, n_components=4)
    model.train(max_epochs=2, enable_progress_bar=False)
    idx = np.flatnonzero(m.obs_names.isin(m["rna"].obs_names))[::10]
    x = _check_counts(
        model.posterior_predictive_sample(indices=idx, n_samples=2, modality="rna"),
        (len(idx), 500, 2),
    )
    lib = _dense(m["rna"][m.obs_names[idx]].X).sum(1)
    assert np.corrcoef(np.log1p(x.mean(2).sum(1)), np.log1p(lib))[0, 1] > 0.8
    d = model.posterior_predictive_sample(indices=idx[:3])
    assert set(d) == {"rna", "adt"}  # the learned-prior model samples both count modalities
    # differential_expression is inherited from MOSAICVI: same layout on PRIORVI
    de = model.differential_expression(
        groupby="celltype", group1="Mono", group2="B", silent=True, n_samples_overall=1000
    )
    assert list(de.columns) == DE_VANILLA and len(de) == 500
    assert np.isfinite(de["bayes_factor"].to_numpy()).all()
