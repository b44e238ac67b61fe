"""Shards streamed in a deterministic order that resumes exactly and splits across ranks.

The data order is made of `S` independent streams (the "canonical nodes" of MosaicML's
streaming): shards go to streams round-robin (or, with fewer shards than streams, their
samples do). Each stream walks its shards epoch by epoch in a seeded order, a bounded block of
them at a time, shuffled within the block (a shuffle buffer that can be replayed). A global
micro-batch takes the same number of items from every stream; rank r reads only the streams
s with s % world_size == r (node splitting), and its DataLoader workers split those again
(worker splitting). So the order depends on S, never on how many ranks or workers read it:
two ranks see exactly what one process sees with their batch combined, and a run resumes on
any world size that divides S. A stream's position is `data position / S`, so a checkpoint's
data position is all a loader needs to continue: whole blocks are skipped by the index's
counts without reading them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from webdataset.tariterators import tarfile_samples

log = logging.getLogger(__name__)

INDEX = "index.parquet"


class NoItems(ValueError):
    """A set of shards (or one of its streams) holds nothing to train on."""


@dataclass(frozen=True)
class ShardSpec:
    """One shard and how many items each of its samples gives (0: skipped, e.g. held out)."""

    url: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Piece:
    """The part of a shard one stream reads: some of its samples, by position."""

    url: str
    samples: tuple[int, ...]
    counts: tuple[int, ...]

    @property
    def count(self) -> int:
        return sum(self.counts)


def shard_specs(shard_dir: str | Path, count: Callable[[pd.Series], int]) -> list[ShardSpec]:
    """Every shard of a folder with per-sample item counts from its `index.parquet` rows."""
    shard_dir = Path(shard_dir)
    index_path = shard_dir / INDEX
    if not index_path.is_file():
        return []
    index = pd.read_parquet(index_path).sort_values(["shard", "position"], kind="stable")
    specs = []
    for name, rows in index.groupby("shard", sort=True):
        counts = tuple(int(count(row)) for _, row in rows.iterrows())
        specs.append(ShardSpec(str(shard_dir / name), counts))
    return specs


def assign_streams(shards: list[ShardSpec], streams: int) -> list[list[Piece]]:
    """Shards to streams round-robin; with fewer shards than streams, samples round-robin."""
    if len(shards) >= streams:
        out: list[list[Piece]] = [[] for _ in range(streams)]
        for i, spec in enumerate(shards):
            out[i % streams].append(Piece(spec.url, tuple(range(len(spec.counts))), spec.counts))
        return out
    out = [[] for _ in range(streams)]
    ordinal = 0
    for spec in shards:
        mine: list[list[int]] = [[] for _ in range(streams)]
        for position in range(len(spec.counts)):
            mine[ordinal % streams].append(position)
            ordinal += 1
        for s, positions in enumerate(mine):
            if positions:
                counts = tuple(spec.counts[p] for p in positions)
                out[s].append(Piece(spec.url, tuple(positions), counts))
    return out


def read_samples(url: str) -> Iterator[dict]:
    """The raw samples of one tar shard (fields as bytes), in order."""
    return tarfile_samples([{"url": url}])


@dataclass(frozen=True)
class Item:
    """One training item: its place in the order (`ordinal`, a pure function of the data
    position) and what the expand function made of it."""

    ordinal: int
    value: object


Expand = Callable[[dict], list]  # a raw sample -> its items (as many as its index count)


class Stream:
    """One stream's items, epoch after epoch, from any offset."""

    def __init__(
        self, pieces: list[Piece], number: int, streams: int, seed: int, buffer: int, expand: Expand
    ) -> None:
        self.pieces, self.number, self.streams = pieces, number, streams
        self.seed, self.buffer, self.expand = seed, buffer, expand
        self.total = sum(p.count for p in pieces)
        if self.total == 0:
            raise NoItems(f"data stream {number} of {streams} holds no items")
        # a stream that fits in its shuffle buffer is read once and kept (bounded by the
        # buffer); a larger one is read block by block every epoch
        self.cache: dict[int, list] | None = {} if self.total <= buffer else None

    def epoch_order(self, epoch: int) -> list[list[Piece]]:
        """The epoch's pieces in a seeded order, grouped into blocks of at least `buffer`
        items (computed once per epoch)."""
        order = np.random.default_rng([self.seed, self.number, epoch]).permutation(len(self.pieces))
        blocks: list[list[Piece]] = [[]]
        size = 0
        for i in order:
            if size >= self.buffer:
                blocks.append([])
                size = 0
            blocks[-1].append(self.pieces[i])
            size += self.pieces[i].count
        return blocks

    def load(self, block: list[Piece]) -> list:
        items = []
        for piece in block:
            if self.cache is not None:
                key = id(piece)
                if key not in self.cache:
                    self.cache[key] = self.read(piece)
                items += self.cache[key]
            else:
                items += self.read(piece)
        return items

    def read(self, piece: Piece) -> list:
        """The items of one piece, read from its shard."""
        items = []
        if piece.count:
            wanted = dict(zip(piece.samples, piece.counts, strict=True))
            for position, sample in enumerate(read_samples(piece.url)):
                if wanted.get(position, 0) == 0:
                    continue
                made = self.expand(sample)
                if len(made) != wanted[position]:
                    raise ValueError(
                        f"{piece.url}: sample {sample['__key__']} gives {len(made)} items, "
                        f"its index says {wanted[position]} (rebuild the shards' index)"
                    )
                items += made
        return items

    def plan(self, offset: int) -> Iterator[tuple[int, int, list[Piece], int]]:
        """(epoch, block number, block, items of it to skip) from the `offset`-th item on;
        whole blocks before it are skipped unread."""
        epoch, skip = divmod(offset, self.total)
        while True:
            for b, block in enumerate(self.epoch_order(epoch)):
                count = sum(p.count for p in block)
                if skip >= count:
                    skip -= count
                    continue
                yield epoch, b, block, skip
                skip = 0
            epoch += 1

    def items(self, offset: int) -> Iterator[Item]:
        """Items from the `offset`-th on. The next block is read in a thread while this one
        is consumed (tar parsing overlaps the training step; two blocks at most in memory)."""
        ordinal = offset
        plan = self.plan(offset)
        with ThreadPoolExecutor(1, thread_name_prefix=f"stream-{self.number}") as reader:
            step = next(plan)
            loading = reader.submit(self.load, step[2])
            while True:
                epoch, b, _, skip = step
                items = loading.result()
                step = next(plan)
                loading = reader.submit(self.load, step[2])
                order = np.random.default_rng([self.seed, self.number, epoch, b]).permutation(
                    len(items)
                )
                for j in order[skip:]:
                    yield Item(ordinal * self.streams + self.number, items[j])
                    ordinal += 1


