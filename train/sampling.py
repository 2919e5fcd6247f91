"""Which training samples each process sees in each epoch.

The order is a pure function of (seed, epoch), never of how many epochs ran before in this
process, so a resumed run sees the same batches as an uninterrupted one. Under DDP each rank
takes every ``world``-th index of the same order, so the union of one step's per-rank batches is
exactly the single-process batch of the same global size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """A seeded shuffle (or weighted draw with replacement) per epoch, sharded across ranks.

    Yields (epoch, index) keys: the dataset seeds its augmentation with the epoch.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int,
        weights: Sequence[float] | None = None,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.size = size
        self.seed = seed
        self.weights = torch.as_tensor(weights, dtype=torch.double) if weights is not None else None
        self.rank = rank
        self.world = world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        padded = len(self) * self.world
        order = torch.cat([order, order[: padded - self.size]])  # every rank gets as many samples
        return iter((self.epoch, index) for index in order[self.rank :: self.world].tolist())
