"""Mini-batches from tensors held in memory: no DataLoader workers, no per-sample Python."""

from collections.abc import Callable, Iterator

import torch
from omegaconf import DictConfig

from .data import train_transform
from .plumbing.errors import UserError

Batch = tuple[torch.Tensor, ...]


class InMemoryBatches:
    """Slices of a dataset that lives in memory (on the training device when it fits there).

    Shuffling uses a permutation drawn from `seed` and the epoch number, and the optional
    `transform` (data augmentation) gets a generator seeded from the epoch and batch index.
    So epoch 3 is the same whether or not the run was interrupted before it, and a resumed run
    can start in the middle of an epoch by skipping batches it already trained on.

    `reorder`, when given, rearranges each epoch's shuffled order: a capstone's own rule for which
    samples share a batch. It gets the order, the epoch's generator and the global batch size, and
    returns a permutation; every process computes the same one, so their slices still line up.

    `rank` and `world_size` share the batches among the processes of a DDP run (trainer=ddp): each
    step takes a global batch of `batch_size` x `world_size` samples, in the same order in every
    process, and each process takes its own slice of it. So every process has as many batches as
    the others, and N processes with batch_size B train on the same samples as one process with
    batch_size N x B. (Augmentation is drawn per process, from a generator that also knows `rank`.)
    """

    def __init__(
        self,
        tensors: Batch,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        transform: Callable[[Batch, torch.Generator], Batch] | None = None,
        device: torch.device | str = "cpu",
        reorder: Callable[[torch.Tensor, torch.Generator, int], torch.Tensor] | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if len({len(t) for t in tensors}) != 1:
            raise ValueError("All tensors of a dataset need the same number of samples.")
        self.tensors = tuple(t.to(device) for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.reorder = reorder
        self.rank, self.world_size = rank, world_size
        self.global_batch_size = batch_size * world_size  # the samples of one step, over all processes

    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        """Batches per epoch (the same in every process)."""
        if self.drop_last:
            return self.num_samples // self.global_batch_size
        return -(-self.num_samples // self.global_batch_size)

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        """The batches of epoch `epoch`, from batch number `start` on."""
        device = self.tensors[0].device
        if self.shuffle:
            shuffling = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.num_samples, generator=shuffling)
            if self.reorder is not None:
                order = self.reorder(order, shuffling, self.global_batch_size)
            order = order.to(device)
        for index in range(start, len(self)):
            first = index * self.global_batch_size
            rows = self.share(first, min(first + self.global_batch_size, self.num_samples))
            if rows.start == rows.stop:
                continue  # a last batch with fewer samples than processes: none left for this one
            batch = tuple(t[order[rows]] if self.shuffle else t[rows] for t in self.tensors)
            if self.transform is not None:
                # hash() of a tuple of ints is the same in every run (only str hashes are salted).
                key = hash((self.seed, epoch, index, self.rank)) % 2**63
                batch = self.transform(batch, torch.Generator(device=device).manual_seed(key))
            yield batch

    def share(self, start: int, stop: int) -> slice:
        """This process's slice of the global batch start:stop; the slices differ by one sample at most."""
        size, extra = divmod(stop - start, self.world_size)
        first = start + self.rank * size + min(self.rank, extra)
        return slice(first, first + size + (self.rank < extra))

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch(0)


def training_splits(cfg: DictConfig, splits: dict, world_size: int = 1) -> tuple[dict, Callable | None]:
    """The splits to train and validate on, and the training augmentation. With trainer.overfit_batches
    (debug mode), a few training batches serve as both splits, without augmentation, to learn by heart."""
    if not cfg.trainer.overfit_batches:
        return splits, train_transform(cfg.data)
    size = cfg.trainer.overfit_batches * cfg.data.batch_size * world_size
    few = tuple(t[:size] for t in splits["train"])
    return {"train": few, "val": few}, None


def make_batches(
    cfg: DictConfig, splits: dict, transform, device="cpu", rank: int = 0, world_size: int = 1
) -> tuple[InMemoryBatches, InMemoryBatches]:
    """Training and validation batches as this process sees them (DDP: its share of every global batch
    of batch_size x world_size samples); one sentence when the data are too few for that."""
    train_batches = InMemoryBatches(
        splits["train"],
        cfg.data.batch_size,
        shuffle=True,
        drop_last=True,
        seed=cfg.seed,
        transform=transform,
        device=device,
        reorder=splits.get("train_reorder"),  # the capstone's own batch order, when its data give one
        rank=rank,
        world_size=world_size,
    )
    val_batches = InMemoryBatches(
        splits["val"], cfg.data.eval_batch_size, device=device, rank=rank, world_size=world_size
    )
    if len(train_batches) == 0:
        processes = f" x {world_size} processes" if world_size > 1 else ""
        raise UserError(
            f"data.batch_size={cfg.data.batch_size}{processes} is larger than the "
            f"{train_batches.num_samples} training samples."
        )
    if val_batches.num_samples < world_size:
        raise UserError(
            f"{world_size} processes cannot share {val_batches.num_samples} validation samples; use fewer processes."
        )
    return train_batches, val_batches
