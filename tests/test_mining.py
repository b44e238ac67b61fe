"""Hard-example mining's ranking and carry budget, and which shards each phase reads."""

import pandas as pd
import pytest

from aiprod.config import parse_config
from aiprod.train.mining import carry_hours, rank_hard
from aiprod.train.phase_stage import mined_folders, train_folders


@pytest.mark.quick
def test_hardest_clips_are_carried_within_the_hour_budget():
    scores = pd.DataFrame(
        {
            "clip_id": ["a", "b", "c", "d"],
            "keep": [True, True, True, False],
            "duration": [1800.0, 1800.0, 1800.0, 1800.0],
        }
    )
    table = rank_hard({"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.9}, scores, hours=1.0, into=2)
    assert table["clip_id"].tolist() == ["d", "b", "c", "a"]
    assert table["rank"].tolist() == [1, 2, 3, 4]
    # d was rejected by scoring; b and c (1 h) fit, a does not
    assert table.set_index("clip_id")["carried"].to_dict() == {
        "d": False,
        "b": True,
        "c": True,
        "a": False,
    }


@pytest.mark.quick
def test_carry_budget_follows_the_curriculum_scale_unless_given(params):
    scores = pd.DataFrame({"clip_id": ["a"], "keep": [True], "duration": [3600.0 * 9]})
    config = parse_config(params)
    hours = config.curriculum.hours
    planned = hours.phase1 + hours.phase2 + hours.phase3 + hours.phase4
    # 9 kept hours against the plan for phases 1-4 (90 h in the seed's: scale 0.1, carry 1 h)
    assert carry_hours(config, scores) == pytest.approx(9 / planned * hours.carry)
    params = {**params, "mine": {**params["mine"], "hours": 0.25}}
    assert carry_hours(parse_config(params), scores) == 0.25


@pytest.mark.quick
def test_phase_reads_its_latents_and_the_carry_or_everything_without_curriculum(params, tmp_path):
    data = {
        **params,
        "encode": {**params["encode"], "dir": str(tmp_path / "latents")},
        "mine": {**params["mine"], "out_dir": str(tmp_path / "mining")},
        "train": {**params["train"], "phase3": {**params["train"]["phase3"], "replay": False}},
    }

    def names(folders):
        return ["/".join(f.parts[-3:]) for f in folders]

    assert names(train_folders(parse_config(data), 3)) == [
        "latents/phase3/train",
        "mining/phase2/carry",
    ]
    phase3 = {**data["train"]["phase3"], "replay": True}
    replayed = parse_config({**data, "train": {**data["train"], "phase3": phase3}})
    assert [f.parts[-2] for f in train_folders(replayed, 3)] == [
        "phase1", "phase2", "phase3", "phase2",
    ]  # fmt: skip
    # mining ranks phase 3's own clips only: not the replayed phases, not the clips carried in
    assert names(mined_folders(replayed, 3)) == ["latents/phase3/train"]
    data["curriculum"] = {**data["curriculum"], "enabled": False}
    folders = train_folders(parse_config(data), 3)
    assert [f.parts[-2] for f in folders] == [f"phase{k}" for k in range(1, 6)]
    assert folders == mined_folders(parse_config(data), 3)  # the ablation mines every clip
