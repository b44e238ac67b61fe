"""VAE pre-training streamed from phase shards: the held-out split, metrics, weights, resume."""

import dataclasses
import json
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from conftest import make_video

from aiprod.config import RuntimeConfig, parse_config
from aiprod.nn import presets
from aiprod.runtime import resolve
from aiprod.shards.stream import sequential
from aiprod.shards.writer import Sample, write_shards
from aiprod.train import data as data_module
from aiprod.train.codec import MODEL_FILE
from aiprod.train.data import WindowSpec, is_holdout, phase_dirs, pixel_shards, pixel_windows
from aiprod.train.vae_stage import train_vae_stage

CPU = resolve(RuntimeConfig(device="cpu"))
SPEC = WindowSpec(frames=9, size=32, windows=1, frame_step=1, flow_stride=4)


@pytest.fixture
def shard_dir(tmp_path):
    """8 clips of 4 sources (two neighbouring clips a source) in two phases."""
    samples = []
    for i in range(8):
        clip = make_video(tmp_path / f"v{i}.mp4", frames=12, size=(48, 40), seed=i)
        meta = {
            "clip_id": f"clip{i}",
            "captions": {"en": f"clip {i}"},
            "clip": {"frames": 12},
            "lineage": {"source_sha256": f"source{i // 2}"},
        }
        samples.append(
            Sample(f"clip{i}", clip.read_bytes(), meta, np.zeros((3, 2, 4, 4), np.float16))
        )
    write_shards(samples[:5], tmp_path / "shards" / "phase1", 4, 10**9)
    write_shards(samples[3:], tmp_path / "shards" / "phase2", 4, 10**9)  # 3, 4 in both phases
    return tmp_path / "shards"


@pytest.mark.quick
def test_clips_are_held_out_by_source_and_each_counted_once(shard_dir):
    folders = phase_dirs(shard_dir, [1, 2])
    keys = {}
    for holdout in (False, True):
        shards = pixel_shards(folders, SPEC, 0.5, holdout)
        keys[holdout] = [
            w.meta["clip_id"] for w in sequential(shards, lambda s: pixel_windows(s, SPEC))
        ]
    assert sorted(keys[False] + keys[True]) == [f"clip{i}" for i in range(8)]  # 3, 4 once
    for held in keys[True]:  # a source's neighbouring clips sit on one side only
        source = int(held[-1]) // 2
        assert {f"clip{2 * source}", f"clip{2 * source + 1}"} <= set(keys[True])
    assert all(is_holdout(f"source{int(k[-1]) // 2}", 0.5) for k in keys[True])
    assert 0 < len(keys[True]) < 8


@pytest.mark.quick
def test_a_held_out_pass_decodes_only_the_clips_of_its_split(shard_dir, monkeypatch):
    decoded = []
    real_decode = data_module.decode_mp4
    monkeypatch.setattr(data_module, "decode_mp4", lambda b: decoded.append(1) or real_decode(b))
    shards = pixel_shards(phase_dirs(shard_dir, [1, 2]), SPEC, 0.5, holdout=True)
    windows = list(sequential(shards, lambda s: pixel_windows(s, SPEC)))
    assert len(decoded) == len(windows) < 8
    assert windows[0].video.shape == (3, 9, 32, 32) and windows[0].video.dtype == torch.uint8


def small_vae_params(params: dict, shard_dir, out_dir, steps: int) -> dict:
    """A few VAE steps on the fixture's shards (phases 1 and 2), one window a clip."""
    params["shards"].update(dir=str(shard_dir), holdout_share=0.3)
    params["train_vae"].update(
        out_dir=str(out_dir),
        steps=steps,
        frames=9,
        size=32,
        batch_size=2,
        checkpoint_every=1,
        phases=[1, 2],
        frame_step=1,
        windows=1,
        shuffle_buffer=4,
    )
    return params


def recording(log: list):
    @contextmanager
    def opened(resume):
        log.append(("resume", resume))
        yield lambda name, value, step: log.append((name, step))

    return opened


