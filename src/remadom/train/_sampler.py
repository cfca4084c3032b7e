"""Group-balanced minibatches: every group is present in every batch."""

from __future__ import annotations

import numpy as np
from scvi.dataloaders import DataSplitter
from torch.utils.data import DataLoader, Sampler


class GroupBalancedBatchSampler(Sampler):
    """Yields batches holding ``batch_size / n_groups`` cells of each group (rest spread at random).

    Each group is walked through in a fresh random order and restarted when used up (small
    groups are revisited within an epoch), so alignment heads always see every group. An epoch
    has ``ceil(n / batch_size)`` batches.

    Parameters
    ----------
    groups
        ``(n,)`` group label of each position of the dataset.
    batch_size
        Cells per batch; must be at least the number of groups.
    seed
        Seed of the sampler's generator.

    Raises
    ------
    ValueError
        If ``batch_size`` is smaller than the number of groups.
    """

    def __init__(self, groups: np.ndarray, batch_size: int, seed: int | None = None):
        self.groups = np.asarray(groups)
        self.members = [np.flatnonzero(self.groups == g) for g in np.unique(self.groups)]
        if batch_size < len(self.members):
            raise ValueError(f"batch_size {batch_size} is smaller than the {len(self.members)} groups to balance.")
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.rng = np.random.default_rng(seed)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning each epoch: with a seed, the batches of epoch ``e`` depend only on
        ``(seed, e)``, so a run resumed from a checkpoint sees the same batches."""
        self.epoch = int(epoch)
        if self.seed is not None:
            self.rng = np.random.default_rng([int(self.seed), self.epoch])

    def __len__(self) -> int:
        return int(np.ceil(len(self.groups) / self.batch_size))

    def __iter__(self):
        order = [self.rng.permutation(m) for m in self.members]
        pos = [0] * len(order)
        per, extra = divmod(self.batch_size, len(order))
        for _ in range(len(self)):
            counts = np.full(len(order), per)
            counts[self.rng.choice(len(order), extra, replace=False)] += 1
            batch = []
            for g, c in enumerate(counts):
                take = []
                while len(take) < c:
                    if pos[g] >= len(order[g]):
                        order[g], pos[g] = self.rng.permutation(self.members[g]), 0
                    n = min(c - len(take), len(order[g]) - pos[g])
                    take.extend(order[g][pos[g]:pos[g] + n])
                    pos[g] += n
                batch.extend(take)
            yield self.rng.permutation(np.asarray(batch)).tolist()


class BalancedDataSplitter(DataSplitter):
    """scvi-tools :class:`~scvi.dataloaders.DataSplitter` whose training loader is group-balanced.

    Parameters
    ----------
    balance_groups
        ``(n_obs,)`` group label per cell of the registered data; ``None`` keeps scvi-tools'
        random minibatches.
    **kwargs
        As :class:`~scvi.dataloaders.DataSplitter` (``num_workers``, ``persistent_workers`` and
        ``pin_memory`` also reach the group-balanced loader).

    Notes
    -----
    Under Lightning DDP the group-balanced loader is sharded by Lightning's
    ``DistributedSamplerWrapper``: each rank takes every ``world_size``-th batch of the same
    epoch's batch list (drawn with ``scvi.settings.seed``, or 0 when it is None).
    """

    def __init__(self, *args, balance_groups: np.ndarray | None = None, **kwargs):
        self.balance_groups = balance_groups
        self._batch_size = kwargs.get("batch_size", 128)
        super().__init__(*args, **kwargs)

    def train_dataloader(self):
        if self.balance_groups is None:
            return super().train_dataloader()
        dataset = self.adata_manager.create_torch_dataset(indices=self.train_idx)
        import scvi

        # under DDP Lightning wraps this sampler in its DistributedSamplerWrapper, which deals the
        # epoch's batches out to the ranks; every rank must then draw the same batches (a seed)
        seed = scvi.settings.seed
        if seed is None and self.data_loader_kwargs.get("distributed_sampler"):
            seed = 0
        sampler = GroupBalancedBatchSampler(self.balance_groups[self.train_idx], self._batch_size,
                                            seed=seed)
        workers = int(self.data_loader_kwargs.get("num_workers", scvi.settings.dl_num_workers))
        persistent = bool(self.data_loader_kwargs.get("persistent_workers", workers > 0)) and workers > 0
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=workers,
                          persistent_workers=persistent, pin_memory=self.pin_memory)
