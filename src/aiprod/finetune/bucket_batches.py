"""Micro-batches drawn one bucket at a time, resumable from a global data position.

Each bucket streams its own latent shards (`StreamBatches`). Which bucket the g-th global
micro-batch comes from is a seeded draw weighted by the buckets' window counts, the same on
every rank; a bucket's own position is the number of micro-batches drawn from it before.
So a run resumed at any position reads exactly the batches the uninterrupted run read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from aiprod.shards.stream import StreamBatches


class BucketBatches:
    def __init__(
        self, buckets: dict[str, StreamBatches], batch_size: int, world_size: int, seed: int
    ) -> None:
        if not buckets:
            raise ValueError("no bucket holds a training window")
        self.names = sorted(buckets)
        self.buckets, self.seed = buckets, seed
        self.global_batch = batch_size * world_size
        self.weights = [buckets[n].items_per_epoch for n in self.names]

    @property
    def items_per_epoch(self) -> int:
        return sum(self.weights)

    def bucket_at(self, index: int) -> str:
        """The bucket of global micro-batch `index`."""
        draw = random.Random(self.seed * 1_000_003 + index)
        return draw.choices(self.names, weights=self.weights)[0]

    def batches(self, position: int) -> Iterator[object]:
        if position % self.global_batch:
            raise ValueError(f"data position {position} is not a multiple of the global batch")
        first = position // self.global_batch
        drawn = {name: 0 for name in self.names}
        for index in range(first):
            drawn[self.bucket_at(index)] += 1
        running = {
            name: self.buckets[name].batches(count * self.global_batch)
            for name, count in drawn.items()
        }
        index = first
        while True:
            yield next(running[self.bucket_at(index)])
            index += 1
