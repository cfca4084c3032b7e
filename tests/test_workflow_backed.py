"""``remadom fit`` with ``data.backed: true``: the input .h5mu opened with ``backed="r"``.

The runs use cuts of real files of ../shared/data (the PBMC RNA + ADT mosaic for MOSAICVI, the
lymph-node ADT counts for URMF) written to ``tmp_path``, and skip when the data are absent. The
input file must be byte-for-byte the same after the run, the outputs must land in the run
directory only, and the latent must be finite. The combinations that cannot be backed fail at
validation with the key, the model or source, and the fix.
"""

import hashlib
import json

import mudata as md
import numpy as np
import pytest
import yaml

from remadom.cli import main
from remadom.workflow import ConfigError, load_data, parse_config

from ._shared import shared_file

md.set_options(pull_on_update=False)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pbmc_file(tmp_path_factory):
    """Every second cell of the real PBMC mosaic (800 cells; RNA-only, ADT-only and paired)."""
    m = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    m = m[np.arange(0, m.n_obs, 2)].copy()
    path = tmp_path_factory.mktemp("input") / "pbmc.h5mu"
    m.write_h5mu(path)
    return path


@pytest.fixture(scope="module")
def lymph_file(tmp_path_factory):
    """The first 1200 spots with an ADT count of the real lymph-node section (ADT counts)."""
    m = md.read_h5mu(shared_file("lymph_node_s1.h5mu"))
    keep = np.flatnonzero(np.asarray(m["prot"].X.sum(1)).ravel() > 0)[:1200]
    m = m[keep].copy()
    path = tmp_path_factory.mktemp("input") / "lymph_node.h5mu"
    m.write_h5mu(path)
    return path


def _fit(tmp_path, doc, capsys) -> dict:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    assert main(["fit", str(cfg), "--no-progress"]) == 0, capsys.readouterr().err[-3000:]
    return json.loads(capsys.readouterr().out)


@pytest.mark.shared_data
def test_fit_backed_mosaicvi(tmp_path, pbmc_file, capsys):
    before = _sha256(pbmc_file)
    siblings = sorted(p.name for p in pbmc_file.parent.iterdir())
    run = tmp_path / "run"
    doc = {
        "model": "mosaicvi",
        "data": {"path": str(pbmc_file), "backed": True},
        "setup": {"modalities": ["rna", "adt"], "batch_key": "batch"},
        "model_kwargs": {"n_latent": 8, "n_hidden": 32},
        "train": {"max_epochs": 2, "batch_size": 128},
        "outputs": {
            "dir": str(run),
            "labels_key": "celltype",
            "cluster": {"method": "kmeans", "n_clusters": 8},
            "visualization": {"method": "pca"},
        },
    }
    from anndata.abc import CSRDataset

    loaded = load_data(parse_config(doc))  # what the pipeline trains on: .X on disk
    assert loaded.isbacked and all(isinstance(loaded[m].X, CSRDataset) for m in ("rna", "adt"))
    result = _fit(tmp_path, doc, capsys)
    assert _sha256(pbmc_file) == before  # opened read-only: not a byte changed
    assert sorted(p.name for p in pbmc_file.parent.iterdir()) == siblings  # nothing beside it
    res = md.read_h5mu(run / "result.h5mu")
    z = res.obsm["X_mosaicvi"]
    assert z.shape == (800, 8) and np.isfinite(z).all()
    assert res.obs["domain"].nunique() == result["n_clusters"] == 8
    assert 0 <= result["ari"] <= 1
    # the count matrices stay in the input file; the result holds everything else
    assert all(res[m].X is None for m in ("rna", "adt"))
    mem = md.read_h5mu(pbmc_file)
    assert res["rna"].shape == mem["rna"].shape == (600, 500)
    assert (res.obs_names == mem.obs_names).all() and res.obs["celltype"].equals(
        mem.obs["celltype"]
    )
    for f in ("images/latent.png", "images/loss.png", "checkpoints/last.ckpt", "model/model.pt"):
        assert (run / f).is_file(), f
    # the saved model loads onto the input opened backed again and gives the written latent
    from remadom.model import MOSAICVI

    again = md.read_h5mu(pbmc_file, backed="r")
    model = MOSAICVI.load(str(run / "model"), adata=again)
    np.testing.assert_allclose(model.get_latent_representation(), z, atol=1e-6)
    assert isinstance(again["rna"].X, CSRDataset)
    assert _sha256(pbmc_file) == before


