"""LoRA fine-tuning (peft) of a pretrained text-to-video checkpoint: the short path.

Low-rank adapters go on the backbone's attention projections; everything else stays frozen.
It streams the latents `lora_precompute` wrote for `finetune.phases`, phase after phase,
on the runtime's device, and runs under torchrun the same way.
The adapters are saved in peft's format (`adapter/`, loadable with `PeftModel.from_pretrained`
on the same base) and also folded into a full checkpoint (`merged.pt`) that `aiprod generate`
loads like any other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model

from aiprod.config import AiprodConfig, FinetuneConfig
from aiprod.fsutil import fingerprint
from aiprod.nn.rectified_flow import LossWeights
from aiprod.runtime import Runtime
from aiprod.shards.stream import listing
from aiprod.train.checkpoint import TrainState, resumable
from aiprod.train.codec import resolve_vae, vae_reference
from aiprod.train.loop import (
    MetricLogger,
    MetricsOpener,
    no_metrics,
    phase_loop,
    rank_split,
    train,
)
from aiprod.train.t2v import ModelSpec, TextToVideo, load_model, save_model, t2v_loss

ADAPTER_DIR = "adapter"
MERGED_FILE = "merged.pt"


def add_adapters(model: TextToVideo, cfg: FinetuneConfig) -> TextToVideo:
    """Freeze the model and wrap its backbone with LoRA adapters on `cfg.targets`."""
    model.requires_grad_(False)
    lora = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.targets
    )
    model.backbone = get_peft_model(model.backbone, lora)
    return model


def trainable_share(model: TextToVideo) -> float:
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / max(1, total)


def merged(model: TextToVideo) -> TextToVideo:
    """The adapters folded into the base weights (the backbone is a plain module again)."""
    if isinstance(model.backbone, PeftModel):
        model.backbone = model.backbone.merge_and_unload()
    return model


def validation_videos(
    config: AiprodConfig, model_file: Path, runtime: Runtime, out_dir: Path, step: int
) -> dict:
    """The validation prompts sampled with the merged model, into
    `<out_dir>/validation/step-N/` beside the DVCLive curves."""
    from aiprod.generate import VideoGenerator, write_video

    v = config.finetune.validation
    generator = VideoGenerator(model_file, runtime=runtime)
    shutil.rmtree(out_dir / "validation", ignore_errors=True)  # an earlier run's steps
    videos = []
    for k, prompt in enumerate(v.prompts):
        video = generator([prompt], steps=v.steps, cfg=v.cfg, seed=v.seed + k)[0]
        path = out_dir / "validation" / f"step-{step:06d}" / f"prompt-{k:02d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, video, generator.fps, scale=4)
        videos.append({"prompt": prompt, "video": str(path)})
    return {"step": step, "videos": videos}


def _offset(log_metric: MetricLogger | None, steps: int) -> MetricLogger | None:
    """A phase's curve continues the previous phases' on one step axis."""
    if log_metric is None:
        return None
    return lambda name, value, step: log_metric(name, value, step + steps)


def finetune_stage(
    config: AiprodConfig, runtime: Runtime, metrics: MetricsOpener = no_metrics
) -> dict:
    """Adapters trained through `finetune.phases` in order (curriculum LoRA), each phase on
    its precomputed bucket folders; rank 0 saves them and the merged checkpoint."""
    from aiprod.finetune.checks import check_finetune
    from aiprod.finetune.data import bucket_folders, phase_batches, trained_phases
    from aiprod.finetune.export import data_hash, write_card
    from aiprod.finetune.held_out import held_out_loss, held_out_summary
    from aiprod.finetune.precompute import read_meta

    check_finetune(config)
    cfg = config.finetune
    model, payload = load_model(cfg.base_path)
    encoded_by = read_meta(cfg.latents_dir).get("vae_sha256")
    if payload.get("vae_sha256") and encoded_by and encoded_by != payload["vae_sha256"]:
        raise ValueError(
            f"finetune.base_path: {cfg.base_path} was trained with another VAE than the one "
            f"that encoded {cfg.latents_dir} (run the lora_precompute stage again)"
        )
    t = cfg.train
    model = add_adapters(model.train(), cfg)
    share = trainable_share(model)

    def objective(seed: int):  # noqa: ANN202 (the training loss at a grid seed, no text dropped)
        weights = LossWeights(t.motion_weight, t.temporal_weight)
        return t2v_loss(0.0, t.flow_dropout, t.timestep_mean, seed, weights)

    # the adapters start at zero: this is the base's own loss. Every rank takes it (rank 0
    # reports it): none waits in training's first collective while rank 0 alone evaluates
    before = held_out_loss(runtime.to(model), objective, cfg.latents_dir, runtime)
    out_dir = Path(cfg.out_dir)
    losses, result, previous = [], None, ""
    phases = trained_phases(config)
    for phase in phases:
        folders = bucket_folders(cfg.latents_dir, phase)
        # what this phase trains on: a checkpoint of other settings or data is not resumed
        previous = fingerprint(
            [cfg.model_dump(), listing(folders), phase, previous], [cfg.base_path]
        )
        loop = phase_loop(t, 0, config.train.checkpoint_every, fingerprint=previous)
        run_dir = out_dir / "run" / f"phase{phase}"
        resumed = resumable(run_dir, loop.fingerprint)
        data, split = phase_batches(config, phase, runtime, rank_split(runtime, resumed))
        with metrics(resumed is not None or phase != phases[0]) as log_metric:
            result = train(
                model,
                t2v_loss(
                    t.text_dropout,
                    t.flow_dropout,
                    t.timestep_mean,
                    0,
                    LossWeights(t.motion_weight, t.temporal_weight),
                ),
                data,
                loop,
                run_dir,
                runtime,
                log_metric=_offset(log_metric, phases.index(phase) * t.steps),
                state=TrainState(data_streams=split.streams),
            )
        losses += result.losses
    if not runtime.ranks.main:
        return {}
    tuned = result.averaged  # the EMA of the adapted model (frozen weights are unchanged)
    after = held_out_loss(runtime.to(tuned), objective, cfg.latents_dir, runtime)
    tuned.backbone.save_pretrained(str(out_dir / ADAPTER_DIR))
    spec = ModelSpec(**payload["spec"])
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    target = out_dir / MERGED_FILE
    info.update(vae_reference(resolve_vae(cfg.base_path, payload), target))
    save_model(target, merged(tuned).eval(), spec, **info, lora_of=cfg.base_path)
    steps = len(phases) * t.steps
    validation = [validation_videos(config, target, runtime, out_dir, steps)]
    last = result.state.last_loss
    metrics = {
        "base": "aiprod",
        "steps": steps,
        "phases": phases,
        "trainable_share": round(share, 5),
        "first_loss": round(losses[0], 5) if losses else None,
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 5)
        if losses
        else last and round(last, 5),  # a reused finished run: its last step's
        "steps_this_run": len(losses),
        "windows_per_epoch": data.items_per_epoch,
        "held_out": held_out_summary(before, after),
        "validation": validation,
    }
    facts = {
        "base": "aiprod",
        "base_path": cfg.base_path,
        "data_sha256": data_hash(cfg.latents_dir),
        **{k: metrics[k] for k in ("phases", "steps", "first_loss", "final_loss", "held_out")},
        "rank": cfg.rank,
        "alpha": cfg.alpha,
    }
    write_card(out_dir, None, "aiprod", facts)
    return metrics
