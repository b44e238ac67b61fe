"""Score one clip (motion, camera, picture); judge the whole table (duplicates, keep/reject)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from aiprod.config import ScoreConfig, ThresholdConfig
from aiprod.curation.camera import camera_motion
from aiprod.curation.duplicates import find_duplicates, key_frame_hashes
from aiprod.curation.motion import clip_flow, downsample_flow, motion_stats
from aiprod.curation.quality import complexity, exposure, lighting, sharpness
from aiprod.curation.truth import clip_segment
from aiprod.fsutil import atomic_write
from aiprod.video.decode import read_luma


def save_flow(path: Path, flow: np.ndarray) -> None:
    """Atomically save a float16 flow array as .npy."""
    buffer = io.BytesIO()
    np.save(buffer, flow)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def prune_flows(flow_dir: Path, keep_ids: set[str]) -> int:
    """Remove flow files of clips no longer in the manifest, and temporary files a killed run
    left behind (the folder persists across runs, so DVC would version both)."""
    stale = [p for p in flow_dir.glob("*.npy") if p.stem not in keep_ids]
    stale += list(flow_dir.glob(".*.tmp"))
    for path in stale:
        path.unlink()
    return len(stale)


def score_clip(row: dict, cfg: ScoreConfig) -> dict:
    """Every per-clip score of one manifest row; writes its low-resolution flow."""
    grays, middle = read_luma(row["path"])
    flow = clip_flow(grays, cfg.flow.size, cfg.flow.preset, cfg.flow.stride)
    sampled = grays[:: cfg.flow.stride]
    camera = camera_motion(flow, cfg.camera.still_px, cfg.camera.zoom_rate, cfg.camera.min_inliers)
    motion = motion_stats(flow)
    flow_path = Path(cfg.flow_dir) / f"{row['clip_id']}.npy"
    save_flow(flow_path, downsample_flow(flow, cfg.flow.save_size))
    segment = clip_segment(row["path"], row["start_frame"], row["end_frame"])
    return {
        "clip_id": row["clip_id"],
        "motion_mean": motion.mean,
        "motion_p95": motion.p95,
        "motion_variation": motion.variation,
        # object motion: what moves beyond the camera's own translation
        "object_motion": max(0.0, motion.mean - float(np.hypot(camera.dx, camera.dy))),
        "camera": camera.label,
        "camera_dx": camera.dx,
        "camera_dy": camera.dy,
        "camera_zoom": camera.zoom,
        "camera_inliers": camera.inliers,
        "sharpness": sharpness(sampled),
        **exposure(sampled),
        **lighting(grays),
        **complexity(middle, sampled),
        "phash": ",".join(f"{h:016x}" for h in key_frame_hashes(grays)),
        "flow_path": flow_path.as_posix(),
        "true_camera": segment["scene"]["camera"] if segment else None,
        "true_level": segment["difficulty"] if segment else None,
    }


def _reasons(row: pd.Series, rules: ThresholdConfig) -> list[str]:
    reasons = []
    if row["sharpness"] < rules.min_sharpness:
        reasons.append(f"blurry: sharpness {row['sharpness']:.1f} < {rules.min_sharpness}")
    if row["luma_mean"] < rules.min_luma:
        reasons.append(f"too dark: mean luma {row['luma_mean']:.1f} < {rules.min_luma}")
    if row["luma_mean"] > rules.max_luma:
        reasons.append(f"washed out: mean luma {row['luma_mean']:.1f} > {rules.max_luma}")
    clipped = max(row["clipped_dark"], row["clipped_bright"])
    if clipped > rules.max_clipped:
        reasons.append(f"clipped exposure: {clipped:.2f} of pixels > {rules.max_clipped}")
    if row["motion_p95"] > rules.max_motion:
        reasons.append(f"too shaky: p95 motion {row['motion_p95']:.1f} > {rules.max_motion}")
    if rules.reject_duplicates and row["duplicate_of"]:
        reasons.append(f"near-duplicate of {row['duplicate_of']}")
    aesthetic = row.get("aesthetic")
    if (
        rules.min_aesthetic is not None
        and aesthetic is not None
        and aesthetic < rules.min_aesthetic
    ):
        reasons.append(f"low aesthetic score {aesthetic:.2f} < {rules.min_aesthetic}")
    return reasons


def judge(scores: pd.DataFrame, cfg: ScoreConfig) -> pd.DataFrame:
    """Mark near-duplicates (of an earlier clip) and keep/reject every clip with its reasons."""
    scores = scores.copy()
    hashes = [[int(h, 16) for h in value.split(",")] for value in scores["phash"]]
    duplicates = find_duplicates(list(scores["clip_id"]), hashes, cfg.duplicate_bits)
    scores["duplicate_of"] = [duplicates.get(clip_id, "") for clip_id in scores["clip_id"]]
    reasons = [_reasons(row, cfg.thresholds) for _, row in scores.iterrows()]
    scores["keep"] = [not r for r in reasons]
    scores["reasons"] = ["; ".join(r) for r in reasons]
    return scores


def camera_accuracy(scores: pd.DataFrame) -> dict:
    """Share of clips with known camera motion whose measured label matches it."""
    known = scores.dropna(subset=["true_camera"])
    if known.empty:
        return {"camera_accuracy": None, "camera_clips": 0}
    hits = (known["camera"] == known["true_camera"]).mean()
    return {"camera_accuracy": round(float(hits), 4), "camera_clips": len(known)}
