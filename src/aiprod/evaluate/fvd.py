"""FVD of generated against held-out clips, with the real-vs-real floor, every side streamed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from aiprod.train.data import PixelWindow, phase_dirs, pixel_shards, pixel_windows


def _features(extractor: Extractor, videos: Iterator[torch.Tensor]) -> np.ndarray:
    """Features of a stream of video batches (never all videos at once)."""
    parts = [extractor(batch).numpy() for batch in videos]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def _batched(items: Iterator[torch.Tensor], size: int = BATCH) -> Iterator[torch.Tensor]:
    while batch := list(islice(items, size)):
        yield torch.stack(batch)


@dataclass
class RealSet:
    """The held-out side of FVD, computed once: its features in the principal basis the
    Gaussians are fit in, and the captions generated videos are made from (so every
    generated set is compared with the same real one). The clips' guide flows are streamed
    again when a guided set is made, not held (2,048 of them can be large)."""

    extractor: Extractor
    captions: list[str]
    features: np.ndarray  # (N, dims), projected
    basis: np.ndarray | None
    dims: int
    feature_dims: int
    frames: int
    # held-out clips per curriculum phase: the floor draws as many training clips of each
    phases: Counter[int] = field(default_factory=Counter)

    def project(self, features: np.ndarray) -> np.ndarray:
        return features @ self.basis if self.basis is not None and len(features) else features

    def fvd(self, videos: Iterator[torch.Tensor]) -> float | None:
        """FVD of a stream of generated video batches against the held-out clips."""
        return _distance(self.features, self.project(_features(self.extractor, videos)))


def real_set(generator: VideoGenerator, config: AiprodConfig) -> RealSet:
    """Held-out clips (up to `evaluate.fvd_videos`), streamed through the extractor.

    With fewer videos than twice the feature dimensions (the demo: 68 against 64 dims), a
    covariance would be singular; distances are then taken in the real features' top
    principal components, as many as the smallest set (real, generated, the train floor: all
    of one count) can fit at full rank (`dims`)."""
    ev = config.evaluate
    extractor = make_extractor(
        ev.fvd_extractor,
        Path(config.classifier.out_dir) / CLASSIFIER_FILE,
        ev.i3d_path,
        generator.runtime.device,
    )
    captions: list[str] = []
    phases: Counter[int] = Counter()
    frames = 0

    def real() -> Iterator[torch.Tensor]:
        nonlocal frames
        for h in held_out(config, ev.fvd_videos):
            captions.append(h.caption)
            phases[h.phase or 5] += 1
            frames = int(h.video.shape[1])
            yield h.video

    features = _features(extractor, _batched(real()))
    n = len(features)
    dims = full_rank_dims(features.shape[1], *([n] if n >= 2 else [0]))
    basis = principal_basis(features, dims) if n >= 2 else None
    projected = features @ basis if basis is not None else features
    return RealSet(
        extractor, captions, projected, basis, dims, int(features.shape[1]), frames, phases
    )


def generated_batches(
    generator: VideoGenerator,
    real: RealSet,
    config: AiprodConfig,
    guided: bool = False,
    strength: float = 0.0,
) -> Iterator[torch.Tensor]:
    """Videos of the held-out captions, batch by batch; `guided`: each under its own clip's
    flow at `strength` (the held-out windows streamed again, in the same order)."""
    guides = (h.guide for h in held_out(config, len(real.captions))) if guided else None
    for k in range(0, len(real.captions), BATCH):
        flows = torch.stack(list(islice(guides, BATCH))) if guides is not None else None
        yield generate_batched(generator, real.captions[k : k + BATCH], config, flows, strength)


def fvd_metrics(generator: VideoGenerator, config: AiprodConfig, real: RealSet) -> dict:
    """FVD of generated vs held-out real clips, and of as many real training clips vs the
    held-out ones (the floor), every side streamed in batches. A distance needs two videos
    on each side; with fewer (a tiny corpus) it is null."""
    fvd = real.fvd(generated_batches(generator, real, config))
    train = (w.as_float() for w in matched_train_windows(config, real.phases))
    floor = _features(real.extractor, _batched(train))
    return {
        "extractor": real.extractor.name,
        "fvd": fvd,
        "fvd_real_train_vs_held_out": _distance(real.features, real.project(floor)),
        "videos": len(real.captions),
        "videos_generated": len(real.captions),
        "videos_train_floor": len(floor),
        "feature_dims": real.feature_dims,
        "fit_dims": real.dims,  # principal components of the real features the Gaussians are fit in
        "frames_per_video": real.frames,
    }


def matched_train_windows(config: AiprodConfig, phases: Counter[int]) -> Iterator[PixelWindow]:
    """Training clips (never held out) of each phase, as many as the held-out set holds of
    it, cut as the held-out windows are: the floor compares like with like, so it shows
    what FVD reads between two real sets of this size, not the gap between phases."""
    spec = phase_windows(config, 5, 1)
    share = config.shards.holdout_share
    for phase, count in sorted(phases.items()):
        shards = pixel_shards(phase_dirs(config.shards.dir, [phase]), spec, share, holdout=False)
        windows = sequential(shards, lambda raw: pixel_windows(raw, spec))
        yield from islice(windows, count)


def _distance(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(feature_distance(a, b), 4) if min(len(a), len(b)) >= 2 else None
