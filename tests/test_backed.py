"""Out-of-core training: a MuData opened with ``read_h5mu(path, backed="r")`` (real data).

The real PBMC mosaic of ../shared/data is written to ``tmp_path`` as ``.h5mu`` and opened backed;
MOSAICVI and PRIORVI train on it with the modalities' ``.X`` left on disk. scvi-tools'
:class:`~scvi.data.AnnTorchDataset` sorts the cells of each minibatch when the data are backed
(h5py reads need increasing indices), so the per-cell random draws (reparametrisation noise,
dropout, subset draws) fall on other cells than in memory; the in-memory reference is therefore
trained with the same within-minibatch order, and must then give the same latent.
"""

import anndata as ad
import h5py
import mudata as md
import numpy as np
import pytest
import scipy.sparse as sp
import scvi
from anndata.abc import CSRDataset
from scvi.data import AnnTorchDataset

from remadom.data import (
    BackedRows,
    check_not_backed,
    close_store,
    get_matrix,
    new_store,
    pad_rows,
    read_zarr_lazy,
    set_store_dir,
    write_store,
)
from remadom.model import MORPHOVI, MOSAICVI, PRIORVI, STEREOMM, URMF

from ._shared import shared_file

pytestmark = pytest.mark.shared_data
md.set_options(pull_on_update=False)


@pytest.fixture(scope="module")
def pbmc_file(tmp_path_factory):
    """The real PBMC RNA + ADT mosaic (1600 cells, 3 modality sets) written uncompressed."""
    m = md.read_h5mu(shared_file("midas_pbmc_mosaic.h5mu"))
    path = tmp_path_factory.mktemp("backed") / "pbmc_mosaic.h5mu"
    m.write_h5mu(path)
    return path


def _sorted_minibatches(monkeypatch):
    """Read in-memory minibatches in increasing cell order, as scvi-tools does for backed data."""
    orig = AnnTorchDataset.__getitem__

    def getitem(self, indexes):
        if isinstance(indexes, list | np.ndarray):
            indexes = np.sort(indexes)
        return orig(self, indexes)

    monkeypatch.setattr(AnnTorchDataset, "__getitem__", getitem)


