"""FVD of generated against held-out clips, with the real-vs-real floor, every side streamed."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from aiprod.config import AiprodConfig
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.features import Extractor, make_extractor
from aiprod.evaluate.frechet import feature_distance, full_rank_dims, principal_basis
from aiprod.evaluate.held_out import held_out
from aiprod.evaluate.sampling import BATCH, generate_batched
from aiprod.generate import VideoGenerator
from aiprod.latents.stage import phase_windows
from aiprod.shards.stream import sequential
from aiprod.train.data import phase_dirs, pixel_shards, pixel_windows


def _features(extractor: Extractor, videos: Iterator[torch.Tensor]) -> np.ndarray:
    """Features of a stream of video batches (never all videos at once)."""
    parts = [extractor(batch).numpy() for batch in videos]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def _batched(items: Iterator[torch.Tensor], size: int = BATCH) -> Iterator[torch.Tensor]:
    while batch := list(islice(items, size)):
        yield torch.stack(batch)


def fvd_metrics(generator: VideoGenerator, config: AiprodConfig) -> dict:
    """FVD of generated vs held-out real clips (up to `evaluate.fvd_videos`), and of as many
    real training clips vs the held-out ones (the floor), every side streamed in batches.

    With fewer videos than twice the feature dimensions (the demo: 63 against 64 dims), a
    covariance would be singular; both distances are then taken in the real features' top
    principal components, as many as the smallest set can fit at full rank (`fit_dims`).

    A distance needs two videos on each side; with fewer (a tiny corpus) it is null."""
    ev = config.evaluate
    extractor = make_extractor(
        ev.fvd_extractor,
        Path(config.classifier.out_dir) / CLASSIFIER_FILE,
        ev.i3d_path,
        generator.runtime.device,
    )
    captions: list[str] = []
    frames = 0

    def real() -> Iterator[torch.Tensor]:
        nonlocal frames
        for h in held_out(config, ev.fvd_videos):
            captions.append(h.caption)
            frames = int(h.video.shape[1])
            yield h.video

    real_features = _features(extractor, _batched(real()))
    generated = (
        generate_batched(generator, captions[k : k + BATCH], config)
        for k in range(0, len(captions), BATCH)
    )
    fake_features = _features(extractor, generated)
    spec = phase_windows(config, 5, 1)
    train_shards = pixel_shards(
        phase_dirs(config.shards.dir, [5]), spec, config.shards.holdout_share, holdout=False
    )
    train_windows = (
        w.as_float() for w in sequential(train_shards, lambda raw: pixel_windows(raw, spec))
    )
    floor = _features(extractor, _batched(islice(train_windows, len(captions))))  # equal counts
    counts = [n for n in (len(real_features), len(fake_features), len(floor)) if n >= 2]
    dims = full_rank_dims(real_features.shape[1], *(counts or [0]))  # sets a distance uses
    basis = principal_basis(real_features, dims) if len(real_features) >= 2 else None

    def project(features: np.ndarray) -> np.ndarray:
        return features @ basis if basis is not None and len(features) else features

    return {
        "extractor": extractor.name,
        "fvd": _distance(project(real_features), project(fake_features)),
        "fvd_real_train_vs_held_out": _distance(project(real_features), project(floor)),
        "videos": len(captions),
        "videos_generated": len(fake_features),
        "videos_train_floor": len(floor),
        "feature_dims": int(real_features.shape[1]),
        "fit_dims": dims,  # principal components of the real features the Gaussians are fit in
        "frames_per_video": frames,
    }


def _distance(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(feature_distance(a, b), 4) if min(len(a), len(b)) >= 2 else None
