"""Difficulty, quality and phase assignment on score tables made here."""

import numpy as np
import pandas as pd
import pytest

from aiprod.config import parse_config
from aiprod.curation.curriculum import assign_phases, budget_scale, curriculum_metrics

pytestmark = pytest.mark.quick


def scores_table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    level = np.repeat([1, 2, 3, 4], n // 4)
    return pd.DataFrame(
        {
            "clip_id": [f"c{i:03d}" for i in range(n)],
            "keep": True,
            "duration": 3.0,
            "motion_p95": level * 1.0 + rng.uniform(0, 0.5, n),
            "motion_variation": rng.uniform(0, 1, n),
            "camera": np.where(level >= 3, "pan_left", "static"),
            "lighting_change": (level >= 3) * 0.4 + rng.uniform(0, 0.05, n),
            "flicker": (level == 4) * 0.05 + rng.uniform(0, 0.005, n),
            "luma_mean": 120.0,
            "edge_density": 0.05 * level,
            "colour_clusters": level + 2,
            "sharpness": rng.uniform(10, 500, n),
            "clipped_dark": 0.0,
            "clipped_bright": 0.0,
            "true_level": level,
        }
    )


@pytest.fixture
def cfg(params):
    """The seed's plan of hours (the demo's params may give phase 1 more)."""
    params["curriculum"]["hours"].update(
        phase1=20, phase2=20, phase3=30, phase4=20, phase5=15, carry=10
    )
    return parse_config(params).curriculum


def test_phases_follow_difficulty_and_fill_budgets(cfg):
    scores = scores_table()
    table = assign_phases(scores, cfg)
    main = table[table["role"] == "difficulty"]
    assert sorted(main["phase"].unique()) == [1, 2, 3, 4]
    assert main.groupby("phase")["difficulty"].mean().is_monotonic_increasing
    scale = budget_scale(cfg, 40 * 3 / 3600)
    for phase, budget in ((1, 20), (2, 20), (3, 30), (4, 20)):
        hours = main.loc[main["phase"] == phase, "duration"].sum() / 3600
        assert hours == pytest.approx(budget * scale, abs=3 / 3600)  # within one clip
    top = table[table["phase"] == 5]
    assert top["quality"].min() >= main["quality"].median()
    assert top["duration"].sum() / 3600 <= 15 * scale + 1e-9
    metrics = curriculum_metrics(scores, table, cfg)
    assert metrics["difficulty_spearman"] >= 0.7


def test_fixed_scale_leaves_the_hardest_unused(cfg):
    small = cfg.model_copy(update={"scale": 10 * 3 / 3600 / 90})  # room for 10 of 40 clips
    table = assign_phases(scores_table(), small)
    assert (table["phase"] == 0).sum() == 30
    unused = table.loc[table["phase"] == 0, "difficulty"]
    used = table.loc[table["phase"].between(1, 4), "difficulty"]
    assert unused.min() >= used.max()


def test_rejected_clips_are_never_assigned(cfg):
    scores = scores_table()
    scores.loc[:4, "keep"] = False
    table = assign_phases(scores, cfg)
    assert not set(table["clip_id"]) & set(scores.loc[:4, "clip_id"])


def test_hard_examples_are_carried_within_the_carry_budget(cfg):
    scores = scores_table()
    hard = [f"c{i:03d}" for i in range(39, 0, -1)]
    table = assign_phases(scores, cfg, {2: hard})
    carried = table[table["role"] == "carried"]
    assert set(carried["phase"]) == {2}
    assert list(carried.sort_values("clip_id", ascending=False)["clip_id"]) == hard[: len(carried)]
    carry_hours = cfg.hours.carry * budget_scale(cfg, 40 * 3 / 3600)
    assert 0 < carried["duration"].sum() / 3600 <= carry_hours + 1e-9
