"""The flows under a temporary Prefect server, and the whole DAG through `dvc repro`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, DvcProject, small_params

pytestmark = pytest.mark.integration


def test_synth_and_ingest_flows_resume_after_a_kill(prefect_server, small_config):
    from flows.ingest import run as run_ingest
    from flows.synth import synth_flow

    assert synth_flow(small_config.synth) == 6
    cfg = small_config.ingest
    first = run_ingest(cfg)
    manifest = pd.read_parquet(cfg.manifest)
    assert first["clips"] == len(manifest) > 0 and first["quarantined"] == 4
    # simulate a run killed half-way: tables gone, half the sources' markers and clips gone
    Path(cfg.manifest).unlink()
    markers = sorted((Path(cfg.clips_dir) / "_sources").iterdir())
    for marker in markers[::2]:
        marker.unlink()
    for clip in sorted(Path(cfg.clips_dir).glob("*.mp4"))[::3]:
        clip.unlink()
    again = run_ingest(cfg)
    assert 0 < again["resumed"] < len(markers)
    pd.testing.assert_frame_equal(pd.read_parquet(cfg.manifest), manifest)
    quarantine = pd.read_parquet(cfg.quarantine)
    assert quarantine["reason"].str.len().min() > 0


def test_cli_rejects_bad_params_with_the_key_path(tmp_path, params):
    params["ingest"]["clip_seconds"] = {"min": 2.0, "max": 1.0}
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, "-m", "aiprod.cli", "ingest", "--params", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "ingest.clip_seconds.max: must be > min (2.0)" in proc.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "aiprod.cli", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert "synth" in help_text and "ingest" in help_text


def ran(stdout: str) -> set[str]:
    """The stages a `dvc repro` ran."""
    return {line.split("'")[1] for line in stdout.splitlines() if line.startswith("Running stage")}


def test_dvc_repro_runs_the_dag_and_a_second_repro_does_nothing(prefect_server, tmp_path, params):
    data = small_params(params, Path("datasets"))
    data["synth"]["out_dir"] = "datasets/raw/synthetic"
    data["ingest"]["sources"] = ["datasets/raw/synthetic", "datasets/raw/footage"]
    dvc = DvcProject(tmp_path / "project", prefect_server, data)
    project, sh, env = dvc.root, dvc.sh, dvc.env
    (project / "datasets" / "raw" / "footage").mkdir(parents=True)
    (project / "datasets" / "raw" / "footage" / ".gitkeep").touch()  # git keeps no empty folder
    first = sh("dvc", "repro")
    assert "Running stage 'synth'" in first.stdout and "Running stage 'ingest'" in first.stdout
    manifest = pd.read_parquet(project / data["ingest"]["manifest"])
    assert len(manifest) > 0 and manifest["source"].str.startswith("datasets/raw/synthetic").all()
    assert (project / manifest["path"]).map(Path.exists).all()
    quarantine = pd.read_parquet(project / data["ingest"]["quarantine"])
    assert not quarantine["reason"].str.contains(str(project)).any()  # portable across checkouts
    assert sorted(Path(s).name for s in quarantine["source"]) == [
        "broken_audio_only.mp4",
        "broken_empty.mp4",
        "broken_not_video.mp4",
        "broken_truncated.mp4",
    ]
    for name in ("score", "caption", "curriculum"):
        assert f"Running stage '{name}'" in first.stdout
    assert all(f"Running stage 'shard@{k}'" in first.stdout for k in range(1, 6))
    shards = sorted((project / data["shards"]["dir"]).glob("phase*/shard-*.tar"))
    assert {p.parent.name for p in shards} == {f"phase{k}" for k in range(1, 6)}
    assert (project / data["curriculum"]["report"]).stat().st_size > 10_000
    training = {"train_vae", "encode", "classifier", "evaluate"}
    training |= {"train_phase1"} | {f"train_phase@{k}" for k in range(2, 6)}
    training |= {f"mine@{k}" for k in range(1, 5)}
    training |= {"lora_precompute", "finetune"}  # the short path, on the demo's own model
    assert all(f"Running stage '{name}'" in first.stdout for name in training)
    metrics = json.loads((project / data["evaluate"]["metrics"]).read_text())
    assert set(metrics["adherence"]) == {"en", "ja", "chance"}
    assert metrics["generated_motion"]["videos"] > 0
    assert "median_speed_px" in metrics["read_back_ceiling"]["vae"]["motion"]
    flow = {"s0", "s0.5", "s1", "real_clips_ceiling", "vae_read_back_ceiling"}
    flow |= {"baseline_static_video"}
    assert flow <= set(metrics["flow_agreement"])
    assert metrics["fvd"]["extractor"] == "shapes-classifier" and metrics["fvd"]["videos"] > 0
    sweep = metrics["steps_and_guidance"]
    assert {f"steps{n}_s{s}" for n in (1, 2) for s in (0, 1)} <= set(sweep)
    assert "<video" in (project / data["evaluate"]["gallery"]).read_text()
    hard = pd.read_parquet(project / data["mine"]["out_dir"] / "phase1" / "hard.parquet")
    assert hard["loss"].is_monotonic_decreasing and hard["carried"].any()
    assert (project / data["train"]["out_dir"] / "phase5" / "dvclive").is_dir()
    shown = sh("dvc", "metrics", "show").stdout
    assert "adherence.en.colour" in shown or "adherence" in shown
    second = sh("dvc", "repro")
    assert ran(second.stdout) == {"sources"}  # it always lists the sources: nothing changed
    assert "Stage 'ingest' didn't change" in second.stdout

    # a file added to a source folder changes the listing, and so re-runs ingest
    added = project / "datasets" / "raw" / "footage" / "added.mp4"
    shutil.copy(next((project / "datasets" / "raw" / "synthetic").glob("*.mp4")), added)
    sh("dvc", "repro", "sources")
    assert "ingest" in sh("dvc", "status").stdout
    added.unlink()
    sh("dvc", "repro", "sources")
    assert "ingest" not in sh("dvc", "status").stdout

    # as a team shares it: push to a remote; a fresh clone pulls and has nothing to re-run
    sh("dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    sh("dvc", "push", "-q")
    sh("git", "add", "-A")
    dvc.commit("run")
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(project), str(clone))
    pulled = {**env, "PYTHONPATH": str(clone)}
    for args in (("dvc", "pull", "-q"), ("dvc", "status"), ("dvc", "repro")):
        done = subprocess.run(args, cwd=clone, env=pulled, capture_output=True, text=True)
        assert done.returncode == 0, f"{args} in the clone:\n{done.stdout}\n{done.stderr}"
    assert ran(done.stdout) == {"sources"} and "didn't change" in done.stdout
    assert (clone / data["evaluate"]["gallery"]).exists()

    def ran_after(section, key, value, *repro_args):
        data[section] = {**data[section], **{key: value}}
        dvc.write_params(data)
        return ran(sh("dvc", "repro", *repro_args).stdout) - {"sources"}

    shard_stages = {f"shard@{k}" for k in range(1, 6)}
    downstream = training - {"classifier"}  # the classifier reads the clips, not the shards
    thresholds = {**data["score"]["thresholds"], "min_luma": 110.0}  # rejects the dark clips
    assert (
        ran_after("score", "thresholds", thresholds)
        == {"score", "caption", "curriculum"} | shard_stages | downstream
    )
    hours = {**data["curriculum"]["hours"], "phase1": 2 * data["curriculum"]["hours"]["phase1"]}
    assert ran_after("curriculum", "hours", hours) == {"curriculum"} | shard_stages | downstream
    ablation = ran_after("curriculum", "enabled", False, "--dry")  # the switch: training only
    assert "train_phase1" in ablation and not ablation & ({"curriculum"} | shard_stages)
    data["curriculum"] = {**data["curriculum"], "enabled": True}
    phase3 = {**data["train"]["phase3"], "steps": 4}  # later phases only
    assert ran_after("train", "phase3", phase3) == {
        "train_phase@3",
        "mine@3",
        "train_phase@4",
        "mine@4",
        "train_phase@5",
        "evaluate",
        "lora_precompute",
        "finetune",
    }

    lora = project / data["finetune"]["out_dir"]
    assert "# LoRA for aiprod" in (lora / "README.md").read_text()
    validation = sorted((lora / "validation").rglob("*.mp4"))
    assert len(validation) == len(data["finetune"]["validation"]["prompts"])
    assert (lora / "adapter" / "adapter_config.json").exists() and (lora / "merged.pt").exists()
    sh("dvc", "repro", "--force", "--single-item", "finetune")  # reuses the finished run
    report = json.loads((project / data["finetune"]["metrics"]).read_text())
    assert report["steps_this_run"] == 0 and report["final_loss"] is not None
    held = report["held_out"]  # the reused run's adapters, judged again on the held-out clips
    assert (held["loss_before"] is None) == (held["windows"] == 0) == (held["loss_after"] is None)
    video = project / "sample.mp4"
    sh(
        "aiprod",
        "generate",
        "Un cercle rouge se déplace vers la gauche.",
        "--checkpoint",
        str(lora / "merged.pt"),
        "--steps",
        "2",
        "-o",
        str(video),
    )
    assert video.stat().st_size > 0

    # the same stage on two processes (DDP over gloo), into its own folder
    data["train"] = {**data["train"], "out_dir": "ddp_models", "metrics": "ddp_reports"}
    (project / "ddp.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    torchrun = Path(sys.executable).parent / "torchrun"
    sh(
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "flows.train_phase",
        "--phase",
        "1",
        "--params",
        "ddp.yaml",
    )
    ddp = json.loads((project / "ddp_reports" / "phase1.json").read_text())
    assert ddp["steps"] == data["train"]["phase1"]["steps"] and ddp["world_size"] == 2
    assert (project / "ddp_models" / "phase1" / "model.pt").exists()
    encoded = [
        json.loads(p.read_text()) for p in (project / data["encode"]["dir"]).glob("*/meta.json")
    ]
    assert sorted(m["phase"] for m in encoded) == [1, 2, 3, 4, 5]
    assert sum(m["train_windows"] for m in encoded) > 0 and encoded[0]["heldout_windows"] > 0


def test_killed_ingest_process_resumes_to_the_same_manifest(prefect_server, tmp_path, params):
    """SIGKILL a real `python -m flows.ingest` part-way, re-run it, compare with a clean run."""
    import signal
    import time

    data = small_params(params, tmp_path)
    data["synth"].update(videos=16, multi_scene_videos=2)
    data["ingest"]["concurrency"] = 1
    config_path = tmp_path / "params.yaml"
    config_path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    command = [sys.executable, "-m", "flows.ingest", "--params", str(config_path)]
    subprocess.run(
        [sys.executable, "-m", "flows.synth", "--params", str(config_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    clean = pd.read_parquet(data["ingest"]["manifest"])
    shutil.rmtree(data["ingest"]["clips_dir"])
    shutil.rmtree(Path(data["ingest"]["manifest"]).parent)

    markers = Path(data["ingest"]["clips_dir"]) / "_sources"
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 4:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not Path(data["ingest"]["manifest"]).exists()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_parquet(data["ingest"]["manifest"]), clean)


def test_curation_flows_end_to_end(prefect_server, small_config):

    import webdataset as wds

    from flows.caption import run as run_caption
    from flows.curriculum import run as run_curriculum
    from flows.ingest import run as run_ingest
    from flows.score import run as run_score
    from flows.shard import shard_flow
    from flows.synth import synth_flow

    synth_flow(small_config.synth)
    run_ingest(small_config.ingest)
    score_metrics = run_score(small_config)
    assert score_metrics["camera_clips"] > 0 and score_metrics["camera_accuracy"] >= 0.8
    assert run_caption(small_config)["captioned"] == score_metrics["clips"]
    captions = pd.read_parquet(small_config.caption.output)
    first = json.loads(captions.loc[0, "captions"])
    assert len(first) == 9 and json.loads(captions.loc[0, "tags_i18n"])["zh"]
    run_curriculum(small_config)
    table = pd.read_parquet(small_config.curriculum.output)
    assert set(table["phase"]) >= {1, 2, 3, 4, 5}
    page = Path(small_config.curriculum.report).read_text()
    assert "Filter yield" in page and "data:image/png;base64" in page
    for phase in range(1, 6):
        shard_flow(small_config, phase)
    urls = sorted(str(p) for p in Path(small_config.shards.dir).glob("phase1/*.tar"))
    keys = [s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False)]
    assert sorted(keys) == sorted(table.loc[table["phase"] == 1, "clip_id"])
