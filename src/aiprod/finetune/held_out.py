"""The adapters' held-out loss: the training objective on windows of clips no step saw.

The training loss of a LoRA run is noise (one batch, one draw of timesteps), so the figure a
fine-tune is judged by is this one, before the first step and after the last: every
held-out window (`lora_precompute` writes them under `heldout/`), in a caption language its
ordinal draws, on a fixed grid of noise seeds (each window's timestep, noise and whether its
flow is given follow from its ordinal and the seed, as in training), with no caption
dropped. It works for every base: the objective is the base's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from aiprod.finetune.precompute import HELD_OUT_DIR
from aiprod.latents.batches import (
    LatentBatch,
    choose_variant,
    collate,
    expand_window,
    latent_shards,
)
from aiprod.runtime import Runtime
from aiprod.shards.stream import sequential

LossFn = Callable[[torch.nn.Module, LatentBatch], torch.Tensor]
GRID_SEEDS = (0, 1)


def held_out_batches(latents_dir: str | Path, batch_size: int) -> Iterator[LatentBatch]:
    """Every held-out window once, a bucket at a time, in a fixed order; window k gets
    ordinal k and the caption language that ordinal draws (as training draws them)."""
    ordinal = 0
    root = Path(latents_dir) / HELD_OUT_DIR
    folders = sorted(p for p in root.glob("*") if (p / "index.parquet").is_file())
    for folder in folders:
        pending = []
        for window in sequential(latent_shards([folder]), expand_window):
            pending.append(window)
            if len(pending) == batch_size:
                yield _collated(pending, ordinal)
                ordinal += len(pending)
                pending = []
        if pending:
            yield _collated(pending, ordinal)
            ordinal += len(pending)


def _collated(windows: list, first: int) -> LatentBatch:
    ordinals = list(range(first, first + len(windows)))
    rows = [choose_variant(w.texts, o, 0, 1.0) for w, o in zip(windows, ordinals, strict=True)]
    return collate(windows, rows, ordinals)


@torch.no_grad()
def held_out_loss(
    model: torch.nn.Module,
    objective: Callable[[int], LossFn],
    latents_dir: str | Path,
    runtime: Runtime,
    batch_size: int = 16,
) -> dict:
    """{"loss", "windows"}: the mean of `objective(seed)` over the held-out windows and the
    grid's seeds (None without held-out windows). The model is left in the mode it was in."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for seed in GRID_SEEDS:
        loss_fn = objective(seed)
        for batch in held_out_batches(latents_dir, batch_size):
            with runtime.autocast():
                loss = loss_fn(model, runtime.to(batch))
            total += float(loss) * len(batch.keys)
            count += len(batch.keys)
    model.train(was_training)
    windows = count // len(GRID_SEEDS)
    return {"loss": round(total / count, 5) if count else None, "windows": windows}


def held_out_summary(before: dict, after: dict) -> dict:
    """What a report says of the adapters: the held-out loss before and after, and the change."""
    change = None
    if before["loss"] is not None and after["loss"] is not None:
        change = round(after["loss"] - before["loss"], 5)
    return {
        "windows": before["windows"],
        "loss_before": before["loss"],
        "loss_after": after["loss"],
        "change": change,
    }
