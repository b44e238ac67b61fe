"""A resumable training loop: warm-up + cosine schedule, EMA, checkpoints, metrics.

The data arrive from `data.batches(position)`, this rank's micro-batches from a global data
position on, so a resumed run reads exactly the batches the uninterrupted run would have
read. Anything random in a step is drawn from the samples' ordinals (see
`aiprod.nn.rectified_flow.seeded_draw`), so the run does not depend on how many ranks share
it. Under torchrun the model is wrapped by `Runtime.parallelize` (DDP or FSDP); gradient
accumulation holds the all-reduce back until the last micro-batch; only rank 0 writes files
and metrics.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from tqdm import tqdm

from aiprod.runtime import Runtime, shard
from aiprod.shards.stream import Split, choose_streams
from aiprod.train import distributed
from aiprod.train.checkpoint import (
    TrainState,
    load_checkpoint,
    resumable,
    save_checkpoint,
)
from aiprod.train.ema import EMA

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/inf; the run stops and the last good checkpoint stays."""


class BatchSource(Protocol):
    def batches(self, position: int) -> Iterator[object]: ...


MetricLogger = Callable[[str, float, int], None]
# opens the metric log, continuing the old curves only when the run resumes its checkpoint
MetricsOpener = Callable[[bool], AbstractContextManager[MetricLogger | None]]


def no_metrics(resume: bool) -> AbstractContextManager[None]:
    """A metrics opener that logs nothing."""
    return nullcontext(None)


@dataclass(frozen=True)
class LoopConfig:
    steps: int
    lr: float
    warmup: int = 0
    batch_size: int = 1  # per rank and micro-batch
    ema_decay: float = 0.999
    checkpoint_every: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    fingerprint: str = ""  # of the config and inputs; a checkpoint from another one is not resumed


@dataclass
class TrainResult:
    state: TrainState
    averaged: nn.Module | None  # the EMA weights as a plain module (None off rank 0 in FSDP)
    losses: list[float] = field(default_factory=list)  # of the steps this call ran
    seconds: float = 0.0
    samples: int = 0  # trained on by all ranks in this call
    data_wait_share: float | None = None  # of step time spent waiting for the next batch
    peak_gpu_memory_gb: float | None = None  # on CUDA: torch.cuda.max_memory_allocated

    @property
    def samples_per_s(self) -> float | None:
        return self.samples / self.seconds if self.losses and self.seconds else None


def phase_loop(
    cfg: object, seed: int, checkpoint_every: int = 50, fingerprint: str = ""
) -> LoopConfig:
    """The loop settings of a phase-shaped config (steps, lr, warmup, batch_size, ema)."""
    return LoopConfig(
        steps=cfg.steps,
        lr=cfg.lr,
        warmup=cfg.warmup,
        batch_size=cfg.batch_size,
        ema_decay=cfg.ema,
        checkpoint_every=checkpoint_every,
        seed=seed,
        fingerprint=fingerprint,
    )


def rank_split(runtime: Runtime, resumed: TrainState | None) -> Split:
    """This rank's share of the data streams (a resumed run keeps its checkpoint's)."""
    ranks, cfg = runtime.ranks, runtime.cfg
    streams = choose_streams(
        cfg.data_streams, ranks.world_size, cfg.num_workers, resumed.data_streams if resumed else 0
    )
    return Split(streams, ranks.rank, ranks.world_size, cfg.num_workers)


