"""Hard-example mining: phase K's model ranks phase K's clips by loss; the hardest are carried.

The loss of each window is measured on a fixed grid of noise seeds and timesteps (so the
ranking is a property of the model), streaming phase K's latent shards. The carry budget is
in hours, as every curriculum budget: `mine.hours`, or the curriculum's own `hours.carry`
times its scale. The carried clips are encoded at phase K + 1's window settings, by the same
code as the `encode` stage, into latent shards that phase K + 1 reads beside its own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aiprod.config import AiprodConfig
from aiprod.curation.curriculum import budget_scale, carried_within_budget
from aiprod.fsutil import write_parquet
from aiprod.latents.batches import expand_window, latent_shards
from aiprod.latents.stage import encode_shards, frozen_text, phase_windows
from aiprod.runtime import Runtime
from aiprod.shards.stream import sequential
from aiprod.train.codec import MODEL_FILE, load_codec
from aiprod.train.data import phase_dirs, pixel_shards
from aiprod.train.phase_stage import carry_dir, mined_folders, phase_dir
from aiprod.train.t2v import load_model, per_clip, window_losses

HARD_FILE = "hard.parquet"


def carry_hours(config: AiprodConfig, scores: pd.DataFrame) -> float:
    if config.mine.hours is not None:
        return config.mine.hours
    kept_hours = float(scores.loc[scores["keep"], "duration"].sum()) / 3600
    return config.curriculum.hours.carry * budget_scale(config.curriculum, kept_hours)


def rank_hard(
    losses: dict[str, float], scores: pd.DataFrame, hours: float, into: int
) -> pd.DataFrame:
    """Every mined clip by loss (hardest first), marking those that fit the carry budget."""
    table = pd.DataFrame({"clip_id": list(losses), "loss": list(losses.values())})
    table = table.sort_values(["loss", "clip_id"], ascending=[False, True], kind="stable")
    table = table.reset_index(drop=True)
    table["rank"] = range(1, len(table) + 1)
    kept = scores[scores["keep"]]
    carried = carried_within_budget(kept, table["clip_id"].tolist(), into, hours)
    table["carried"] = table["clip_id"].isin(set(carried["clip_id"]))
    return table


def write_carry(config: AiprodConfig, phase: int, carried: set[str], runtime: Runtime) -> int:
    """The carried clips' windows, cut as phase K + 1 cuts them, into latent shards."""
    spec = phase_windows(config, phase + 1, config.train.windows)
    phases = [phase] if config.curriculum.enabled else [1, 2, 3, 4, 5]
    shards = pixel_shards(
        phase_dirs(config.shards.dir, phases),
        spec,
        config.shards.holdout_share,
        holdout=False,
        keep=lambda clip_id: clip_id in carried,
    )
    codec = load_codec(Path(config.train_vae.out_dir) / MODEL_FILE).to(runtime.device)
    text = frozen_text(config, runtime) if carried else None
    out = carry_dir(config, phase)
    index = encode_shards(
        shards, spec, out, codec, text, runtime, config, phase + 1, config.encode.mirror
    )
    return len(index)


def mine_stage(config: AiprodConfig, phase: int, runtime: Runtime) -> dict:
    """Write `<mine.out_dir>/phaseK/hard.parquet` and the carried latent shards."""
    model, _ = load_model(phase_dir(config, phase) / MODEL_FILE)
    windows = sequential(latent_shards(mined_folders(config, phase)), expand_window)
    mined, losses = window_losses(
        runtime.to(model), windows, runtime, config.mine.seeds, tuple(config.mine.timesteps)
    )
    clip_losses = per_clip(mined, losses)  # empty when nothing trained in this phase
    scores = pd.read_parquet(config.score.output)
    hours = carry_hours(config, scores)
    table = rank_hard(clip_losses, scores, hours, phase + 1)
    write_parquet(carry_dir(config, phase).parent / HARD_FILE, table)
    carried = set(table.loc[table["carried"], "clip_id"])
    carried_windows = write_carry(config, phase, carried, runtime)
    return {
        "phase": phase,
        "mined_clips": len(table),
        "mined_windows": len(mined),
        "carried_clips": len(carried),
        "carried_windows": carried_windows,
        "carry_hours": round(hours, 5),
        "mean_loss": round(float(table["loss"].mean()), 5) if len(table) else None,
        "carried_mean_loss": round(float(table.loc[table["carried"], "loss"].mean()), 5)
        if table["carried"].any()
        else None,
    }
