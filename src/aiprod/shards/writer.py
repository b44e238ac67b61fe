"""Write one phase's samples into WebDataset tars, shard by shard, atomically and reproducibly.

Bytes are a pure function of the inputs (fixed mtime/owner, sorted JSON, np.save bytes), so a
run killed part-way and re-run writes identical shards; shards left over from a larger earlier
run are removed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import webdataset as wds

from aiprod.fsutil import atomic_write, write_parquet

SHARD_PATTERN = "shard-%06d.tar"
INDEX = "index.parquet"


@dataclass(frozen=True)
class Sample:
    """One clip as the shards hold it: the WebDataset key is the dot-free clip id."""

    key: str
    mp4: bytes
    meta: dict
    flow: np.ndarray

    def fields(self) -> dict[str, bytes]:
        buffer = io.BytesIO()
        np.save(buffer, self.flow)
        meta = json.dumps(self.meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return {"__key__": self.key, "mp4": self.mp4, "json": meta, "flow.npy": buffer.getvalue()}

    @property
    def size(self) -> int:
        return len(self.mp4) + self.flow.nbytes + 2048  # + json and tar headers, roughly


def plan_shards(samples: list[Sample], max_count: int, max_bytes: int) -> list[list[Sample]]:
    """Split samples, in order, into shards closed by count or by bytes."""
    shards: list[list[Sample]] = [[]]
    size = 0
    for sample in samples:
        full = len(shards[-1]) >= max_count or (shards[-1] and size + sample.size > max_bytes)
        if full:
            shards.append([])
            size = 0
        shards[-1].append(sample)
        size += sample.size
    return [shard for shard in shards if shard]


def _write_tar(path: Path, samples: list[Sample]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as stream:
            writer = wds.TarWriter(stream, user="aiprod", group="aiprod", mtime=0.0, encoder=False)
            for sample in samples:
                writer.write(sample.fields())
            writer.close()

    atomic_write(path, write)


def write_shards(
    samples: list[Sample], out_dir: Path, max_count: int, max_bytes: int
) -> pd.DataFrame:
    """Write every shard (atomically), drop stale ones, and write the shard -> keys index."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shards = plan_shards(samples, max_count, max_bytes)
    names = []
    rows = []
    for number, shard in enumerate(shards):
        name = SHARD_PATTERN % number
        _write_tar(out_dir / name, shard)
        names.append(name)
        rows += [{"shard": name, "key": s.key, "position": i} for i, s in enumerate(shard)]
    for stale in out_dir.glob("shard-*.tar"):
        if stale.name not in names:
            stale.unlink()
    index = pd.DataFrame(rows, columns=["shard", "key", "position"])
    write_parquet(out_dir / INDEX, index)
    return index