def lr_lambda(cfg: LoopConfig) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10% of the peak."""

    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class PositionBatches:
    """A `batch_at(position, size)` function as a batch source: rank r of W reads the slice
    [position + r * size, position + (r + 1) * size) of every global micro-batch."""

    def __init__(self, batch_at: Callable[[int, int], object], batch_size: int) -> None:
        self.batch_at, self.batch_size = batch_at, batch_size

    def batches(self, position: int) -> Iterator[object]:
        ranks = distributed.current()
        while True:
            yield self.batch_at(position + ranks.rank * self.batch_size, self.batch_size)
            position += self.batch_size * ranks.world_size


def _averaged(ema: EMA, runtime: Runtime, template: nn.Module | None) -> nn.Module | None:
    """The EMA weights as a plain module: gathered from the shards under FSDP."""
    if not (runtime.distributed and runtime.cfg.strategy == "fsdp"):
        return ema.shadow
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    full = get_model_state_dict(ema.shadow, options=options)  # collective; rank 0 gets it
    if template is None:
        return None
    template.load_state_dict(full)
    return template.eval().requires_grad_(False)


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    data: BatchSource,
    cfg: LoopConfig,
    out_dir: Path,
    runtime: Runtime,
    log_metric: Callable[[str, float, int], None] | None = None,
    stop_after: int | None = None,
    state: TrainState | None = None,
) -> TrainResult:
    """Train to `cfg.steps`, resuming from `out_dir`'s checkpoint when it is this run's.

    `loss_fn(model, batch)` gives the mean loss of a micro-batch; `stop_after` ends the call
    after that many steps (a stand-in for a killed run, in tests); `state` is what a fresh
    run starts from (e.g. the data streams it chose).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = runtime.ranks
    fsdp = runtime.distributed and runtime.cfg.strategy == "fsdp"
    template = copy.deepcopy(model).cpu() if fsdp and ranks.main else None
    model = runtime.prepare(model)
    ema = EMA(model, cfg.ema_decay)
    runtime.compile(model)
    runner = runtime.parallelize(model)
    if fsdp:
        shard(ema.shadow, runtime.device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # foreach: one fused op per step on the CPU too, where the default loops over tensors
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    scaler = runtime.grad_scaler()
    state = state or TrainState()
    state.fingerprint = cfg.fingerprint
    if resumable(out_dir, cfg.fingerprint) is not None:
        state = load_checkpoint(out_dir, model, ema.shadow, optimizer, scheduler, scaler)
        log.info("resumed from %s at step %d", out_dir, state.step)
    accumulation = runtime.cfg.grad_accumulation
    per_step = cfg.batch_size * ranks.world_size * accumulation
    result = TrainResult(state, None)
    bar = tqdm(
        total=cfg.steps, initial=state.step, desc="train", unit="step", mininterval=5.0,
        disable=not ranks.main,
    )  # fmt: skip
    batches = data.batches(state.position)
    if ranks.main:
        log.info(
            "training from step %d to %d (data position %d)", state.step, cfg.steps, state.position
        )
    if runtime.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    started, waited = time.perf_counter(), 0.0
    while state.step < cfg.steps and (stop_after is None or len(result.losses) < stop_after):
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=runtime.device)
        for micro in range(accumulation):
            before = time.perf_counter()
            batch = runtime.to(next(batches))
            waited += time.perf_counter() - before
            with runtime.no_sync(runner, micro < accumulation - 1):
                with runtime.autocast():
                    loss = loss_fn(runner, batch) / accumulation
                scaler.scale(loss).backward()
            total += loss.detach().float()
        mean, finite = distributed.mean_and_all_finite(total)
        if not finite:
            raise NonFiniteLoss(
                f"loss is {total.item()} at step {state.step}; stopped, the last good "
                f"checkpoint (if any, under {out_dir}) is kept"
            )
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        ema.update(model)
        state.step += 1
        state.position += per_step
        state.last_loss = mean
        result.losses.append(mean)
        bar.update(1)
        bar.set_postfix(loss=f"{mean:.4f}", refresh=False)
        elapsed = time.perf_counter() - started
        if log_metric is not None and ranks.main:
            log_metric("loss", mean, state.step)
            log_metric("lr", scheduler.get_last_lr()[0], state.step)
            log_metric("samples_per_s", per_step * len(result.losses) / elapsed, state.step)
        if state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps:
            save_checkpoint(out_dir, model, ema.shadow, optimizer, scheduler, scaler, state)
    bar.close()
    result.seconds = time.perf_counter() - started
    if ranks.main:
        log.info(
            "%d steps in %.1f s, %.1f s waiting for data",
            len(result.losses),
            result.seconds,
            waited,
        )
    result.samples = per_step * len(result.losses)
    result.data_wait_share = waited / result.seconds if result.losses else None
    if runtime.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(runtime.device) / 1024**3
        result.peak_gpu_memory_gb = round(peak, 3)
    result.averaged = _averaged(ema, runtime, template)
    distributed.barrier()
    return result
