"""The data stages on a Dask LocalCluster, and per-clip results that let a killed stage resume."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, small_params

from aiprod.config import EngineConfig, parse_config

pytestmark = pytest.mark.integration


def _digests(config) -> dict[str, str]:
    """sha256 of every table and shard the curation half writes (paths relative to the run)."""
    files = [
        config.ingest.manifest,
        config.ingest.quarantine,
        config.score.output,
        config.caption.output,
        config.curriculum.output,
        *sorted(str(p) for p in Path(config.shards.dir).rglob("*") if p.is_file()),
        *sorted(str(p) for p in Path(config.score.flow_dir).glob("*.npy")),
    ]
    return {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}


def _curate(config) -> dict[str, str]:
    from flows.caption import run as run_caption
    from flows.curriculum import run as run_curriculum
    from flows.ingest import run as run_ingest
    from flows.score import run as run_score
    from flows.shard import run as run_shard

    run_ingest(config.ingest, config.engine)
    run_score(config)
    run_caption(config)
    run_curriculum(config)
    for phase in range(1, 6):
        run_shard(config, phase)
    return _digests(config)


def test_dask_runner_writes_the_same_manifests_and_shards(prefect_server, params, tmp_path):
    from flows.synth import synth_flow

    data = small_params(params, tmp_path)
    local = parse_config(data)
    synth_flow(local.synth)
    expected = _curate(local)
    for made in ("clips", "manifest", "flow", "shards", "task-cache"):
        shutil.rmtree(tmp_path / made)
    data["engine"]["runner"] = "dask"
    data["engine"]["dask"] = {"address": "", "workers": 2, "threads_per_worker": 1}
    assert _curate(parse_config(data)) == expected
    assert len(expected) > 10


def test_engine_rejects_a_scheduler_address_without_a_scheme():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="tcp://host:8786"):
        EngineConfig.model_validate({"runner": "dask", "dask": {"address": "localhost:8786"}})


def test_killed_score_resumes_without_redoing_finished_clips(prefect_server, params, tmp_path):
    """SIGKILL a real `python -m flows.score`; the re-run scores only the clips whose results
    were not persisted yet, and writes the same table as an uninterrupted run."""
    from flows.ingest import run as run_ingest
    from flows.synth import synth_flow

    data = small_params(params, tmp_path)
    data["synth"].update(videos=12, multi_scene_videos=1)
    data["score"]["concurrency"] = 1
    config = parse_config(data)
    synth_flow(config.synth)
    run_ingest(config.ingest)
    config_path = tmp_path / "params.yaml"
    config_path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    command = [sys.executable, "-m", "flows.score", "--params", str(config_path)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    clean = Path(config.score.output).read_bytes()
    flows = Path(config.score.flow_dir)
    shutil.rmtree(flows)
    shutil.rmtree(config.engine.cache_dir)
    Path(config.score.output).unlink()

    results = Path(config.engine.cache_dir) / "score"
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if results.is_dir() and len(list(results.iterdir())) >= 5:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not Path(config.score.output).exists()
    persisted = len(list(results.iterdir()))
    before = {p.name: p.stat().st_mtime_ns for p in flows.glob("*.npy")}

    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    assert Path(config.score.output).read_bytes() == clean
    clips = len(pd.read_parquet(config.ingest.manifest))
    after = {p.name: p.stat().st_mtime_ns for p in flows.glob("*.npy")}
    rescored = sum(before.get(name) != mtime for name, mtime in after.items())
    assert len(after) == clips and rescored == clips - persisted
    assert not list(flows.glob(".*.tmp"))


def test_a_cached_clip_whose_flow_file_was_lost_is_scored_again(prefect_server, small_config):
    """Also a result record cut short (a kill while Prefect wrote it, not atomically): Prefect
    reads it as missing, so that clip is scored again and its record written whole."""
    from flows.ingest import run as run_ingest
    from flows.score import run as run_score
    from flows.synth import synth_flow

    synth_flow(small_config.synth)
    run_ingest(small_config.ingest)
    run_score(small_config)
    table = Path(small_config.score.output).read_bytes()
    flows = sorted(Path(small_config.score.flow_dir).glob("*.npy"))
    flows[0].unlink()
    flows[1].write_bytes(b"overwritten by something else")
    (flows[0].parent / "gone-clip.npy").write_bytes(b"a clip no longer in the manifest")
    records = sorted((Path(small_config.engine.cache_dir) / "score").iterdir())
    whole = {p.name: p.stat().st_size for p in records}
    records[2].write_bytes(records[2].read_bytes()[:40])
    run_score(small_config)
    assert Path(small_config.score.output).read_bytes() == table
    assert sorted(Path(small_config.score.flow_dir).glob("*.npy")) == flows
    assert flows[1].read_bytes().startswith(b"\x93NUMPY")
    assert {p.name: p.stat().st_size for p in records} == whole


def test_score_and_caption_keep_only_the_results_their_last_run_used(prefect_server, small_config):
    """A settings change makes every cached result stale: the run after it drops them, so the
    cache does not grow with every change."""
    from flows.caption import run as run_caption
    from flows.ingest import run as run_ingest
    from flows.score import run as run_score
    from flows.synth import synth_flow

    synth_flow(small_config.synth)
    run_ingest(small_config.ingest)
    clips = len(pd.read_parquet(small_config.ingest.manifest))
    cache = Path(small_config.engine.cache_dir)
    run_score(small_config)
    run_caption(small_config)
    first = {
        stage: sorted(p.name for p in (cache / stage).iterdir()) for stage in ("score", "caption")
    }
    assert len(first["score"]) == len(first["caption"]) == clips
    score = small_config.score.model_copy(update={"duplicate_bits": 5})
    caption = small_config.caption.model_copy(update={"default_language": "de"})
    changed = small_config.model_copy(update={"score": score, "caption": caption})
    run_score(changed)
    run_caption(changed)
    for stage in ("score", "caption"):
        now = sorted(p.name for p in (cache / stage).iterdir())
        assert len(now) == clips and not set(now) & set(first[stage])
