"""Motion read back from generated videos with OpenCV flow: agreement with a guide flow and
the direction an object moves."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import torch

from aiprod.config import ToleranceConfig
from aiprod.curation.motion import clip_flow
from aiprod.synth.world import DIRECTIONS

UPSCALE = 4  # DIS needs a few pixels per patch: tiny frames are flowed at 4x, then scaled back


def video_flow(video: torch.Tensor, stride: int = 1) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (P, 2, H, W) flow in px/frame at the video's size.

    Pairs (k, k+1) every `stride` frames, as the shards store them.
    """
    rgb = ((video.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 3, 0).numpy()
    grey = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in rgb])
    size = max(grey.shape[1:]) * UPSCALE
    big = np.stack([cv2.resize(g, None, fx=UPSCALE, fy=UPSCALE) for g in grey])
    flow = clip_flow(big, size, "medium", stride)
    # back to the video's size: average UPSCALE x UPSCALE blocks, divide the vectors
    p, _, h, w = flow.shape
    small = flow.reshape(p, 2, h // UPSCALE, UPSCALE, w // UPSCALE, UPSCALE).mean(axis=(3, 5))
    return small / UPSCALE


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """(P, 2, h, w) -> (P, 2, height, width), vectors rescaled with the size."""
    p, _, h, w = flow.shape
    if (h, w) == (height, width):
        return flow
    out = np.stack(
        [
            cv2.resize(f.transpose(1, 2, 0), (width, height), interpolation=cv2.INTER_LINEAR)
            for f in flow
        ]
    ).transpose(0, 3, 1, 2)
    out[:, 0] *= width / w
    out[:, 1] *= height / h
    return out


def flow_agreement(measured: np.ndarray, guide: np.ndarray, tol: ToleranceConfig) -> dict:
    """How well a video's measured flow follows a guide flow, per pixel.

    `moving`: over the pixels where the guide moves (at least `min_motion_px`), the share
    whose end-point error is within max(`epe_px`, `relative_epe` x the guide vector's length)
    and whose direction is within `angle_deg` of the guide's. A video that does not move
    fails it (no direction), however slow the guide. `all`: over every pixel, the end-point
    error within `epe_px` (and the angle where both move), which a still video passes
    wherever the guide is still or slow.
    """
    pairs = min(len(measured), len(guide))
    m, g = measured[:pairs], resize_flow(guide[:pairs].astype(np.float32), *measured.shape[2:])
    epe = np.linalg.norm(m - g, axis=1)
    speed_m, speed_g = np.linalg.norm(m, axis=1), np.linalg.norm(g, axis=1)
    cos = (m * g).sum(axis=1) / np.maximum(speed_m * speed_g, 1e-9)  # 0 (90 deg) if one is still
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    both_move = (speed_g >= tol.min_motion_px) & (speed_m >= tol.min_motion_px)
    agree = (epe <= tol.epe_px) & (~both_move | (angle <= tol.angle_deg))
    guide_moves = speed_g >= tol.min_motion_px
    follows = (epe <= np.maximum(tol.epe_px, tol.relative_epe * speed_g)) & (angle <= tol.angle_deg)
    return {
        "all": float(agree.mean()),
        "moving": float(follows[guide_moves].mean()) if guide_moves.any() else float("nan"),
        "moving_pixels": int(guide_moves.sum()),
    }


def moving_vector(flow: np.ndarray, min_px: float = 0.1) -> np.ndarray | None:
    """(dx, dy) px/frame: the mean vector of the pixels moving faster than the flow's 90th
    percentile (the object, not the background); None when nothing moves."""
    vectors = flow.transpose(0, 2, 3, 1).reshape(-1, 2)
    speed = np.linalg.norm(vectors, axis=1)
    if speed.max(initial=0) < min_px:
        return None
    return vectors[speed >= max(min_px, float(np.quantile(speed, 0.9)))].mean(axis=0)


def compass(vector: np.ndarray) -> str:
    """The nearest of the shapes world's eight directions."""
    return min(DIRECTIONS, key=lambda d: angle_between(vector, np.asarray(DIRECTIONS[d])))


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between two 2D vectors, in [0, 180]."""
    turn = math.atan2(a[1], a[0]) - math.atan2(b[1], b[0])
    return abs(math.degrees(math.remainder(turn, math.tau)))


def dominant_direction(flow: np.ndarray, min_px: float = 0.1) -> str | None:
    """The compass direction (of the shapes world's eight) of the flow's strongest motion."""
    vector = moving_vector(flow, min_px)
    return None if vector is None else compass(vector)


def motion_read_back(flow: np.ndarray, direction: str) -> dict:
    """How a video's object moves against the asked direction: its speed (px/frame at the
    video's size), the angle off that direction, and how much the direction wanders from
    frame pair to frame pair (circular spread of the pairs' directions, degrees: 0 for a
    straight path). NaN where nothing moves."""
    vector = moving_vector(flow)
    if vector is None:
        return {"speed_px": 0.0, "angle_error_deg": math.nan, "path_spread_deg": math.nan}
    pairs = [v for f in flow if (v := moving_vector(f[None])) is not None]
    units = np.array([v / max(float(np.linalg.norm(v)), 1e-9) for v in pairs])
    length = float(np.linalg.norm(units.mean(axis=0)))
    spread = math.degrees(math.sqrt(-2.0 * math.log(max(length, 1e-9))))
    return {
        "speed_px": float(np.linalg.norm(vector)),
        "angle_error_deg": angle_between(vector, np.asarray(DIRECTIONS[direction])),
        "path_spread_deg": spread,
    }


def motion_summary(table: pd.DataFrame) -> dict:
    """Medians over the videos of an adherence table: what separates a generated object's
    motion from a real one's, beside the direction share (a slow, wandering object lands
    in a neighbouring compass sector although it goes roughly the right way)."""
    moving = table["angle_error_deg"].notna()
    error = table.loc[moving, "angle_error_deg"]
    return {
        "median_speed_px": round(float(table["speed_px"].median()), 3),
        "median_angle_error_deg": round(float(error.median()), 1) if moving.any() else None,
        "within_45_deg": round(float((error <= 45).sum() / len(table)), 4),
        "median_path_spread_deg": round(float(table.loc[moving, "path_spread_deg"].median()), 1)
        if moving.any()
        else None,
        "videos": len(table),
    }


def direction_reader_accuracy(
    clips: list[tuple[torch.Tensor, str]],
) -> dict:
    """How often `dominant_direction` names the true direction of real single-object clips:
    the ceiling the generated videos' direction adherence is read against."""
    hits = [dominant_direction(video_flow(video)) == truth for video, truth in clips]
    return {"accuracy": round(float(np.mean(hits)), 4) if hits else None, "clips": len(hits)}
