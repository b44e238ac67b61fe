"""Checkpoints that resume exactly, on any strategy and world size.

Model, EMA and optimiser go through `torch.distributed.checkpoint` (each rank writes its
shards; FQN-keyed, so a DDP, FSDP or single-process run reads what another wrote, resharded
to its own world size). Beside them `train_state.pt`, written by rank 0, holds the step, the
data position, the scheduler and grad-scaler state, the fingerprint of what the run trains,
and every rank's RNG states. A checkpoint is a folder `checkpoint/step-NNNNNNN/`; the text
file `checkpoint/LATEST` names the complete one and is replaced atomically after it is
written, so a run killed while saving resumes from the previous checkpoint.
"""

from __future__ import annotations

import logging
import random
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiprod.fsutil import atomic_write, save_torch
from aiprod.train import distributed

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoint"
LATEST = "LATEST"
STATE_FILE = "train_state.pt"


@dataclass
class TrainState:
    """Where a run stands: optimiser steps taken and samples consumed (by all ranks)."""

    step: int = 0
    position: int = 0
    last_loss: float | None = None
    fingerprint: str = ""  # what the run trains (config + inputs): a resume must match it
    data_streams: int = 0  # the streams the data order is made of (0: not a streamed run)


@contextmanager
def _quiet() -> Iterator[None]:
    """DCP warns that a single process saves or loads alone: that is intended here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}
    state["python"] = random.getstate()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest(out_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, if any."""
    pointer = Path(out_dir) / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / STATE_FILE).is_file() else None


def read_sidecar(folder: Path) -> dict:
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)


def resumable(out_dir: Path, fingerprint: str) -> TrainState | None:
    """The state of a checkpoint this run can resume; one of other settings is dropped (by
    rank 0) so the run starts afresh. Every rank gets the same answer."""
    found = None
    folder = latest(out_dir)
    if folder is not None:
        state = TrainState(**read_sidecar(folder)["state"])
        if state.fingerprint == fingerprint:
            found = state
        elif distributed.current().main:
            log.warning("%s was written for other settings or inputs: starting afresh", folder)
    distributed.barrier()
    if found is None and distributed.current().main:
        shutil.rmtree(Path(out_dir) / CHECKPOINTS, ignore_errors=True)
    distributed.barrier()
    return found


def _state_dicts(model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    # imported here: torch.distributed.checkpoint costs 0.7 s of every stage's start otherwise
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    weights, optim = get_state_dict(model, optimizer)
    return {"model": weights, "optimizer": optim, "ema": get_model_state_dict(ema)}


def save_checkpoint(
    out_dir: Path,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: TrainState,
) -> Path:
    """Every rank writes its part; rank 0 writes the sidecar and then moves LATEST on."""
    import torch.distributed.checkpoint as dcp

    ranks = distributed.current()
    root = Path(out_dir) / CHECKPOINTS
    folder = root / f"step-{state.step:07d}"
    if ranks.main:
        shutil.rmtree(folder, ignore_errors=True)  # a half-written try of an earlier run
        folder.mkdir(parents=True)
    distributed.barrier()
    with _quiet():
        dcp.save(_state_dicts(model, ema, optimizer), checkpoint_id=str(folder))
    rngs = distributed.gather_objects(rng_state())
    if ranks.main:
        sidecar = {
            "state": asdict(state),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rngs,
        }
        save_torch(folder / STATE_FILE, sidecar)
        atomic_write(root / LATEST, lambda tmp: tmp.write_text(folder.name, encoding="utf-8"))
        for old in root.glob("step-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    distributed.barrier()
    return folder


def load_checkpoint(
    out_dir: Path,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> TrainState:
    """Restore the latest checkpoint into live (possibly sharded) objects."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    folder = latest(out_dir)
    if folder is None:
        raise FileNotFoundError(f"{out_dir}: no complete checkpoint to resume")
    target = _state_dicts(model, ema, optimizer)
    with _quiet():
        dcp.load(target, checkpoint_id=str(folder))
    set_state_dict(
        model, optimizer, model_state_dict=target["model"], optim_state_dict=target["optimizer"]
    )
    set_model_state_dict(ema, target["ema"])
    sidecar = read_sidecar(folder)
    scheduler.load_state_dict(sidecar["scheduler"])
    scaler.load_state_dict(sidecar["scaler"])
    rank = distributed.current().rank
    if rank < len(sidecar["rng"]):
        restore_rng(sidecar["rng"][rank])
    else:  # resumed on more ranks than wrote it: the new ones keep their seeded state
        log.info("rank %d: no RNG state in %s (written by %d)", rank, folder, len(sidecar["rng"]))
    return TrainState(**sidecar["state"])


def load_payload(path: str | Path, missing: str) -> dict:
    """A saved model file's contents (on the CPU); FileNotFoundError `<path>: <missing>`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {missing}")
    return torch.load(path, map_location="cpu", weights_only=False)
