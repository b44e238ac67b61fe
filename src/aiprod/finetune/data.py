"""The precomputed latents of one phase as bucketed micro-batches for this rank."""

from __future__ import annotations

import logging
from pathlib import Path

from aiprod.config import AiprodConfig
from aiprod.finetune.bucket_batches import BucketBatches
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.runtime import Runtime
from aiprod.shards.stream import Split, StreamBatches
from aiprod.train.loop import rank_split

log = logging.getLogger(__name__)


def bucket_folders(latents_dir: str | Path, phase: int) -> list[Path]:
    root = Path(latents_dir) / f"phase{phase}"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "index.parquet").is_file())


def windows_in(latents_dir: str | Path, phase: int) -> int:
    return sum(sum(s.counts) for s in latent_shards(bucket_folders(latents_dir, phase)))


def trained_phases(config: AiprodConfig) -> list[int]:
    """The phases of `finetune.phases` that hold windows, in order (a phase the curation
    left empty, or all held out, is skipped with a warning); none at all is an error."""
    f = config.finetune
    kept = [k for k in f.phases if windows_in(f.latents_dir, k)]
    if not kept:
        raise ValueError(
            f"finetune.phases: none of {list(f.phases)} has a precomputed window under "
            f"{f.latents_dir}; check finetune.buckets against the clips"
        )
    if skipped := [k for k in f.phases if k not in kept]:
        log.warning("finetune: phases %s hold no window; skipped", skipped)
    return kept


def phase_batches(
    config: AiprodConfig, phase: int, runtime: Runtime, split: Split | None = None
) -> tuple[BucketBatches, Split]:
    """Phase K's windows, each micro-batch from one bucket; `split` (this rank's streams)
    is kept from a resumed run when given."""
    t = config.finetune.train
    split = split or rank_split(runtime, None)
    buckets = {}
    for folder in bucket_folders(config.finetune.latents_dir, phase):
        shards = latent_shards([folder])
        if sum(sum(s.counts) for s in shards):
            buckets[folder.name] = StreamBatches(
                shards, split, t.batch_size, seed=phase, buffer=config.train.shuffle_buffer,
                expand=expand_window, collate=training_collate(phase, t.tag_dropout),
            )  # fmt: skip
    if not buckets:
        raise ValueError(
            f"finetune.phases: phase {phase} has no precomputed window in any bucket "
            f"(under {config.finetune.latents_dir}); check finetune.buckets against the clips"
        )
    return BucketBatches(buckets, t.batch_size, runtime.ranks.world_size, seed=phase), split