@dataclass(frozen=True)
class Split:
    """How one rank's share of the streams is read: streams, this rank, its workers."""

    streams: int
    rank: int = 0
    world_size: int = 1
    workers: int = 0

    def check(self, batch_size: int) -> None:
        """The divisibility the design needs, named by the keys a user would change."""
        readers = self.world_size * max(1, self.workers)
        if self.streams % readers:
            raise ValueError(
                f"runtime.data_streams {self.streams} must be a multiple of ranks x workers "
                f"({self.world_size} x {max(1, self.workers)})"
            )
        if (batch_size * self.world_size) % self.streams:
            raise ValueError(
                f"batch_size {batch_size} x {self.world_size} rank(s) must be a multiple of "
                f"runtime.data_streams ({self.streams}): every stream gives the same share"
            )

    def own(self) -> list[int]:
        return [s for s in range(self.streams) if s % self.world_size == self.rank]


class _WorkerStreams(torch.utils.data.IterableDataset):
    """Inside a DataLoader worker: that worker's streams, one part of each micro-batch."""

    def __init__(self, owner: StreamBatches, offset: int) -> None:
        super().__init__()
        self.owner, self.offset = owner, offset

    def __iter__(self) -> Iterator[dict[int, list[Item]]]:
        info = torch.utils.data.get_worker_info()
        mine = self.owner.split.own()[info.id :: info.num_workers]
        yield from self.owner.parts(mine, self.offset)


class StreamBatches:
    """This rank's micro-batches, from a global data position on.

    `collate(items)` turns a micro-batch's items into what the loss takes.
    """

    def __init__(
        self,
        shards: list[ShardSpec],
        split: Split,
        batch_size: int,
        seed: int,
        buffer: int,
        expand: Expand,
        collate: Callable[[list[Item]], object],
    ) -> None:
        split.check(batch_size)
        if not any(sum(s.counts) for s in shards):
            raise NoItems(f"no items in {len(shards)} shard(s)")
        self.split, self.batch_size, self.collate = split, batch_size, collate
        self.take = batch_size * split.world_size // split.streams
        pieces = assign_streams(shards, split.streams)
        self.streams = {
            s: Stream(pieces[s], s, split.streams, seed, buffer, expand) for s in split.own()
        }

    @property
    def items_per_epoch(self) -> int:
        return sum(stream.total for stream in self.streams.values())

    def parts(self, streams: list[int], offset: int) -> Iterator[dict[int, list[Item]]]:
        running = {s: self.streams[s].items(offset) for s in streams}
        while True:
            yield {s: [next(it) for _ in range(self.take)] for s, it in running.items()}

    def batches(self, position: int) -> Iterator[object]:
        """Micro-batches from global data `position` (samples consumed by all ranks)."""
        if position % self.split.streams:
            raise ValueError(f"data position {position} is not a multiple of the streams")
        offset = position // self.split.streams
        if self.split.workers == 0:
            for part in self.parts(self.split.own(), offset):
                yield self.collate([item for s in sorted(part) for item in part[s]])
            return
        loader = torch.utils.data.DataLoader(
            _WorkerStreams(self, offset),
            batch_size=None,
            num_workers=self.split.workers,
            prefetch_factor=4,
        )
        parts: dict[int, list[Item]] = {}
        for k, part in enumerate(loader):  # workers answer in turn: one part each
            parts.update(part)
            if (k + 1) % self.split.workers == 0:
                yield self.collate([item for s in sorted(parts) for item in parts[s]])
                parts = {}


def sequential(shards: list[ShardSpec], expand: Expand) -> Iterator[object]:
    """Every item once, in shard order (evaluation, encoding, mining): no shuffle."""
    for spec in shards:
        for position, sample in enumerate(read_samples(spec.url)):
            if position < len(spec.counts) and spec.counts[position]:
                yield from expand(sample)


def choose_streams(configured: int | None, world_size: int, workers: int, resumed: int) -> int:
    """The data streams of a run: a resumed run keeps its own, else the configured number,
    else one per reader (rank x worker)."""
    if resumed:
        return resumed
    return configured or world_size * max(1, workers)


def listing(folders: list[Path]) -> list[list[object]]:
    """What identifies some shard folders cheaply (for a run's fingerprint): each index's
    sha256 and every shard's name and size, without hashing the shards' bytes."""
    from aiprod.fsutil import sha256_file

    out: list[list[object]] = []
    for folder in folders:
        folder = Path(folder)
        index = folder / INDEX
        out.append([str(folder), sha256_file(index) if index.is_file() else None])
        out += [[p.name, p.stat().st_size] for p in sorted(folder.glob("shard-*.tar"))]
    return out
