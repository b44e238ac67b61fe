"""Assemble a phase's samples from the manifest, scores, captions and the curriculum."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aiprod.shards.writer import HEADER_BYTES, Sample

LINEAGE = ["source", "source_sha256", "start_time", "end_time", "start_frame", "end_frame"]
CLIP = ["fps", "frames", "width", "height", "duration"]
SCORES = [
    "motion_mean",
    "motion_p95",
    "object_motion",
    "camera",
    "sharpness",
    "luma_mean",
    "lighting_change",
    "flicker",
    "edge_density",
]


def phase_members(curriculum: pd.DataFrame, phase: int, seed: int) -> pd.DataFrame:
    """The phase's rows in a seeded order (deterministic; independent of table order)."""
    rows = curriculum[curriculum["phase"] == phase].drop_duplicates("clip_id")
    rows = rows.sort_values("clip_id", kind="stable").reset_index(drop=True)
    order = np.random.default_rng([seed, phase]).permutation(len(rows))
    return rows.iloc[order].reset_index(drop=True)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class SampleRef:
    """A sample by reference: its metadata and where its clip and flow lie. Small enough to
    send to another worker, which loads the bytes itself (`load`)."""

    key: str
    mp4_path: str
    flow_path: str
    meta: dict

    @property
    def size(self) -> int:
        """The loaded sample's `Sample.size`, from a stat and the .npy header (no data read)."""
        flow_bytes = np.load(self.flow_path, mmap_mode="r").nbytes
        return Path(self.mp4_path).stat().st_size + flow_bytes + HEADER_BYTES

    def load(self) -> Sample:
        return Sample(
            key=self.key,
            mp4=Path(self.mp4_path).read_bytes(),
            meta=self.meta,
            flow=np.load(self.flow_path),
        )


def sample_refs(
    members: pd.DataFrame, manifest: pd.DataFrame, scores: pd.DataFrame, captions: pd.DataFrame
) -> Iterator[SampleRef]:
    """One SampleRef per member, in the members' order. The tables are indexed once (rows as
    dicts), so each member costs the same at any corpus size."""
    clips = manifest.set_index("clip_id", drop=False).to_dict("index")
    score = scores.set_index("clip_id", drop=False).to_dict("index")
    text = captions.set_index("clip_id", drop=False).to_dict("index")
    for member in members.itertuples(index=False):
        clip, measured = clips[member.clip_id], score[member.clip_id]
        yield SampleRef(
            key=member.clip_id,
            mp4_path=str(clip["path"]),
            flow_path=str(measured["flow_path"]),
            meta=sample_meta(member, clip, measured, text[member.clip_id]),
        )


def build_samples(
    members: pd.DataFrame, manifest: pd.DataFrame, scores: pd.DataFrame, captions: pd.DataFrame
) -> Iterator[Sample]:
    """One Sample per member: clip bytes, metadata JSON, and the stored low-res flow.

    A generator: one clip's bytes are in memory at a time, however large the phase."""
    for ref in sample_refs(members, manifest, scores, captions):
        yield ref.load()


def sample_meta(member: object, clip: dict, measured: dict, caption: dict) -> dict:
    """What a sample's JSON holds: its curriculum place, captions, tags, scores, lineage."""
    return {
        "clip_id": member.clip_id,
        "phase": int(member.phase),
        "role": member.role,
        "difficulty": round(float(member.difficulty), 5),
        "quality": round(float(member.quality), 5),
        "captions": json.loads(caption["captions"]),
        "tags": {
            "keys": caption["tags"].split(",") if caption["tags"] else [],
            "terms": json.loads(caption["tags_i18n"]),
        },
        "scores": {k: _plain(measured[k]) for k in SCORES},
        "lineage": {k: _plain(clip[k]) for k in LINEAGE},
        "clip": {k: _plain(clip[k]) for k in CLIP},
    }
