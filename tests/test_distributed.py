"""`torchrun` with two CPU processes (gloo): DDP training equals one process on the same data."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from ddp_worker import run

HERE = Path(__file__).parent


def test_two_gloo_ranks_train_like_one_process_with_the_global_batch(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            str(HERE / "ddp_worker.py"),
            str(tmp_path / "ddp"),
            "4",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    rank0 = torch.load(tmp_path / "ddp" / "weights_rank0.pt")
    rank1 = torch.load(tmp_path / "ddp" / "weights_rank1.pt")
    for key in rank0:  # gradients were averaged: both ranks hold the same weights
        assert torch.equal(rank0[key], rank1[key])
    checkpoint = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert checkpoint["state"]["step"] == 20 and checkpoint["state"]["position"] == 20 * 8
    run(tmp_path / "single", 8)  # one process reading the same global batches
    single = torch.load(tmp_path / "single" / "weights_rank0.pt")
    for key in rank0:
        assert torch.allclose(rank0[key], single[key], atol=1e-5), key
