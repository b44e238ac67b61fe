"""Rules that span sections: window shapes against the chosen preset's networks.

A phase whose frames do not fit the VAE's temporal factor, or whose size the patches do not
tile, would fail deep inside a training stage after hours of curation; these checks name the
key when the params file is read, before any stage does work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiprod.nn.presets import preset

if TYPE_CHECKING:
    from aiprod.config import AiprodConfig


def _windows(config: AiprodConfig) -> list[tuple[str, object]]:
    """Every section that cuts training windows: (key path, section)."""
    return [(f"train.phase{k}", config.train.phase(k)) for k in range(1, 6)]


def _cut(cfg: object) -> tuple[int, int, int]:
    return (cfg.frames, cfg.size, cfg.frame_step)


def _shared_latents(config: AiprodConfig) -> list[str]:
    """Phases that read another phase's latents (replay, the ablation) need
    that phase's windows cut the same way: latents are encoded once, per phase."""
    problems = []
    for k in range(1, 6):
        cfg = config.train.phase(k)
        if not config.curriculum.enabled:
            readers = [j for j in range(1, 6) if j != k]
        else:
            readers = list(range(1, k)) if cfg.replay else []
        for j in readers:
            if _cut(config.train.phase(j)) != _cut(cfg):
                why = "replay" if config.curriculum.enabled else "curriculum.enabled: false"
                problems.append(
                    f"train.phase{k}: with {why} it reads phase {j}'s latents, so frames, size "
                    f"and frame_step must match phase {j}'s {_cut(config.train.phase(j))}, "
                    f"got {_cut(cfg)}"
                )
                break
    return problems


def cross_field_problems(config: AiprodConfig) -> list[str]:
    """`key.path: what is wrong` for every cross-section rule the config breaks."""
    chosen = preset(config.model.preset)
    tf, sf = chosen.vae.temporal_factor, chosen.vae.spatial_factor
    pt, ph, pw = chosen.backbone.patch
    max_t, max_h, _ = chosen.backbone.max_grid
    clip_frames = int(config.ingest.clip_seconds.max * config.ingest.target.fps)
    problems = []

    def frames_fit(key: str, frames: int, step: int) -> None:
        if (frames - 1) % tf:
            problems.append(
                f"{key}.frames: must be 1 + {tf}k (the VAE's temporal factor), got {frames}"
            )
        span = (frames - 1) * step + 1
        if span > clip_frames:
            problems.append(
                f"{key}.frames: {frames} frames at frame_step {step} span {span} source frames; "
                f"clips hold at most {clip_frames} (ingest.clip_seconds.max x target.fps)"
            )

    frames_fit("train_vae", config.train_vae.frames, config.train_vae.frame_step)
    if config.train_vae.size % sf:
        problems.append(
            f"train_vae.size: must be a multiple of {sf} (the VAE's spatial factor), "
            f"got {config.train_vae.size}"
        )
    for key, cfg in _windows(config):
        frames_fit(key, cfg.frames, cfg.frame_step)
        tile = sf * max(ph, pw)
        if cfg.size % tile:
            problems.append(
                f"{key}.size: must be a multiple of {tile} (VAE factor {sf} x patch {ph}), "
                f"got {cfg.size}"
            )
        latent_frames = 1 + (cfg.frames - 1) // tf
        if latent_frames % pt or latent_frames // pt > max_t:
            problems.append(
                f"{key}.frames: {latent_frames} latent frames do not fit the backbone "
                f"(time patch {pt}, at most {max_t * pt})"
            )
        if cfg.temporal_weight > 0 and latent_frames < 2:
            problems.append(
                f"{key}.temporal_weight: {cfg.temporal_weight} weighs the change between "
                f"latent frames, and {cfg.frames} frames make one (use frames >= {1 + tf}, or 0)"
            )
        if cfg.size // sf // ph > max_h:
            problems.append(
                f"{key}.size: {cfg.size} px is beyond the backbone's learned positions "
                f"(at most {max_h * ph * sf} px for preset {config.model.preset})"
            )
    problems += _shared_latents(config)
    if not config.encode.tagged_captions:
        problems += [
            f"{key}.tag_dropout: {cfg.tag_dropout} trains on tagged captions, "
            "which encode.tagged_captions: false does not embed (set it true, or tag_dropout 1.0)"
            for key, cfg in _windows(config)
            if cfg.tag_dropout < 1.0
        ]
    if config.finetune.base == "aiprod":  # a diffusers base's grid is read from its folder
        from aiprod.finetune.checks import bucket_problems

        problems += bucket_problems(config, tf, sf * max(ph, pw))
    if config.score.flow.stride != tf:
        problems.append(
            f"score.flow.stride: must equal the VAE's temporal factor ({tf}), so each latent "
            f"frame has its flow field, got {config.score.flow.stride}"
        )
    return problems
