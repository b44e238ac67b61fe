"""Stage `finetune` on a diffusers base: peft LoRA on its transformer (and the flow encoder),
through `finetune.phases` in order, on the precomputed latents; neither the text encoder nor
the VAE is loaded while training.

One optimiser and one learning-rate schedule (warm-up, cosine) run over all phases, each
phase `finetune.train.steps` steps on its own bucket folders. Only the trainable tensors are
checkpointed (`run/checkpoint.pt`, atomically), with the optimiser and the step: a killed run
resumes exactly where it stopped, reading the batches it would have read.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprod.config import AiprodConfig, ConfigError
from aiprod.finetune.bases import BaseSpec, check_base_path
from aiprod.finetune.buckets import Bucket
from aiprod.finetune.data import phase_batches, trained_phases
from aiprod.finetune.diffusers_model import (
    Denoiser,
    load_transformer,
    patch_embedding,
    scheduler_config,
    sigma_shift,
)
from aiprod.finetune.flow_encoder import FlowEncoder
from aiprod.finetune.objective import NullText, flow_matching_loss
from aiprod.finetune.precompute import NULL_TEXT, read_meta
from aiprod.fsutil import fingerprint, save_torch
from aiprod.nn.rectified_flow import LossWeights
from aiprod.runtime import Runtime
from aiprod.shards.stream import listing
from aiprod.train import distributed
from aiprod.train.checkpoint import TrainState
from aiprod.train.loop import LoopConfig, MetricsOpener, lr_lambda, no_metrics, rank_split

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def build_denoiser(config: AiprodConfig, spec: BaseSpec, runtime: Runtime) -> Denoiser:
    """The base transformer in the runtime's precision, frozen, with LoRA adapters (float32)
    on `finetune.targets`, and a zero-initialised flow encoder; initialised from
    `train.seed`, so a resumed run continues the run that wrote its checkpoint."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    f = config.finetune
    transformer = load_transformer(f.base_path, spec, runtime.dtype).requires_grad_(False)
    if runtime.cfg.grad_checkpointing:
        transformer.enable_gradient_checkpointing()
    if f.layerwise_fp8:
        transformer.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=runtime.dtype
        )
    with torch.random.fork_rng():  # the same initial adapters on every run and rank
        torch.manual_seed(config.train.seed)
        lora = LoraConfig(
            r=f.rank, lora_alpha=f.alpha, lora_dropout=f.dropout, target_modules=list(f.targets),
            init_lora_weights=True,
        )  # fmt: skip
        try:
            transformer.add_adapter(lora)
        except ValueError as error:
            raise ConfigError(f"finetune.targets: {error}") from None
        cast_training_params(transformer, dtype=torch.float32)
        flow = None
        if f.flow_guidance:
            width = _embedding_width(spec, transformer)
            flow = FlowEncoder(width, Denoiser.patch(spec, transformer))
    vae = read_meta(f.latents_dir)
    factors = (vae["temporal_factor"], vae["spatial_factor"])
    return Denoiser(spec, transformer, flow, f.max_sequence_length, factors)


def _embedding_width(spec: BaseSpec, transformer: nn.Module) -> int:
    entry, _ = patch_embedding(spec, transformer)
    return entry.out_features if isinstance(entry, nn.Linear) else entry.out_channels


def null_text(latents_dir: str) -> NullText:
    data = np.load(Path(latents_dir) / NULL_TEXT)
    return NullText(torch.from_numpy(data["hidden"]).float(), torch.from_numpy(data["mask"]))


@dataclass
class LoraRun:
    losses: list[float]  # this run's steps (none when a finished checkpoint is reused)
    step: int
    seconds_per_step: float | None
    validations: list[dict]
    last_loss: float | None = None  # the latest step's, kept in the checkpoint