def test_train_vae_stage_writes_weights_metrics_and_resumes(shard_dir, tmp_path, params):
    config = parse_config(small_vae_params(params, shard_dir, tmp_path / "vae", 3))
    logged = []
    metrics = train_vae_stage(config, CPU, recording(logged))
    assert metrics["steps"] == 3 and metrics["psnr"] > 0 and 0 < metrics["ssim"] <= 1
    assert metrics["compression_ratio"] == 24.0 and ("loss", 3) in logged
    assert logged[0] == ("resume", False)  # a fresh run starts its curves anew
    weights = torch.load(tmp_path / "vae" / MODEL_FILE, weights_only=False)
    assert weights["config"]["spatial_factor"] == 4 and len(weights["latent_std"]) == 8
    assert (tmp_path / "vae" / "reconstructions.png").stat().st_size > 0
    again = train_vae_stage(config, CPU, recording(logged))  # finished: resumes, no steps
    assert again["steps"] == 3 and again["psnr"] == metrics["psnr"]
    assert logged[-1] == ("resume", True)
    params["train_vae"]["steps"] = 5  # other settings: the old checkpoint is not resumed
    longer = train_vae_stage(parse_config(params), CPU, recording(logged))
    assert longer["steps"] == 5 and [e for e in logged if e[0] == "resume"][-1] == ("resume", False)
    json.dumps(again)  # metrics are plain JSON for DVC


def test_a_preset_edited_in_code_starts_the_vae_afresh(shard_dir, tmp_path, params, monkeypatch):
    """Same params, another architecture: the old checkpoint is not loaded into it."""
    config = parse_config(small_vae_params(params, shard_dir, tmp_path / "vae", 2))
    train_vae_stage(config, CPU)
    tiny = presets.PRESETS["tiny"]
    narrower = dataclasses.replace(tiny, vae=dataclasses.replace(tiny.vae, latent_channels=4))
    monkeypatch.setitem(presets.PRESETS, "tiny", narrower)
    again = train_vae_stage(config, CPU)
    weights = torch.load(tmp_path / "vae" / MODEL_FILE, weights_only=False)
    assert again["steps"] == 2 and len(weights["latent_std"]) == 4


def test_the_vae_trains_in_fp16_and_bf16_on_the_cpu(shard_dir, tmp_path, params):
    """CPU autocast takes both; fp16 goes through a GradScaler on device "cpu"."""
    config = parse_config(small_vae_params(params, shard_dir, tmp_path / "vae", 3))
    for precision in ("fp16", "bf16"):
        runtime = resolve(RuntimeConfig(device="cpu", precision=precision))
        assert runtime.grad_scaler().is_enabled() == (precision == "fp16")
        out = tmp_path / precision
        cfg = config.model_copy(
            update={"train_vae": config.train_vae.model_copy(update={"out_dir": str(out)})}
        )
        metrics = train_vae_stage(cfg, runtime)
        assert metrics["steps"] == 3 and np.isfinite(metrics["final_loss"])
        assert np.isfinite(metrics["psnr"])


@pytest.mark.quick
def test_a_window_takes_its_flow_fields_at_the_stored_stride_not_a_guess():
    """Fields were stored every `score.flow.stride` frames; window n of 5 frames at frame
    step 2 starts at kept frame 4n, so its first field is number n (fields every 4 source
    frames, every 2nd kept after the step). The old code guessed the stride from the counts
    (round(17 / 5) = 3) and gave window 3 the 5th kept field instead of the 4th."""
    frames = np.zeros((36, 8, 8, 3), np.uint8)
    flow = np.arange(9, dtype=np.float32)[:, None, None, None] * np.ones((9, 2, 2, 2), np.float32)
    spec = WindowSpec(frames=5, size=8, windows=4, frame_step=2, flow_stride=4)
    cut = data_module.windows_of(frames, flow, spec)
    assert [n for n, _, _ in cut] == [0, 1, 2, 3]
    assert [float(fields[0, 0, 0, 0]) / 2 for _, _, fields in cut] == [0.0, 2.0, 4.0, 6.0]
