"""A resumable training loop: warm-up + cosine schedule, EMA, checkpoints, DVCLive metrics.

The batch for a data position is a pure function of that position (`batch_at`), so a resumed
run reads exactly the batches the uninterrupted run would have read.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from aiprod.train import distributed
from aiprod.train.checkpoint import (
    TrainState,
    checkpoint_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from aiprod.train.ema import EMA

log = logging.getLogger(__name__)
LAST = "last.pt"


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/inf; the run stops and the last good checkpoint stays."""


@dataclass(frozen=True)
class LoopConfig:
    steps: int
    lr: float
    warmup: int = 0
    batch_size: int = 1
    ema_decay: float = 0.999
    checkpoint_every: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    fingerprint: str = ""  # of the config and inputs; a checkpoint from another one is not resumed


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


def lr_lambda(cfg: LoopConfig) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10% of the peak."""

    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def to_device(batch: object, device: torch.device) -> object:
    """Tensors of a (nested) batch moved to the device; anything else as is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(item, device) for item in batch)
    return batch


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, object, torch.Generator], torch.Tensor],
    batch_at: Callable[[int, int], object],
    cfg: LoopConfig,
    out_dir: Path,
    log_metric: Callable[[str, float, int], None] | None = None,
    stop_after: int | None = None,
) -> tuple[TrainState, EMA, list[float]]:
    """Train to `cfg.steps`, resuming from `out_dir/last.pt` when it exists.

    `batch_at(position, batch_size)` gives the batch at a data position; `stop_after`
    ends the call early after that many steps (a stand-in for a killed run, in tests).
    Returns the state, the EMA and the losses of the steps this call ran.

    On a GPU the forward pass runs under bf16 autocast. Under torchrun every rank reads its
    slice of the global batch (`batch_size` per rank) and only rank 0 writes checkpoints.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = distributed.current()
    device = distributed.device()
    model.to(device)
    generator = torch.Generator(device=device).manual_seed(cfg.seed + ranks.rank)
    # foreach: one fused op per step on the CPU too, where the default loops over tensors
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    ema = EMA(model, cfg.ema_decay)
    state = TrainState(fingerprint=cfg.fingerprint)
    checkpoint = out_dir / LAST
    if checkpoint.exists() and checkpoint_fingerprint(checkpoint) != cfg.fingerprint:
        log.warning("%s was written for other settings or inputs: starting afresh", checkpoint)
        checkpoint.unlink()
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, model, ema, optimizer, scheduler, generator)
        log.info("resumed from %s at step %d", checkpoint, state.step)
    ema.to(device)
    runner = model
    if ranks.world_size > 1:
        runner = DistributedDataParallel(model, find_unused_parameters=True)
    global_batch = cfg.batch_size * ranks.world_size
    losses: list[float] = []
    bar = tqdm(
        total=cfg.steps,
        initial=state.step,
        desc="train",
        unit="step",
        mininterval=5.0,
        disable=not ranks.main,
    )
    started = time.perf_counter()
    while state.step < cfg.steps and (stop_after is None or len(losses) < stop_after):
        position = state.position + ranks.rank * cfg.batch_size
        batch = to_device(batch_at(position, cfg.batch_size), device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(runner, batch, generator)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(
                f"loss is {loss.item()} at step {state.step}; stopped, the last good checkpoint "
                f"({checkpoint if checkpoint.exists() else 'none yet'}) is kept"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        ema.update(model)
        state.step += 1
        state.position += global_batch
        state.last_loss = float(loss.item())
        losses.append(state.last_loss)
        bar.update(1)
        bar.set_postfix(loss=f"{state.last_loss:.4f}", refresh=False)
        if log_metric is not None and ranks.main:
            log_metric("loss", state.last_loss, state.step)
            log_metric("lr", scheduler.get_last_lr()[0], state.step)
            log_metric(
                "samples_per_s",
                global_batch * len(losses) / (time.perf_counter() - started),
                state.step,
            )
        checkpoint_due = state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps
        if checkpoint_due and ranks.main:
            save_checkpoint(checkpoint, model, ema, optimizer, scheduler, state, generator)
    bar.close()
    distributed.barrier()
    return state, ema, losses
