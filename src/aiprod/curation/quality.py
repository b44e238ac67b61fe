"""Picture statistics of a clip: sharpness, exposure, lighting change, complexity."""

from __future__ import annotations

import cv2
import numpy as np

DARK, BRIGHT = 16, 235  # luma levels counted as clipped


def sharpness(grays: np.ndarray) -> float:
    """Mean variance of the Laplacian: blur and heavy compression lower it."""
    return float(np.mean([cv2.Laplacian(g, cv2.CV_64F).var() for g in grays]))


def exposure(grays: np.ndarray) -> dict[str, float]:
    """Mean luma and the shares of crushed blacks and blown highlights."""
    return {
        "luma_mean": float(grays.mean()),
        "clipped_dark": float((grays <= DARK).mean()),
        "clipped_bright": float((grays >= BRIGHT).mean()),
    }


def lighting(grays: np.ndarray) -> dict[str, float]:
    """Slow change (fades: range of the smoothed mean luma) and flicker (frame-to-frame jitter)."""
    means = grays.reshape(len(grays), -1).mean(axis=1)
    if len(means) < 3:
        return {"lighting_change": 0.0, "lighting_trend": 0.0, "flicker": 0.0}
    kernel = np.ones(3) / 3
    smooth = np.convolve(means, kernel, mode="valid")
    jitter = np.abs(np.diff(means - np.convolve(means, kernel, mode="same")))[1:-1]
    return {
        "lighting_change": float((smooth.max() - smooth.min()) / (means.mean() + 1.0)),
        "lighting_trend": float((smooth[-1] - smooth[0]) / (means.mean() + 1.0)),
        "flicker": float(jitter.mean() / (means.mean() + 1.0)) if len(jitter) else 0.0,
    }


def complexity(sample: np.ndarray, grays: np.ndarray) -> dict[str, float]:
    """Edge density (Canny) of the grey frames and the colour clusters (>= 1% of pixels) of
    one BGR frame."""
    edges = float(np.mean([(cv2.Canny(g, 80, 160) > 0).mean() for g in grays]))
    quantised = (sample // 64).reshape(-1, 3).astype(np.int32)
    codes = quantised[:, 0] * 16 + quantised[:, 1] * 4 + quantised[:, 2]
    shares = np.bincount(codes, minlength=64) / len(codes)
    return {"edge_density": edges, "colour_clusters": int((shares >= 0.01).sum())}


def luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) grey frames of a BGR clip."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames])
