"""Spatial-tile subgraph minibatches for models with learned graph layers (GCN/GAT).

Models whose graph layers are learned (not precomputed propagations) need, for every minibatch,
the features of the batch's spots *and* of their ``n_hops``-hop neighbourhood together with the
edges among them. :class:`SubgraphDataSplitter` cuts the spots into spatially contiguous tiles of
about ``batch_size`` spots (balanced quantile grid on the coordinates), adds each tile's
``n_hops``-hop halo with :func:`torch_geometric.utils.k_hop_subgraph`, and serves one tile per
step (Cluster-GCN style, Chiang et al. KDD 2019). Losses are taken on the tile's own spots
(``"seed"``); the halo only feeds messages. Memory per step grows with the tile and its edges,
never with ``n_obs^2``. With ``batch_size=None`` (or ``>= n_obs``) there is one tile: full-graph
training, one step per epoch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset


def spatial_tiles(coords: np.ndarray | None, n_obs: int, batch_size: int | None,
                  seed: int = 0) -> list[np.ndarray]:
    """Partition ``n_obs`` spots into tiles of about ``batch_size`` spots.

    With coordinates ``(n_obs, 2)`` the tiles are cells of a balanced quantile grid (strips of
    equal counts along x, each cut into blocks of equal counts along y), so each tile is
    spatially contiguous and its halo small; without coordinates the split is random.

    Returns
    -------
    List of sorted integer index arrays covering ``range(n_obs)`` exactly once.
    """
    if batch_size is None or batch_size >= n_obs:
        return [np.arange(n_obs)]
    n_tiles = int(np.ceil(n_obs / batch_size))
    if coords is None:
        perm = np.random.default_rng(seed).permutation(n_obs)
        return [np.sort(p) for p in np.array_split(perm, n_tiles)]
    coords = np.asarray(coords, dtype=np.float64)
    n_strips = int(np.ceil(np.sqrt(n_tiles)))
    per_strip = int(np.ceil(n_tiles / n_strips))
    order_x = np.argsort(coords[:, 0], kind="stable")
    tiles = []
    for strip in np.array_split(order_x, n_strips):
        order_y = strip[np.argsort(coords[strip, 1], kind="stable")]
        tiles.extend(np.sort(t) for t in np.array_split(order_y, per_strip) if len(t))
    return tiles


def edge_index_from_graph(graph: sp.spmatrix) -> torch.Tensor:
    """``(2, n_edges)`` long tensor of a sparse graph's non-zeros, self-loops removed."""
    coo = sp.coo_matrix(graph)
    keep = coo.row != coo.col
    return torch.from_numpy(np.vstack([coo.row[keep], coo.col[keep]]).astype(np.int64))


class _TileDataset(Dataset):
    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.batches[i]


class SubgraphDataSplitter(LightningDataModule):
    """Serve spatial tiles with their ``n_hops`` halo as minibatches.

    Each batch is a dict with every per-spot array of ``tensors`` restricted to the tile and its
    halo (``(n_nodes, ...)``), ``"edge_index"`` ``(2, n_edges)`` in local numbering,
    ``"seed"`` (local positions of the tile's own spots) and ``"index"`` (global positions of
    all nodes of the batch).

    Parameters
    ----------
    tensors
        Per-spot arrays, each ``(n_obs, ...)``.
    graph
        Sparse ``(n_obs, n_obs)`` graph.
    coords
        ``(n_obs, 2)`` coordinates for the tiling, or ``None`` (random tiles).
    batch_size
        Spots per tile; ``None`` = the whole graph.
    n_hops
        Halo depth; the number of message-passing layers a spot's output depends on.
    shuffle
        Shuffle the tile order every epoch.
    seed
        Seed of the random tiling (when no coordinates are given).
    num_workers
        Loader worker processes (0: in the training process). The tiles are built in memory
        once, so workers only copy them between processes.

    Notes
    -----
    Under Lightning DDP the tiles are dealt out to the ranks by Lightning's
    ``DistributedSampler`` (padded to a multiple of the world size); with one tile every rank
    trains the same full graph.
    """

    def __init__(self, tensors: dict[str, np.ndarray], graph: sp.spmatrix,
                 coords: np.ndarray | None, batch_size: int | None, n_hops: int,
                 shuffle: bool = True, seed: int = 0, num_workers: int = 0):
        super().__init__()
        self.num_workers = int(num_workers)
        self.n_obs = int(graph.shape[0])
        self.n_train, self.n_val = self.n_obs, 0
        self.train_idx = np.arange(self.n_obs)
        self.val_idx = self.test_idx = np.array([], dtype=int)
        self.shuffle = shuffle
        edge_index = edge_index_from_graph(graph)
        data = {k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()}
        from torch_geometric.utils import k_hop_subgraph

        self.batches = []
        for tile in spatial_tiles(coords, self.n_obs, batch_size, seed):
            if len(tile) == self.n_obs:
                subset = torch.arange(self.n_obs)
                sub_ei, seed_pos = edge_index, subset
            else:
                subset, sub_ei, seed_pos, _ = k_hop_subgraph(
                    torch.from_numpy(tile), n_hops, edge_index, relabel_nodes=True,
                    num_nodes=self.n_obs)
            batch = {k: v[subset] for k, v in data.items()}
            batch.update(edge_index=sub_ei, seed=seed_pos, index=subset)
            self.batches.append(batch)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_TileDataset(self.batches), batch_size=None, shuffle=self.shuffle,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_TileDataset(self.batches), batch_size=None, shuffle=False)
