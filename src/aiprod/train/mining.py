"""Hard-example mining: phase K's model ranks phase K's clips by loss; the hardest are carried.

The loss of each clip is measured on a fixed grid of noise seeds and timesteps (so the
ranking is a property of the model). The carry budget is in hours, as every curriculum
budget: `mine.hours`, or the curriculum's own `hours.carry` times its scale. The carried
clips are written as WebDataset shards that phase K + 1 reads beside its own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aiprod.config import AiprodConfig
from aiprod.curation.curriculum import budget_scale, carried_within_budget
from aiprod.fsutil import write_parquet
from aiprod.shards.samples import build_samples
from aiprod.shards.writer import write_shards
from aiprod.train.data import NoClips
from aiprod.train.phase_stage import carry_dir, mined_urls, phase_data, phase_dir
from aiprod.train.t2v import load_model, mine_losses, per_clip
from aiprod.train.vae_stage import MODEL_FILE, load_codec

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


def mine_stage(config: AiprodConfig, phase: int) -> dict:
    """Write `<mine.out_dir>/phaseK/hard.parquet` and the carried shards for phase K + 1."""
    codec = load_codec(Path(config.train_vae.out_dir) / MODEL_FILE)
    model, _ = load_model(phase_dir(config, phase) / MODEL_FILE)
    try:
        data = phase_data(config, phase, codec, False, mined_urls(config, phase))
        losses = mine_losses(model, data, config.mine.seeds, tuple(config.mine.timesteps))
        clip_losses = per_clip(data.bank.keys, losses)
    except NoClips:
        clip_losses = {}  # nothing trained in this phase: nothing to carry
    scores = pd.read_parquet(config.score.output)
    hours = carry_hours(config, scores)
    table = rank_hard(clip_losses, scores, hours, phase + 1)
    out = carry_dir(config, phase)
    write_parquet(out.parent / HARD_FILE, table)
    members = table[table["carried"]].assign(
        phase=phase + 1, role="carried", difficulty=0.0, quality=0.0
    )
    curriculum = pd.read_parquet(config.curriculum.output).drop_duplicates("clip_id")
    members = members.drop(columns=["difficulty", "quality"]).merge(
        curriculum[["clip_id", "difficulty", "quality"]], on="clip_id", how="left"
    )
    samples = build_samples(
        members,
        pd.read_parquet(config.ingest.manifest),
        scores,
        pd.read_parquet(config.caption.output),
    )
    write_shards(samples, out, config.shards.max_count, config.shards.max_bytes)
    return {
        "phase": phase,
        "mined_clips": len(table),
        "carried_clips": int(table["carried"].sum()),
        "carry_hours": round(hours, 5),
        "mean_loss": round(float(table["loss"].mean()), 5) if len(table) else None,
        "carried_mean_loss": round(float(table.loc[table["carried"], "loss"].mean()), 5)
        if table["carried"].any()
        else None,
    }
