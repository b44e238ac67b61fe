"""Shards: closed by count and bytes, reproducible, readable by webdataset and the loader."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
from conftest import make_video

from aiprod.shards.loader import phase_dataset
from aiprod.shards.writer import Sample, plan_shards, write_shards


@pytest.fixture
def samples(tmp_path):
    out = []
    for i in range(7):
        clip = make_video(tmp_path / f"v{i}.mp4", frames=8, size=(32, 24), seed=i)
        flow = np.full((7, 2, 6, 8), i, np.float16)
        meta = {"clip_id": f"k{i}", "captions": {"en": f"clip {i}", "ja": f"クリップ{i}"}}
        out.append(Sample(key=f"k{i}", mp4=clip.read_bytes(), meta=meta, flow=flow))
    return out


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tar"))
    }


@pytest.mark.quick
def test_shards_close_by_count_and_by_bytes(samples):
    assert [len(s) for s in plan_shards(samples, max_count=3, max_bytes=10**9)] == [3, 3, 1]
    one = samples[0].size
    assert [len(s) for s in plan_shards(samples, max_count=100, max_bytes=2 * one + 10)] == [
        2
    ] * 3 + [1]


def test_rewrite_is_identical_and_stale_shards_go(samples, tmp_path):
    out = tmp_path / "phase1"
    write_shards(samples, out, max_count=2, max_bytes=10**9)
    first = digest(out)
    assert len(first) == 4
    (out / "shard-000001.tar").unlink()  # as if killed before this shard was renamed in
    write_shards(samples, out, max_count=2, max_bytes=10**9)
    assert digest(out) == first
    index = write_shards(samples[:3], out, max_count=2, max_bytes=10**9)
    assert sorted(digest(out)) == ["shard-000000.tar", "shard-000001.tar"]
    assert list(index["key"]) == ["k0", "k1", "k2"]


def test_plain_webdataset_reads_the_shards(samples, tmp_path):
    write_shards(samples, tmp_path, max_count=3, max_bytes=10**9)
    urls = [str(p) for p in sorted(tmp_path.glob("*.tar"))]
    keys = [s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False)]
    assert keys == [f"k{i}" for i in range(7)]
    first = next(iter(wds.WebDataset(urls, shardshuffle=False).decode()))
    assert first["json"]["captions"]["ja"] == "クリップ0"
    assert first["flow.npy"].shape == (7, 2, 6, 8)


def test_loader_yields_tensors_split_by_node_and_worker(samples, tmp_path):
    write_shards(samples, tmp_path, max_count=2, max_bytes=10**9)
    urls = [str(p) for p in sorted(tmp_path.glob("*.tar"))]
    seen = []
    for rank in (0, 1):
        loader = torch.utils.data.DataLoader(
            phase_dataset(urls, rank=rank, world_size=2), batch_size=None, num_workers=2
        )
        seen.append([sample["key"] for sample in loader])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == [f"k{i}" for i in range(7)]
    sample = next(iter(phase_dataset(urls)))
    assert sample["video"].shape == (8, 3, 24, 32) and sample["video"].dtype == torch.float32
    assert -1.0 <= float(sample["video"].min()) and float(sample["video"].max()) <= 1.0
    assert sample["flow"].shape == (7, 2, 6, 8) and sample["captions"]["en"] == "clip 0"


@pytest.mark.quick
def test_samples_are_built_one_at_a_time_not_a_whole_phase_in_memory(tmp_path, monkeypatch):
    import json as json_module
    from collections.abc import Iterator
    from pathlib import Path

    import pandas as pd

    from aiprod.shards.samples import CLIP, LINEAGE, SCORES, build_samples

    ids = [f"c{n}" for n in range(5)]
    for clip_id in ids:
        (tmp_path / f"{clip_id}.mp4").write_bytes(clip_id.encode() * 10)
        np.save(tmp_path / f"{clip_id}.npy", np.zeros((2, 2, 4, 4), np.float16))
    manifest = pd.DataFrame(
        [
            {"clip_id": i, "path": str(tmp_path / f"{i}.mp4"), **dict.fromkeys(LINEAGE + CLIP, 1)}
            for i in ids
        ]
    )
    scores = pd.DataFrame(
        [
            {"clip_id": i, "flow_path": str(tmp_path / f"{i}.npy"), **dict.fromkeys(SCORES, 0.5)}
            for i in ids
        ]
    )
    captions = pd.DataFrame(
        [
            {
                "clip_id": i,
                "captions": json_module.dumps({"en": i}),
                "tags": "a,b",
                "tags_i18n": "{}",
            }
            for i in ids
        ]
    )
    members = pd.DataFrame(
        {"clip_id": ids[::-1], "phase": 2, "role": "difficulty", "difficulty": 0.1, "quality": 0.2}
    )
    reads = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self.name) or original(self))
    samples = build_samples(members, manifest, scores, captions)
    assert isinstance(samples, Iterator) and reads == []
    first = next(samples)
    assert reads == ["c4.mp4"] and first.mp4 == b"c4" * 10
    assert first.meta["captions"] == {"en": "c4"} and first.meta["tags"]["keys"] == ["a", "b"]
    assert [s.key for s in samples] == ["c3", "c2", "c1", "c0"]
