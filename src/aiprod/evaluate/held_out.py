"""Held-out windows (latent guide flow beside the real pixels) and flow agreement of videos
generated under their flow at each guidance strength."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch

from aiprod.config import AiprodConfig
from aiprod.evaluate.motion import flow_agreement, video_flow
from aiprod.evaluate.sampling import generate_batched
from aiprod.generate import VideoGenerator
from aiprod.latents.batches import choose_variant, expand_window, latent_shards
from aiprod.latents.stage import phase_windows
from aiprod.shards.stream import sequential
from aiprod.train.data import first_fields, phase_dirs, pixel_shards, pixel_windows
from aiprod.train.phase_stage import PHASES, latent_dir


@dataclass
class HeldOut:
    """A held-out window as evaluation uses it: caption, latent-grid guide flow (what the
    model conditions on), the stored pixel flow (what agreement is measured against), and
    the real frames."""

    caption: str
    guide: torch.Tensor  # (2, P, h, w) at the latent grid
    flow: np.ndarray  # (P, 2, H, W) px/frame at the stored size
    video: torch.Tensor  # (3, T, H, W) in [-1, 1]
    phase: int | None = None  # the curriculum phase whose shards hold the clip


def held_out(config: AiprodConfig, limit: int) -> Iterator[HeldOut]:
    """The first `limit` held-out windows at phase 5's settings: the latent shards that
    `encode` wrote for phase 5, beside the pixel windows they were cut from (same order and
    keys)."""
    ev = config.evaluate
    spec = phase_windows(config, 5, 1)
    pixels = sequential(
        pixel_shards(
            phase_dirs(config.shards.dir, list(PHASES)),
            spec,
            config.shards.holdout_share,
            holdout=True,
        ),
        lambda raw: pixel_windows(raw, spec),
    )
    latents = sequential(latent_shards([latent_dir(config, 5, "heldout")]), expand_window)
    for i, (latent, pixel) in enumerate(islice(zip(latents, pixels, strict=False), limit)):
        if latent.key != pixel.key:
            raise ValueError(
                f"{latent_dir(config, 5, 'heldout')}: {latent.key} where the pixel shards "
                f"give {pixel.key} (re-run `dvc repro encode`)"
            )
        row = choose_variant(latent.texts, i, ev.seed, tag_dropout=1.0)
        pairs = latent.flow.shape[1]
        yield HeldOut(
            latent.texts[row]["text"],
            torch.from_numpy(latent.flow.astype(np.float32)),
            first_fields(pixel.flow, pairs),
            pixel.as_float(),
            pixel.meta.get("phase"),
        )


def flow_guidance_metrics(
    generator: VideoGenerator, held: list[HeldOut], config: AiprodConfig
) -> tuple[dict, dict[float, torch.Tensor]]:
    ev = config.evaluate
    stride = generator.codec.temporal_factor
    results, videos = {}, {}
    if not held:  # a tiny corpus may hold no clip out: nothing to guide with
        empty = {"all_pixels": None, "moving_pixels": None, "videos": 0}
        keys = [f"s{s:g}" for s in ev.guidance_strengths]
        keys += ["real_clips_ceiling", "vae_read_back_ceiling"]
        keys += ["baseline_static_video", "baseline_other_clip"]
        return {key: empty for key in keys}, {}
    captions = [h.caption for h in held]
    guides = torch.stack([h.guide for h in held])

    def agreement(measured: list[np.ndarray]) -> dict:
        pairs = zip(measured, held, strict=True)
        scores = [flow_agreement(m, h.flow, ev.tolerance) for m, h in pairs]
        moving = [s["moving"] for s in scores if not np.isnan(s["moving"])]
        return {
            "all_pixels": round(float(np.mean([s["all"] for s in scores])), 4),
            "moving_pixels": round(float(np.mean(moving)), 4) if moving else None,
            "videos": len(held),
        }

    for strength in ev.guidance_strengths:
        generated = generate_batched(generator, captions, config, guides, strength)
        results[f"s{strength:g}"] = agreement([video_flow(v, stride) for v in generated])
        videos[strength] = generated
    real_videos = [h.video for h in held]
    real = [video_flow(video, stride) for video in real_videos]
    results["real_clips_ceiling"] = agreement(real)  # the estimator on the guides' own clips
    # a generated video is decoded by the VAE: the guides' clips read back through it are
    # the most a model sampling in its latent space can agree
    results["vae_read_back_ceiling"] = agreement(
        [video_flow(v, stride) for v in generator.codec.read_back(torch.stack(real_videos))]
    )
    results["baseline_static_video"] = agreement([np.zeros_like(f) for f in real])
    if len(held) > 1:  # another held-out clip's motion: what agreement by chance looks like
        results["baseline_other_clip"] = agreement(real[1:] + real[:1])
    return results, videos
