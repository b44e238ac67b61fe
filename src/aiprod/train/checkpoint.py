"""Checkpoints that resume exactly: model, EMA, optimiser, scheduler, data position, RNG, step.

Written atomically (temp file + rename), so a run killed while saving keeps the previous
checkpoint; on the CPU a resumed run reproduces the uninterrupted loss curve bit for bit.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprod.fsutil import atomic_write


@dataclass
class TrainState:
    """Where a run stands: optimiser steps taken and samples consumed."""

    step: int = 0
    position: int = 0
    last_loss: float | None = None
    fingerprint: str = ""  # what the run trains (config + inputs): a resume must match it


def _rng_state(generator: torch.Generator) -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    model: nn.Module,
    ema: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    state: TrainState,
    generator: torch.Generator,
) -> Path:
    """Everything needed to continue the run as if it had never stopped."""
    payload = {
        "model": model.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "state": asdict(state),
        "rng": _rng_state(generator),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: Path,
    model: nn.Module,
    ema: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    generator: torch.Generator,
) -> TrainState:
    """Restore a checkpoint written by `save_checkpoint` into live objects."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["model"])
    if ema is not None and payload["ema"] is not None:
        ema.load_state_dict(payload["ema"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    _restore_rng(payload["rng"], generator)
    return TrainState(**payload["state"])


def load_payload(path: str | Path, missing: str) -> dict:
    """A saved model file's contents (on the CPU); FileNotFoundError `<path>: <missing>`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {missing}")
    return torch.load(path, map_location="cpu", weights_only=False)


def checkpoint_fingerprint(path: Path) -> str:
    """The fingerprint a checkpoint was written under ('' for older ones)."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    return payload["state"].get("fingerprint", "")