def make_optimizer(config: AiprodConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    lr = config.finetune.train.lr
    if config.finetune.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ConfigError(
                "finetune.optimizer: adamw8bit needs bitsandbytes (pip install "
                "'aiprod[consumer-gpu]', CUDA only)"
            ) from None
        return bnb.optim.AdamW8bit(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, foreach=True)


class LoraOptimiser:
    """The adapters' optimiser, schedule and loss scaler, and one step of them."""

    def __init__(self, config: AiprodConfig, model: Denoiser, runtime: Runtime, total: int) -> None:
        t = config.finetune.train
        self.model, self.runtime = model, runtime
        self.runner = runtime.parallelize(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(config, self.params)
        loop = LoopConfig(steps=total, lr=t.lr, warmup=t.warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(loop))
        self.scaler = runtime.grad_scaler()

    def step(self, batches: Iterator[object], loss_fn: Callable, accumulation: int) -> float:
        runtime = self.runtime
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=runtime.device)
        for micro in range(accumulation):
            batch = runtime.to(next(batches))
            with runtime.no_sync(self.runner, micro < accumulation - 1), runtime.autocast():
                loss = loss_fn(self.runner, batch) / accumulation
            self.scaler.scale(loss).backward()
            total += loss.detach().float()
        mean, finite = distributed.mean_and_all_finite(total)
        if not finite:
            raise FloatingPointError(f"LoRA loss is {mean}; the last checkpoint stays")
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return mean

    def state(self, run_id: str, step: int, streams: int, last_loss: float) -> dict:
        return {
            "fingerprint": run_id, "step": step, "streams": streams, "last_loss": last_loss,
            "trainable": trainable_state(self.model),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }  # fmt: skip

    def resume(self, file: Path, run_id: str) -> tuple[int, int, float | None]:
        """(step, data streams, last loss) of `file`'s checkpoint when it is this run's, else
        (0, 0, None)."""
        if not file.is_file():
            return 0, 0, None
        saved = torch.load(file, map_location="cpu", weights_only=False)
        if saved["fingerprint"] != run_id:
            return 0, 0, None
        self.model.load_state_dict(saved["trainable"], strict=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        return saved["step"], saved["streams"], saved.get("last_loss")


def base_objective(config: AiprodConfig, denoiser: Denoiser, text_dropout: float, seed: int):  # noqa: ANN201
    """The base's flow-matching loss with `finetune.train`'s settings, its time shift set for
    the first bucket's sequence length."""
    f, t = config.finetune, config.finetune.train
    meta = read_meta(f.latents_dir)
    shift = sigma_shift(scheduler_config(f.base_path), _sequence_length(meta, denoiser))
    return flow_matching_loss(
        text_dropout, t.flow_dropout, t.timestep_mean, seed, shift,
        null_text(f.latents_dir), LossWeights(t.motion_weight, t.temporal_weight),
    )  # fmt: skip


def train_lora(
    config: AiprodConfig,
    denoiser: Denoiser,
    runtime: Runtime,
    out_dir: Path,
    validate: Callable[[int, Denoiser], dict] | None = None,
    stop_after: int | None = None,
    metrics: MetricsOpener = no_metrics,
) -> LoraRun:
    """Train through the phases, resuming `out_dir/run/checkpoint.pt` when it is this run's;
    the loss and learning rate go to `metrics` (DVCLive in the stage)."""
    f, t = config.finetune, config.finetune.train
    loss_fn = base_objective(config, denoiser, t.text_dropout, config.train.seed)
    phases = trained_phases(config)
    total = t.steps * len(phases)
    run_id = fingerprint([f.model_dump(), config.train.seed, listing([Path(f.latents_dir)])], [])
    model = denoiser.to(runtime.device)
    opt = LoraOptimiser(config, model, runtime, total)
    ckpt = out_dir / "run" / CHECKPOINT
    step, streams, last_loss = opt.resume(ckpt, run_id)
    if step:
        log.info("resumed LoRA training at step %d of %d", step, total)
    elif runtime.ranks.main:  # a fresh run: an earlier run's validation videos are not its own
        shutil.rmtree(out_dir / "validation", ignore_errors=True)
    # the data order is a function of the stream count: a resumed run keeps its own
    split = rank_split(runtime, TrainState(data_streams=streams) if streams else None)
    accumulation = runtime.cfg.grad_accumulation
    per_step = t.batch_size * runtime.ranks.world_size * accumulation
    run = LoraRun([], step, None, [], last_loss)
    batches, phase_index = None, None
    started = time.perf_counter()
    with metrics(step > 0) as log_metric:
        while step < total and (stop_after is None or len(run.losses) < stop_after):
            if phase_index != step // t.steps:  # the next phase's data, from where it stopped
                phase_index = step // t.steps
                position = (step - phase_index * t.steps) * per_step
                data, _ = phase_batches(config, phases[phase_index], runtime, split)
                batches = data.batches(position)
            mean = opt.step(batches, loss_fn, accumulation)
            step += 1
            run.losses.append(mean)
            run.last_loss = mean
            if log_metric is not None:
                log_metric("loss", mean, step)
                log_metric("lr", opt.scheduler.get_last_lr()[0], step)
            main = runtime.ranks.main
            if main and (step % config.train.checkpoint_every == 0 or step % t.steps == 0):
                state = opt.state(run_id, step, split.streams, mean)
                save_torch(ckpt, state)
            every = f.validation.every
            if validate and main and ((every and step % every == 0) or step == total):
                run.validations.append(validate(step, model))
    if run.losses:
        run.seconds_per_step = (time.perf_counter() - started) / len(run.losses)
    elif validate and runtime.ranks.main and step == total:  # reused: its videos, again
        run.validations.append(validate(step, model))
    run.step = step
    distributed.barrier()
    return run


def _sequence_length(meta: dict, denoiser: Denoiser) -> int:
    """Tokens of the first bucket's latent grid: what a dynamic time shift is set for."""
    first = Bucket.from_name(meta["buckets"][0])
    width, height, frames = first.width, first.height, first.frames
    tf, sf = meta["temporal_factor"], meta["spatial_factor"]
    pt, ph, pw = Denoiser.patch(denoiser.spec, denoiser.transformer)
    latent_frames = 1 + (frames - 1) // tf
    return math.ceil(latent_frames / pt) * (height // sf // ph) * (width // sf // pw)


def load_spec(config: AiprodConfig) -> BaseSpec:
    return check_base_path(config.finetune.base, config.finetune.base_path)
