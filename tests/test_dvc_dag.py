"""The DAG that `dvc repro finetune` runs, as params choose it: AIPROD's own model is trained
first only when it is the base."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
AIPROD_TRAINING = {"train_vae", "encode", "train_phase1", "train_phase@5", "mine@4"}


def stages_before(tmp_path: Path, finetune: dict, target: str = "finetune") -> set[str]:
    """The stages `dvc dag <target>` names, with the project's dvc.yaml and these finetune keys."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["finetune"].update(finetune)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    dag = subprocess.run(
        [dvc, "dag", "--dot", target], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    return set(re.findall(r'^"([^"]+)";$', dag, flags=re.M))


def test_the_demo_base_is_trained_and_mined_before_its_adapters(tmp_path):
    stages = stages_before(tmp_path, {})
    assert AIPROD_TRAINING <= stages
    assert {"shard@5", "lora_precompute", "finetune"} <= stages


def test_a_diffusers_base_adapts_on_the_shards_without_training_aiprod(tmp_path):
    stages = stages_before(
        tmp_path,
        {"base": "wan", "base_path": "/opt/models/wan", "hard_examples": "datasets/shards"},
    )
    assert not AIPROD_TRAINING & stages, AIPROD_TRAINING & stages
    assert {"shard@1", "shard@5", "lora_precompute", "finetune"} <= stages
