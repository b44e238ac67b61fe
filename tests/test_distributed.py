"""`torchrun` with two CPU processes (gloo): DDP and FSDP train like one process with the
batch of both, resume from their checkpoints (FSDP's on another world size), and leave one
set of files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import save_tiny_latents

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return save_tiny_latents(tmp_path_factory.mktemp("latents"), windows=24)


def launch(out, shards, strategy, batch, stop=0, ranks=2):
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{os.environ.get('PYTHONPATH', '')}"}
    args = [
        str(HERE / "ddp_worker.py"),
        str(out),
        str(shards),
        strategy,
        str(batch),
        "2",
        str(stop),
    ]
    if ranks > 1:
        torchrun = Path(sys.executable).parent / "torchrun"
        command = [str(torchrun), "--standalone", "--nproc_per_node", str(ranks), *args]
    else:
        command = [sys.executable, *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def losses(out):
    return [json.loads(line)["losses"] for line in (out / "losses.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    launch(out, shards, "ddp", batch=4, ranks=1)
    return out


def close(a: Path, b: Path):
    first, second = torch.load(a / "model.pt"), torch.load(b / "model.pt")
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=1e-4, atol=2e-5, msg=key)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_ranks_train_resume_and_match_one_process_with_the_global_batch(
    strategy, shards, single, tmp_path
):
    out = tmp_path / strategy
    launch(out, shards, strategy, batch=2, stop=3)  # killed after step 3; checkpoint at 2
    launch(out, shards, strategy, batch=2)  # resumes at step 2
    close(out, single)
    killed, resumed = losses(out)
    expected = losses(single)[0]
    assert len(killed) == 3 and len(resumed) == 4
    torch.testing.assert_close(torch.tensor(killed[:2] + resumed), torch.tensor(expected))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("checkpoint/")] == ["losses.jsonl", "model.pt"]
    assert {Path(f).parts[1] for f in files if f.startswith("checkpoint/step")} == {
        "step-0000006"
    }  # one checkpoint: the last


def test_an_fsdp_checkpoint_resumes_in_one_process(shards, single, tmp_path):
    """Written by two ranks' shards, read back whole by one: torch.distributed.checkpoint
    reshards; the data streams come from the checkpoint, so the order goes on unchanged."""
    out = tmp_path / "elastic"
    launch(out, shards, "fsdp", batch=2, stop=3)
    launch(out, shards, "fsdp", batch=4, ranks=1)
    close(out, single)
