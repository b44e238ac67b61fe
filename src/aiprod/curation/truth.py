"""Ground truth of a clip where its source has it (the shapes world's sidecar)."""

from __future__ import annotations

import json
from pathlib import Path


def clip_segment(clip_path: str | Path, start_frame: int, end_frame: int) -> dict | None:
    """The shapes-world segment a clip was cut from, or None for footage without truth.

    The sidecar travels with the clip (`<clip_id>.json`); the segment is the one holding the
    clip's middle source frame.
    """
    sidecar = Path(clip_path).with_suffix(".json")
    if not sidecar.exists():
        return None
    return segment_of(json.loads(sidecar.read_text(encoding="utf-8")), start_frame, end_frame)


def segment_of(data: dict, start_frame: int, end_frame: int) -> dict | None:
    """In a parsed sidecar, the segment holding the clip's middle source frame."""
    middle = (start_frame + end_frame) // 2
    for segment in data.get("segments", []):
        if segment["start_frame"] <= middle < segment["end_frame"]:
            return segment
    return None


SHAPES_WORLD_ONLY = (
    "no shapes-world clips with ground truth in the corpus: the shapes classifier, prompt "
    "adherence, read-back ceilings and camera accuracy need the demo's sidecars (synth)"
)


def has_ground_truth(manifest: object) -> bool:
    """Whether any ingested clip carries a shapes-world segment (the demo corpus)."""
    return any(
        clip_segment(row.path, row.start_frame, row.end_frame) is not None
        for row in manifest.itertuples(index=False)
    )