def _train(cls, mdata, **setup):
    scvi.settings.seed = 0
    cls.setup_mudata(mdata, modalities=["rna", "adt"], batch_key="batch", **setup)
    model = cls(mdata, n_latent=10, n_hidden=64)
    model.train(max_epochs=2, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    return model, model.get_latent_representation()


def test_backed_rows_read_the_same_values_as_memory(pbmc_file):
    """Padded mosaic rows read from disk equal the in-memory padded rows (any index order)."""
    mem = md.read_h5mu(pbmc_file)
    disk = md.read_h5mu(pbmc_file, backed="r")
    pos = mem.obs_names.get_indexer(mem["rna"].obs_names)
    want = pad_rows(mem["rna"].X, pos, mem.n_obs)
    x, _, _ = get_matrix(disk["rna"], None)
    assert isinstance(x, BackedRows) and x.shape == mem["rna"].shape
    np.testing.assert_array_equal(x.toarray(), mem["rna"].X.toarray())
    got = pad_rows(x, pos, disk.n_obs)
    assert isinstance(got, CSRDataset) and got.shape == (1600, 500)
    idx = np.random.default_rng(0).choice(1600, 300)  # unsorted, with repeats
    assert (got[idx] != want[idx]).nnz == 0
    assert (got[10:400] != want[10:400]).nnz == 0
    np.testing.assert_allclose(
        np.asarray(got.sum(1)).ravel(), np.asarray(want.sum(1)).ravel(), rtol=1e-6
    )
    assert got.max() == want.max()
    with pytest.raises(TypeError, match="load the whole"):
        np.asarray(got)


def test_mosaicvi_backed_same_latent_x_stays_on_disk(pbmc_file, monkeypatch, tmp_path):
    disk = md.read_h5mu(pbmc_file, backed="r")
    model, z_disk = _train(MOSAICVI, disk)
    # the count matrices were never loaded: still on-disk datasets, and the model reads views
    assert all(isinstance(disk[m].X, CSRDataset) for m in ("rna", "adt"))
    assert isinstance(model.adata_manager.get_from_registry("rna"), BackedRows)
    # save, then load onto the file opened again: setup is replayed on disk, same latent
    model.save(tmp_path / "model")
    again = md.read_h5mu(pbmc_file, backed="r")
    loaded = MOSAICVI.load(tmp_path / "model", adata=again)
    np.testing.assert_array_equal(loaded.get_latent_representation(), z_disk)
    assert isinstance(again["rna"].X, CSRDataset)
    _sorted_minibatches(monkeypatch)
    _, z_mem = _train(MOSAICVI, md.read_h5mu(pbmc_file))
    assert z_disk.shape == (1600, 10) and np.isfinite(z_disk).all()
    np.testing.assert_allclose(z_disk, z_mem, atol=1e-5)


def test_priorvi_backed_same_latent(pbmc_file, monkeypatch):
    disk = md.read_h5mu(pbmc_file, backed="r")
    _, z_disk = _train(PRIORVI, disk)
    assert all(isinstance(disk[m].X, CSRDataset) for m in ("rna", "adt"))
    _sorted_minibatches(monkeypatch)
    _, z_mem = _train(PRIORVI, md.read_h5mu(pbmc_file))
    np.testing.assert_allclose(z_disk, z_mem, atol=1e-5)


def test_backed_bad_input_is_found_and_named(tmp_path):
    """The setup checks read backed data block by block and still name modality and field."""
    rng = np.random.default_rng(0)
    x = sp.csr_matrix(rng.poisson(1.0, (50, 6)).astype(np.float32))
    x[3, 2] = 0.5
    a = ad.AnnData(x)
    a.obs_names = [f"c{i}" for i in range(50)]
    md.MuData({"rna": a}).write_h5mu(tmp_path / "bad.h5mu")
    m = md.read_h5mu(tmp_path / "bad.h5mu", backed="r")
    with pytest.raises(ValueError, match=r"modality 'rna', \.X: non-integer values"):
        MOSAICVI.setup_mudata(m, modalities=["rna"], likelihoods={"rna": "nb"})
    assert "_mosaicvi_mask" not in m.obsm and isinstance(m["rna"].X, CSRDataset)
    with pytest.raises(
        ValueError, match=r"STEREOMM cannot train on backed data: modality 'rna', \.X"
    ):
        check_not_backed(m, "STEREOMM")


def test_models_that_need_memory_refuse_backed_data(pbmc_file):
    disk = md.read_h5mu(pbmc_file, backed="r")
    with pytest.raises(
        ValueError, match=r"STEREOMM cannot train on backed data: modality 'rna', \.X .*read_h5mu"
    ):
        STEREOMM.setup_mudata(disk, modalities=["rna"])
    with pytest.raises(
        ValueError, match=r"MORPHOVI cannot train on backed data: modality 'rna', \.X"
    ):
        MORPHOVI.setup_mudata(disk, modality_a="adt", modality_b="rna")
    assert not [k for k in disk.obsm if k.startswith("_")]


def test_write_store_for_derived_inputs(tmp_path):
    """Derived inputs of backed data go to an on-disk store next to the file (or a set folder)."""
    a = ad.AnnData(sp.csr_matrix(np.eye(40, 5, dtype=np.float32)))
    a.write_h5ad(tmp_path / "d.h5ad")
    disk = ad.read_h5ad(tmp_path / "d.h5ad", backed="r")
    values = np.random.default_rng(0).normal(size=(40, 7)).astype(np.float32)
    assert write_store(values, ad.AnnData(np.zeros((40, 1))), "x") is values  # in memory: as is
    ds = write_store(values, disk, "urmf_rna_input", block_rows=16)
    assert isinstance(ds, h5py.Dataset) and ds.file.filename == str(
        tmp_path / "d.h5ad.remadom" / "urmf_rna_input.h5"
    )
    np.testing.assert_array_equal(ds[:], values)
    set_store_dir(tmp_path / "elsewhere")
    try:
        assert write_store(values, disk, "y").file.filename.startswith(str(tmp_path / "elsewhere"))
    finally:
        set_store_dir(None)
    # filled by column blocks: a temporary file until close_store, then the store, read-only
    store = new_store(disk, "urmf_adt_input", values.shape)
    for a in range(0, 7, 3):
        store[:, a : a + 3] = values[:, a : a + 3]
    assert store.file.filename.endswith(".tmp")
    ds = close_store(store)
    assert ds.file.filename == str(tmp_path / "d.h5ad.remadom" / "urmf_adt_input.h5")
    assert ds.file.mode == "r" and not list((tmp_path / "d.h5ad.remadom").glob("*.tmp"))
    np.testing.assert_array_equal(ds[:], values)
    mem = new_store(ad.AnnData(np.zeros((40, 1))), "x", (40, 7))  # in memory: an array
    assert isinstance(mem, np.ndarray) and close_store(mem) is mem


def test_backed_with_loader_workers(pbmc_file):
    """Worker processes read backed minibatches too (h5py handles inherited by the workers)."""
    disk = md.read_h5mu(pbmc_file, backed="r")
    scvi.settings.seed = 0
    MOSAICVI.setup_mudata(disk, modalities=["rna", "adt"], batch_key="batch")
    model = MOSAICVI(disk, n_latent=10, n_hidden=64)
    model.train(
        max_epochs=1,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        num_workers=2,
    )
    z = model.get_latent_representation()
    assert z.shape == (1600, 10) and np.isfinite(z).all()
    assert isinstance(disk["rna"].X, CSRDataset)


def test_mosaicvi_zarr_store_same_latent_as_memory(pbmc_file, tmp_path):
    """A zarr store opened with read_zarr_lazy: .X stays in the store, the latent is the in-memory one.

    The MuData itself is in memory (not ``isbacked``), so scvi-tools keeps the minibatch order and
    no reordering is needed for the comparison.
    """
    mem = md.read_h5mu(pbmc_file)
    mem.write_zarr(tmp_path / "pbmc.zarr")
    lazy = read_zarr_lazy(tmp_path / "pbmc.zarr")
    assert all(
        isinstance(lazy[m].X, CSRDataset) and lazy[m].X.backend == "zarr" for m in ("rna", "adt")
    )
    assert (lazy.obs_names == mem.obs_names).all() and lazy.obs.equals(mem.obs)
    _, z_lazy = _train(MOSAICVI, lazy)
    _, z_mem = _train(MOSAICVI, mem)
    assert isinstance(lazy["rna"].X, CSRDataset)
    np.testing.assert_allclose(z_lazy, z_mem, atol=1e-5)


@pytest.mark.parametrize("rep", [False, True], ids=["nb_counts", "gaussian_obsm"])
def test_urmf_backed_same_latent_inputs_in_store(tmp_path, monkeypatch, rep):
    """URMF on the real lymph-node ADT, backed: .X on disk, derived inputs in h5 stores.

    Counts (``nb``): the propagations are in the store, the count targets are read from the
    on-disk ``.X``. A CLR-PCA in ``obsm`` (``gaussian``): propagations and targets in stores,
    the propagations written 7 features at a time (``_BLOCK_BYTES`` lowered so that the blocks
    are as narrow as at 10^6 spots). The stored values are the in-memory inputs, the latent is
    the in-memory latent.
    """
    import remadom
    from remadom.model.urmf import _model as urmf_model

    m = md.read_h5mu(shared_file("lymph_node_s1.h5mu"))
    m = m[np.asarray(m["prot"].X.sum(1)).ravel() > 0].copy()  # one spot has no ADT count
    remadom.data.spatial_graph(m, n_neighs=6)
    setup = {}
    if rep:
        remadom.pp.pca_protein(m["prot"])
        assert m["prot"].obsm["X_pca"].shape[1] > 7  # several blocks of 7 features
        setup = {"layers": {"prot": "X_pca"}}
    path = tmp_path / "lymph_node.h5mu"
    m.write_h5mu(path)
    n_views = 2  # hops (1, 2)
    monkeypatch.setattr(urmf_model, "_BLOCK_BYTES", 4 * m.n_obs * (n_views + 3) * 7)

    def train(d):
        scvi.settings.seed = 0
        URMF.setup_mudata(d, modalities=["prot"], **setup)
        model = URMF(d, n_latent=10)
        model.train(
            max_epochs=2, enable_progress_bar=False, logger=False, enable_checkpointing=False
        )
        return model, model.get_latent_representation()

    disk = md.read_h5mu(path, backed="r")
    model, z_disk = train(disk)
    assert isinstance(disk["prot"].X, CSRDataset)
    keys = ["prot_input", "prot_target"] if rep else ["prot_input"]
    stored = {k: model.adata_manager.get_from_registry(k) for k in keys}
    for k, v in stored.items():
        assert isinstance(v, h5py.Dataset)
        assert v.file.filename == str(tmp_path / "lymph_node.h5mu.remadom" / f"urmf_{k}.h5")
    _sorted_minibatches(monkeypatch)
    model_mem, z_mem = train(md.read_h5mu(path))
    for k, v in stored.items():
        np.testing.assert_allclose(v[:], model_mem.adata_manager.get_from_registry(k), atol=1e-6)
    assert z_disk.shape == (m.n_obs, 10) and np.isfinite(z_disk).all()
    np.testing.assert_allclose(z_disk, z_mem, atol=1e-5)
