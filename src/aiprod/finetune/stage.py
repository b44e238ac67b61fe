"""Stage `finetune` on a diffusers base, end to end: check the base folder and the buckets,
train, validate, export."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from aiprod.config import AiprodConfig
from aiprod.finetune.bases import BaseSpec
from aiprod.finetune.buckets import Bucket
from aiprod.finetune.checks import check_finetune
from aiprod.finetune.data import trained_phases
from aiprod.finetune.diffusers_model import (
    Denoiser,
    DiffusersCodec,
    load_vae,
    scheduler_config,
    sigma_shift,
)
from aiprod.finetune.export import data_hash, save_adapter, write_card
from aiprod.finetune.held_out import held_out_loss, held_out_summary
from aiprod.finetune.precompute import VALIDATION_PROMPTS, read_meta
from aiprod.finetune.sampler import sample
from aiprod.finetune.trainer import (
    base_objective,
    build_denoiser,
    load_spec,
    null_text,
    train_lora,
)
from aiprod.runtime import Runtime
from aiprod.train.loop import MetricsOpener, no_metrics

log = logging.getLogger(__name__)


def validation_videos(
    config: AiprodConfig, spec: BaseSpec, runtime: Runtime, out_dir: Path
) -> Callable[[int, Denoiser], dict]:
    """Sample the validation prompts (their features precomputed) with the current
    adapters; only the VAE loads, to decode, and only while validating."""
    import numpy as np

    from aiprod.generate import write_video

    f = config.finetune
    v = f.validation
    file = Path(f.latents_dir) / VALIDATION_PROMPTS
    meta = read_meta(f.latents_dir)
    first = Bucket.from_name(meta["buckets"][0])
    width, height, frames = first.width, first.height, first.frames
    tf, sf = meta["temporal_factor"], meta["spatial_factor"]
    null = null_text(f.latents_dir)

    def validate(step: int, model: Denoiser) -> dict:
        if not file.is_file():
            return {"step": step, "videos": []}
        data = np.load(file)
        codec = DiffusersCodec(load_vae(f.base_path, spec, runtime.dtype)).to(runtime.device)
        hidden = torch.from_numpy(data["hidden"]).float().to(runtime.device)
        mask = torch.from_numpy(data["mask"]).to(runtime.device)
        channels = model.transformer.config.in_channels
        shape = (1, channels, 1 + (frames - 1) // tf, height // sf, width // sf)
        grid = 1 + (frames - 1) // tf
        shift = sigma_shift(scheduler_config(f.base_path), grid * (height // sf) * (width // sf))
        model.eval()
        videos = []
        for k, prompt in enumerate(v.prompts):
            generator = torch.Generator().manual_seed(v.seed + k)
            text = (hidden[k : k + 1], mask[k : k + 1])
            with runtime.autocast():
                latents = sample(model, shape, text, null, v.steps, v.cfg, shift, generator)
            video = codec.decode(latents)[0].cpu()
            path = out_dir / "validation" / f"step-{step:06d}" / f"prompt-{k:02d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(path, video, fps=8)
            videos.append({"prompt": prompt, "video": str(path)})
        del codec
        model.train()
        return {"step": step, "videos": videos}

    return validate


def finetune_diffusers(
    config: AiprodConfig, runtime: Runtime, metrics: MetricsOpener = no_metrics
) -> dict:
    """Train the adapters (and the flow encoder) on a diffusers base; rank 0 exports them.
    Validation videos land in `<out_dir>/validation/step-N/`, beside its DVCLive curves."""
    check_finetune(config)
    f = config.finetune
    spec = load_spec(config)
    out_dir = Path(f.out_dir)
    denoiser = build_denoiser(config, spec, runtime)
    trainable = sum(p.numel() for p in denoiser.parameters() if p.requires_grad)
    total = sum(p.numel() for p in denoiser.parameters())
    validate = validation_videos(config, spec, runtime, out_dir)

    def objective(seed: int):  # noqa: ANN202 (the training loss at a grid seed, no text dropped)
        return base_objective(config, denoiser, 0.0, seed)

    # the adapters start at zero: this is the base's own loss. Every rank takes it (rank 0
    # reports it): none waits in training's first collective while rank 0 alone evaluates
    before = held_out_loss(runtime.to(denoiser), objective, f.latents_dir, runtime)
    run = train_lora(config, denoiser, runtime, out_dir, validate, metrics=metrics)
    if not runtime.ranks.main:
        return {}
    units = {
        "save_size": config.score.flow.save_size,
        "stride": config.score.flow.stride,
        "frame_step": f.frame_step,
    }
    save_adapter(denoiser, out_dir, units)
    after = held_out_loss(denoiser, objective, f.latents_dir, runtime)
    losses = run.losses
    metrics = {
        "base": f.base,
        "steps": run.step,
        "phases": trained_phases(config),
        "trainable_share": round(trainable / max(1, total), 5),
        "first_loss": round(losses[0], 5) if losses else None,
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 5)
        if losses
        else run.last_loss and round(run.last_loss, 5),  # reused finished run: its last step's
        "steps_this_run": len(losses),
        "seconds_per_step": round(run.seconds_per_step, 4) if run.seconds_per_step else None,
        "held_out": held_out_summary(before, after),
        "validation": run.validations,
    }
    facts = {
        "base": f.base,
        "base_path": f.base_path,
        "data_sha256": data_hash(f.latents_dir),
        "phases": metrics["phases"],
        "steps": run.step,
        "rank": f.rank,
        "alpha": f.alpha,
        "targets": list(f.targets),
        "flow_guidance": f.flow_guidance,
        "metrics": {
            k: metrics[k] for k in ("first_loss", "final_loss", "trainable_share", "held_out")
        },
    }
    write_card(out_dir, spec, f.base, facts)
    return metrics
