"""Checks of the short path's params against the base, made before any work: each bucket
must fit the base's latent grid, and be no longer than the clips ingest cuts."""

from __future__ import annotations

from aiprod.config import AiprodConfig, ConfigError


def grid_of(config: AiprodConfig) -> tuple[int, int]:
    """(frames step, side multiple) of the configured base."""
    f = config.finetune
    if f.base == "aiprod":
        from aiprod.nn.presets import preset

        chosen = preset(config.model.preset)
        patch = max(chosen.backbone.patch[1:])
        return chosen.vae.temporal_factor, chosen.vae.spatial_factor * patch
    from aiprod.finetune.bases import check_base_path
    from aiprod.finetune.diffusers_model import grid_multiples

    spec = check_base_path(f.base, f.base_path)
    return grid_multiples(f.base_path, spec)


def bucket_problems(config: AiprodConfig, frames_step: int, side: int) -> list[str]:
    f = config.finetune
    clip_frames = int(config.ingest.clip_seconds.max * config.ingest.target.fps)
    problems = []
    for i, b in enumerate(f.buckets):
        key = f"finetune.buckets[{i}]"
        if (b.frames - 1) % frames_step:
            problems.append(
                f"{key}.frames: {f.base} takes 1 + {frames_step}k frames, got {b.frames}"
            )
        for name, value in (("width", b.width), ("height", b.height)):
            if value % side:
                problems.append(f"{key}.{name}: {f.base} takes multiples of {side}, got {value}")
        span = (b.frames - 1) * f.frame_step + 1
        if span > clip_frames:
            problems.append(
                f"{key}.frames: {b.frames} frames at finetune.frame_step {f.frame_step} span "
                f"{span} source frames; clips hold at most {clip_frames}"
            )
    return problems


def check_finetune(config: AiprodConfig) -> None:
    """ConfigError naming every bad key (the base folder first, then the buckets)."""
    problems = bucket_problems(config, *grid_of(config))
    if problems:
        raise ConfigError("\n".join(["params: invalid finetune keys", *problems]))
