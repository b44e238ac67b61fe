"""Write samples into WebDataset tars, shard by shard, atomically and reproducibly.

Bytes are a pure function of the inputs (fixed mtime/owner, sorted JSON, np.save bytes), so a
run killed part-way and re-run writes identical shards; shards left over from a larger earlier
run are removed. `ShardSink` takes samples one at a time and holds one shard in memory, so a
phase of any size streams through it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import webdataset as wds

from aiprod.fsutil import atomic_write, write_parquet

SHARD_PATTERN = "shard-%06d.tar"
INDEX = "index.parquet"
HEADER_BYTES = 2048  # json and tar headers of a sample, roughly


def npy_bytes(array: np.ndarray) -> bytes:
    """`np.save` bytes of an array (the `.npy` fields of every shard)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def json_bytes(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Sample:
    """One clip as the pixel shards hold it: the WebDataset key is the dot-free clip id."""

    key: str
    mp4: bytes
    meta: dict
    flow: np.ndarray

    def fields(self) -> dict[str, bytes]:
        return {
            "__key__": self.key,
            "mp4": self.mp4,
            "json": json_bytes(self.meta),
            "flow.npy": npy_bytes(self.flow),
        }

    def index_row(self) -> dict:
        """What a reader needs to plan without opening the shard: frames and source."""
        return {
            "frames": int(self.meta.get("clip", {}).get("frames", 0)),
            "source_sha256": str(self.meta.get("lineage", {}).get("source_sha256", "")),
        }

    @property
    def size(self) -> int:
        return len(self.mp4) + self.flow.nbytes + HEADER_BYTES


def plan_shards(samples: Iterable[Sample], max_count: int, max_bytes: int) -> list[list[Sample]]:
    """Split samples, in order, into shards closed by count or by bytes."""
    shards: list[list[Sample]] = [[]]
    size = 0
    for sample in samples:
        incoming = sample.size
        if _full(len(shards[-1]), size, incoming, max_count, max_bytes):
            shards.append([])
            size = 0
        shards[-1].append(sample)
        size += incoming
    return [shard for shard in shards if shard]


def _full(count: int, size: int, incoming: int, max_count: int, max_bytes: int) -> bool:
    return count >= max_count or (count > 0 and size + incoming > max_bytes)


def _write_tar(path: Path, samples: list[dict[str, bytes]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as stream:
            # an int mtime: a float one makes tarfile write a pax header before every member
            # (twice the read time, 11% more bytes)
            writer = wds.TarWriter(stream, user="aiprod", group="aiprod", mtime=0, encoder=False)
            for fields in samples:
                writer.write(fields)
            writer.close()

    atomic_write(path, write)


class ShardSink:
    """Samples in, shards out: each shard written atomically as it fills; `close` drops
    stale shards and writes the index (shard, key, position + the samples' index rows)."""

    def __init__(self, out_dir: str | Path, max_count: int, max_bytes: int) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.max_count, self.max_bytes = max_count, max_bytes
        self.pending: list[dict[str, bytes]] = []
        self.pending_rows: list[dict] = []
        self.size = 0
        self.names: list[str] = []
        self.rows: list[dict] = []

    def add(
        self, fields: dict[str, bytes], row: dict | None = None, size: int | None = None
    ) -> None:
        size = size if size is not None else _fields_size(fields)
        if _full(len(self.pending), self.size, size, self.max_count, self.max_bytes):
            self._flush()
        self.pending.append(fields)
        self.pending_rows.append(row or {})
        self.size += size

    def _flush(self) -> None:
        if not self.pending:
            return
        name = SHARD_PATTERN % len(self.names)
        _write_tar(self.out_dir / name, self.pending)
        self.rows += _index_rows(name, self.pending, self.pending_rows)
        self.names.append(name)
        self.pending, self.pending_rows, self.size = [], [], 0

    def close(self) -> pd.DataFrame:
        self._flush()
        return finish_shards(self.out_dir, self.names, self.rows)


def _index_rows(name: str, fields: list[dict[str, bytes]], rows: list[dict]) -> list[dict]:
    return [
        {"shard": name, "key": f["__key__"], "position": position, **row}
        for position, (f, row) in enumerate(zip(fields, rows, strict=True))
    ]


def write_shard(out_dir: str | Path, number: int, samples: list[Sample]) -> list[dict]:
    """Shard `number` of a phase, written atomically on its own (so shards can be written in
    parallel, each by a different worker); returns its index rows."""
    name = SHARD_PATTERN % number
    fields = [sample.fields() for sample in samples]
    _write_tar(Path(out_dir) / name, fields)
    return _index_rows(name, fields, [sample.index_row() for sample in samples])


def finish_shards(out_dir: str | Path, names: list[str], rows: list[dict]) -> pd.DataFrame:
    """Drop shards left over from a larger earlier run and write the shard -> keys index."""
    out_dir = Path(out_dir)
    for stale in out_dir.glob("shard-*.tar"):
        if stale.name not in names:
            stale.unlink()
    for leftover in out_dir.glob(".*.tmp"):  # a killed run's half-written shard
        leftover.unlink()
    index = pd.DataFrame(rows)
    index = index if len(index) else pd.DataFrame(columns=["shard", "key", "position"])
    write_parquet(out_dir / INDEX, index)
    return index


def _fields_size(fields: dict[str, bytes]) -> int:
    return sum(len(v) for k, v in fields.items() if k != "__key__") + HEADER_BYTES


def write_shards(
    samples: Iterable[Sample], out_dir: Path, max_count: int, max_bytes: int
) -> pd.DataFrame:
    """Write every shard (atomically), drop stale ones, and write the shard -> keys index.

    Samples are consumed one at a time (a generator keeps one clip in memory)."""
    sink = ShardSink(out_dir, max_count, max_bytes)
    for sample in samples:
        sink.add(sample.fields(), sample.index_row(), sample.size)
    return sink.close()
