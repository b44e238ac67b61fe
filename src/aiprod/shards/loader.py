"""Read phase shards for training: frames as (T, C, H, W) tensors, captions and flow.

A thin layer over `webdataset.WebDataset`: shards are split across nodes (DDP ranks) and
then across DataLoader workers, so every sample is read once per epoch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator

import av
import numpy as np
import torch
import webdataset as wds


def decode_mp4(data: bytes) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of an in-memory mp4."""
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def to_training_sample(sample: dict) -> dict:
    """WebDataset fields -> tensors: video (T, C, H, W) in [-1, 1], flow (pairs, 2, h, w)."""
    frames = decode_mp4(sample["mp4"])
    meta = json.loads(sample["json"])
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    flow = torch.from_numpy(np.load(io.BytesIO(sample["flow.npy"])).astype(np.float32))
    return {
        "key": sample["__key__"],
        "video": video,
        "flow": flow,
        "captions": meta["captions"],
        "tags": meta.get("tags", {}),
        "meta": meta,
    }


def split_by_rank(rank: int, world_size: int):  # noqa: ANN201 (a webdataset filter)
    """A node splitter for an explicit rank: shard i goes to rank i % world_size."""

    def select(urls: Iterable[str]) -> Iterator[str]:
        for index, url in enumerate(urls):
            if index % world_size == rank:
                yield url

    return select


def node_splitter(rank: int | None = None, world_size: int | None = None):  # noqa: ANN201
    """The explicit rank's splitter, else torch.distributed's (or all shards when single)."""
    if rank is not None and world_size is not None:
        return split_by_rank(rank, world_size)
    return wds.split_by_node


def phase_dataset(
    urls: list[str] | str,
    shuffle_shards: bool = False,
    seed: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    keep_key: Callable[[str], bool] | None = None,
) -> wds.WebDataset:
    """The training view of a phase's shards, split by node then by worker.

    `keep_key(key)` drops samples before their video is decoded (decoding is the cost).
    """
    dataset = wds.WebDataset(
        urls,
        shardshuffle=100 if shuffle_shards else False,
        seed=seed,
        nodesplitter=node_splitter(rank, world_size),
        workersplitter=wds.split_by_worker,
        empty_check=False,
    )
    if keep_key is not None:
        dataset = dataset.select(lambda sample: keep_key(sample["__key__"]))
    return dataset.map(to_training_sample)
