"""Difficulty and quality scores, and the five curriculum phases filled to hour budgets.

Phases 1-4 take the kept clips in order of difficulty (1 simple static scenes, 2 compound
scenes, 3 complex motion, camera and lighting, 4 edge cases) until each phase's hours are
spent; phase 5 is the best-quality subset across all of them. Hard examples mined from
phase K-1's model are carried into phase K on top of its budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from aiprod.config import CurriculumConfig

PHASES = (1, 2, 3, 4)
CARRY_PHASES = (2, 3)  # the seed's plan carries hard examples into phases 2 and 3


def _robust(values: pd.Series) -> pd.Series:
    """Scale by the 90th percentile so one outlier does not flatten everything else."""
    top = float(np.percentile(values, 90)) if len(values) else 0.0
    return (values / (top + 1e-6)).clip(0, 2) if top > 0 else values * 0.0


def difficulty_features(scores: pd.DataFrame) -> pd.DataFrame:
    """Normalised difficulty ingredients, one column per weight in params."""
    return pd.DataFrame(
        {
            "motion": _robust(scores["motion_p95"]),
            "motion_variation": _robust(scores["motion_variation"]),
            "camera": (scores["camera"] != "static").astype(float)
            + 0.5 * (scores["camera"] == "complex"),
            "lighting": _robust(scores["lighting_change"]),
            "flicker": _robust(scores["flicker"]),
            "low_light": ((110 - scores["luma_mean"]) / 110).clip(0, 1),
            "complexity": (_robust(scores["edge_density"]) + _robust(scores["colour_clusters"]))
            / 2,
        },
        index=scores.index,
    )


def difficulty_score(scores: pd.DataFrame, cfg: CurriculumConfig) -> pd.Series:
    """Weighted mean of the features: higher is harder."""
    features = difficulty_features(scores)
    weights = cfg.weights.model_dump()
    total = sum(weights.values()) or 1.0
    return sum(features[name] * weight for name, weight in weights.items()) / total


def quality_score(scores: pd.DataFrame) -> pd.Series:
    """Sharp, well exposed, unclipped (and aesthetic, when scored): higher is better."""
    sharp = np.log1p(scores["sharpness"]) / np.log1p(scores["sharpness"].max() + 1e-6)
    exposed = 1 - (scores["luma_mean"] - 128).abs() / 128
    clipped = scores[["clipped_dark", "clipped_bright"]].max(axis=1)
    quality = 0.5 * sharp + 0.3 * exposed + 0.2 * (1 - clipped)
    if "aesthetic" in scores and scores["aesthetic"].notna().any():
        quality = 0.5 * quality + 0.5 * _robust(scores["aesthetic"].fillna(0)) / 2
    return quality


def budget_scale(cfg: CurriculumConfig, corpus_hours: float) -> float:
    """`scale`, or with `auto` the factor that makes phases 1-4 hold the whole corpus."""
    if cfg.scale != "auto":
        return float(cfg.scale)
    planned = sum(getattr(cfg.hours, f"phase{k}") for k in PHASES)
    return corpus_hours / planned if planned else 0.0


def assign_phases(
    scores: pd.DataFrame, cfg: CurriculumConfig, hard: dict[int, list[str]] | None = None
) -> pd.DataFrame:
    """Long table (clip_id, phase, role, difficulty, quality, duration): one row per membership."""
    columns = ["clip_id", "phase", "role", "difficulty", "quality", "duration"]
    kept = scores[scores["keep"]].copy()
    if kept.empty:
        return pd.DataFrame(columns=columns)
    kept["difficulty"] = difficulty_score(kept, cfg)
    kept["quality"] = quality_score(kept)
    hours = kept["duration"] / 3600
    scale = budget_scale(cfg, float(hours.sum()))
    order = kept.sort_values(["difficulty", "clip_id"], kind="stable")
    bounds = np.cumsum([getattr(cfg.hours, f"phase{k}") * scale for k in PHASES])
    start = (order["duration"] / 3600).cumsum() - order["duration"] / 3600
    # a clip belongs to the phase whose budget its start falls into; beyond all: unused (0)
    phase = np.searchsorted(bounds, start.to_numpy() + 1e-12, side="right") + 1
    order["phase"] = np.where(phase > len(PHASES), 0, phase)
    order["role"] = "difficulty"
    best = kept.sort_values(["quality", "clip_id"], ascending=[False, True], kind="stable")
    within = (best["duration"] / 3600).cumsum() <= cfg.hours.phase5 * scale + 1e-12
    phase5 = best[within].assign(phase=5, role="quality")
    carried = [
        carried_within_budget(kept, ids, phase_k, cfg.hours.carry * scale)
        for phase_k, ids in sorted((hard or {}).items())
    ]
    table = pd.concat([order, phase5, *carried])[columns]
    return table.sort_values(["phase", "role", "clip_id"], kind="stable").reset_index(drop=True)


def carried_within_budget(
    kept: pd.DataFrame, ids: list[str], phase: int, budget_hours: float
) -> pd.DataFrame:
    """The hardest examples (in the order given) that fit the carry budget."""
    known = set(kept["clip_id"])  # once, not once per id
    picked = kept.set_index("clip_id").reindex([i for i in ids if i in known])
    within = (picked["duration"] / 3600).cumsum() <= budget_hours + 1e-12
    return picked[within].reset_index().assign(phase=phase, role="carried")


def curriculum_metrics(scores: pd.DataFrame, table: pd.DataFrame, cfg: CurriculumConfig) -> dict:
    """Spearman of difficulty against the true level (where known) and the phase sizes."""
    kept = scores[scores["keep"]]
    difficulty = difficulty_score(kept, cfg)
    known = kept["true_level"].notna()
    metrics: dict = {"clips_kept": int(len(kept)), "clips_rejected": int((~scores["keep"]).sum())}
    if known.sum() >= 3:
        rho = spearmanr(difficulty[known], kept.loc[known, "true_level"]).statistic
        metrics.update(difficulty_spearman=round(float(rho), 4), difficulty_clips=int(known.sum()))
    for phase, group in table.groupby("phase"):
        metrics[f"phase{phase}_clips"] = int(len(group))
        metrics[f"phase{phase}_hours"] = round(float(group["duration"].sum()) / 3600, 5)
    return metrics
