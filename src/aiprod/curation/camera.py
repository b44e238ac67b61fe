"""Camera motion: a similarity transform fitted to the flow with RANSAC, then named.

Objects move on their own, so the camera is what most of the picture agrees on: RANSAC
keeps the dominant (background) motion and treats moving objects as outliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CAMERA_CLASSES = (
    "static",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "complex",
)
GRID_STEP = 4  # flow samples every 4 pixels


@dataclass(frozen=True)
class CameraMotion:
    """Median per-frame global motion and its name."""

    dx: float  # picture content moves right (> 0) in pixels per frame at the flow size
    dy: float  # picture content moves down (> 0)
    zoom: float  # per-frame scale ratio - 1 (> 0: content grows, zooming in)
    inliers: float  # share of samples that agree with the fitted model
    label: str


def _grid_points(height: int, width: int) -> np.ndarray:
    """Sample points every GRID_STEP pixels. Flat areas vote too: on a plain background with
    a still camera their near-zero flow is the right answer, and outvotes the moving objects."""
    ys, xs = np.mgrid[0:height:GRID_STEP, 0:width:GRID_STEP]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def fit_pair(flow: np.ndarray) -> tuple[float, float, float, float] | None:
    """(dx, dy, zoom, inlier share) of one (2, h, w) flow, or None if RANSAC finds no model."""
    h, w = flow.shape[1:]
    points = _grid_points(h, w)
    vectors = flow[:, points[:, 1].astype(int), points[:, 0].astype(int)].T
    matrix, inliers = cv2.estimateAffinePartial2D(
        points,
        points + vectors,
        method=cv2.RANSAC,
        ransacReprojThreshold=0.5,
        maxIters=200,
        confidence=0.98,
        refineIters=5,
    )
    if matrix is None:
        return None
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    centre = np.array([w / 2, h / 2])
    moved = matrix[:, :2] @ centre + matrix[:, 2]  # where the frame centre goes
    shift = moved - centre
    return float(shift[0]), float(shift[1]), scale - 1.0, float(inliers.mean())


def classify(
    dx: float,
    dy: float,
    zoom: float,
    inliers: float,
    still_px: float,
    zoom_rate: float,
    min_inliers: float,
) -> str:
    """Name the dominant motion; thresholds are per frame at the flow analysis size."""
    if inliers < min_inliers:
        return "complex"
    translation = np.hypot(dx, dy)
    if abs(zoom) >= zoom_rate and abs(zoom) * 32 >= translation:
        return "zoom_in" if zoom > 0 else "zoom_out"
    if translation < still_px:
        return "static"
    if abs(dx) >= abs(dy):
        return "pan_left" if dx > 0 else "pan_right"  # the camera turns left: content moves right
    return "tilt_up" if dy > 0 else "tilt_down"


def camera_motion(
    flow: np.ndarray, still_px: float, zoom_rate: float, min_inliers: float
) -> CameraMotion:
    """Fit every pair, take medians (robust to a bad pair), and name the result."""
    fits = [fit_pair(f) for f in flow]
    fits = [fit for fit in fits if fit is not None]
    if not fits:
        return CameraMotion(0.0, 0.0, 0.0, 0.0, "complex")
    dx, dy, zoom, inliers = (float(v) for v in np.median(np.array(fits), axis=0))
    label = classify(dx, dy, zoom, inliers, still_px, zoom_rate, min_inliers)
    return CameraMotion(dx, dy, zoom, inliers, label)