def _tree_sha256(folder) -> dict:
    return {str(p.relative_to(folder)): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.shared_data
def test_fit_backed_mosaicvi_from_a_zarr_store(tmp_path, pbmc_file, capsys):
    """A MuData .zarr store with data.backed: .X stays in the store (read_zarr_lazy), the store
    is unchanged after the run, and the latent is that of the same cells in memory."""
    from anndata.abc import CSRDataset

    store = tmp_path / "pbmc.zarr"
    md.read_h5mu(pbmc_file).write_zarr(store)
    before = _tree_sha256(store)
    run = tmp_path / "run"
    doc = {
        "model": "mosaicvi",
        "data": {"path": str(store), "backed": True},
        "setup": {"modalities": ["rna", "adt"], "batch_key": "batch"},
        "model_kwargs": {"n_latent": 8, "n_hidden": 32},
        "train": {"max_epochs": 2, "batch_size": 128},
        "outputs": {"dir": str(run), "visualization": {"method": "pca"}},
    }
    loaded = load_data(parse_config(doc))
    assert all(isinstance(loaded[m].X, CSRDataset) for m in ("rna", "adt"))  # in the store
    assert loaded.n_obs == 800 and set(loaded.mod) == {"rna", "adt"}
    in_memory = load_data(parse_config({**doc, "data": {"path": str(store)}}))
    assert hasattr(in_memory["rna"].X, "toarray")  # without data.backed the store is read whole
    _fit(tmp_path, doc, capsys)
    assert _tree_sha256(store) == before
    res = md.read_h5mu(run / "result.h5mu")
    z = res.obsm["X_mosaicvi"]
    assert z.shape == (800, 8) and np.isfinite(z).all()
    assert res["rna"].X is None  # the counts stay in the store


@pytest.mark.shared_data
def test_fit_backed_urmf_derived_inputs_in_the_run_directory(tmp_path, lymph_file, capsys):
    """URMF on the counts in .X: its graph propagations are written to <run>/store/, not next to
    the user's file (whose folder may be read-only)."""
    before = _sha256(lymph_file)
    run = tmp_path / "run"
    doc = {
        "model": "urmf",
        "data": {"path": str(lymph_file), "backed": True},
        "setup": {"modalities": ["prot"]},
        "model_kwargs": {"n_latent": 8, "n_hidden": 32},
        "train": {"max_epochs": 2},
        "outputs": {
            "dir": str(run),
            "labels_key": "final_annot",
            "cluster": {"method": "kmeans", "n_clusters": 10},
            "visualization": {"method": "pca"},
        },
    }
    result = _fit(tmp_path, doc, capsys)
    assert _sha256(lymph_file) == before
    assert not (lymph_file.parent / f"{lymph_file.name}.remadom").exists()
    assert (run / "store" / "urmf_prot_input.h5").is_file()
    res = md.read_h5mu(run / "result.h5mu")
    z = res.obsm["X_urmf"]
    assert z.shape == (1200, 8) and np.isfinite(z).all()
    assert res["prot"].X is None and "spatial_connectivities" in res.obsp
    assert np.isfinite(result["morans_i"]) and (run / "images" / "domains.png").is_file()


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (
            "stereomm",
            {"path": "d.h5mu"},
            r"'data.backed': stereomm cannot train on backed data.*"
            r"remove data.backed, or use one of mosaicvi, priorvi, urmf",
        ),
        ("morphovi", {"path": "d.h5mu"}, r"'data.backed': morphovi cannot train on backed data"),
        (
            "mosaicvi",
            {"dataset": "her2st_b1"},
            r"'data.backed' needs an .h5mu file at data.path, "
            r"but data.dataset 'her2st_b1' is a bundled data set.*set data.path to it",
        ),
        (
            "urmf",
            {"path": "d.h5ad"},
            r"data.path 'd.h5ad' is neither; convert it once, e.g. "
            r"mudata.MuData\(\{'rna': anndata.read_h5ad\('d.h5ad'\)\}\).write_h5mu",
        ),
        ("morphovi", {"csv_a": "a.csv", "csv_b": "b.csv"}, r"but the CSV layout"),
        (
            "urmf",
            {"path": "d.h5mu", "preprocess": {"rna": "rna"}},
            r"'data.preprocess' \(rna\) "
            r"reads the whole matrix into memory.*setup.layers",
        ),
        (
            "priorvi",
            {"path": "d.h5mu", "min_counts": 5},
            r"'data.min_counts' subsets the cells in "
            r"memory.*set min_counts: 0",
        ),
    ],
)
def test_backed_combinations_that_need_memory_are_config_errors(model, data, message):
    doc = {"model": model, "data": {**data, "backed": True}, "setup": {"modalities": ["rna"]}}
    if model in ("stereomm", "morphovi"):
        doc.pop("setup")
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)
    parse_config({**doc, "data": data})  # the same file in memory is valid


def test_backed_error_from_the_command_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: stereomm\ndata: {path: d.h5mu, backed: true}\n")
    assert main(["fit", str(cfg), "--check"]) == 2
    assert "'data.backed': stereomm cannot train on backed data" in capsys.readouterr().err
    assert (
        parse_config(
            {"model": "urmf", "data": {"path": "d.h5mu"}, "setup": {"modalities": ["rna"]}}
        ).data.backed
        is False
    )
