"""VAE pre-training from phase shards: metrics, weights, reconstructions, resume."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import make_video

from aiprod.config import parse_config
from aiprod.nn import presets
from aiprod.shards.writer import Sample, write_shards
from aiprod.train.data import is_holdout, load_bank, shard_urls
from aiprod.train.vae_stage import MODEL_FILE, train_vae_stage


@pytest.fixture
def shard_dir(tmp_path):
    samples = []
    for i in range(8):
        clip = make_video(tmp_path / f"v{i}.mp4", frames=12, size=(48, 40), seed=i)
        meta = {"clip_id": f"clip{i}", "captions": {"en": f"clip {i}"}}
        samples.append(
            Sample(f"clip{i}", clip.read_bytes(), meta, np.zeros((2, 2, 4, 4), np.float16))
        )
    write_shards(samples[:5], tmp_path / "shards" / "phase1", 4, 10**9)
    write_shards(samples[3:], tmp_path / "shards" / "phase2", 4, 10**9)  # 3, 4 in both phases
    return tmp_path / "shards"


@pytest.mark.quick
def test_bank_splits_by_id_hash_and_reads_each_clip_once(shard_dir):
    urls = shard_urls(shard_dir, [1, 2])
    train = load_bank(urls, frames=9, size=32, holdout_share=0.3, holdout=False)
    held = load_bank(urls, frames=9, size=32, holdout_share=0.3, holdout=True)
    assert sorted(train.keys + held.keys) == [f"clip{i}" for i in range(8)]
    assert all(is_holdout(k, 0.3) for k in held.keys)
    assert train.videos.shape[1:] == (3, 9, 32, 32)
    assert train.indices(0, len(train)) != list(range(len(train))) or len(train) < 3
    assert sorted(train.indices(0, len(train))) == list(
        range(len(train))
    )  # an epoch = a permutation


@pytest.mark.quick
def test_bank_decodes_only_the_clips_of_its_split(shard_dir, monkeypatch):
    """The held-out bank is a tenth of the corpus: its load must not decode the rest."""
    from aiprod.shards import loader

    decoded = []
    real_decode = loader.decode_mp4
    monkeypatch.setattr(loader, "decode_mp4", lambda data: decoded.append(1) or real_decode(data))
    held = load_bank(shard_urls(shard_dir, [1, 2]), 9, 32, holdout_share=0.3, holdout=True)
    assert len(decoded) == len(held.keys) < 8  # clips 3 and 4 sit in both phases: once each


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
    )
    return params


def test_train_vae_stage_writes_weights_metrics_and_resumes(shard_dir, tmp_path, params):
    config = parse_config(small_vae_params(params, shard_dir, tmp_path / "vae", 3))
    logged = []
    metrics = train_vae_stage(
        config.train_vae,
        config.model,
        config.shards,
        lambda name, value, step: logged.append((name, step)),
    )
    assert metrics["steps"] == 3 and metrics["psnr"] > 0 and 0 < metrics["ssim"] <= 1
    assert metrics["compression_ratio"] == 24.0 and ("loss", 3) in logged
    weights = torch.load(tmp_path / "vae" / MODEL_FILE, weights_only=False)
    assert weights["config"]["spatial_factor"] == 4 and len(weights["latent_std"]) == 8
    assert (tmp_path / "vae" / "reconstructions.png").stat().st_size > 0
    again = train_vae_stage(config.train_vae, config.model, config.shards)  # finished: resumes
    assert again["steps"] == 3 and again["psnr"] == metrics["psnr"]
    params["train_vae"]["steps"] = 5  # other settings: the old checkpoint is not resumed
    config = parse_config(params)
    longer = train_vae_stage(config.train_vae, config.model, config.shards)
    assert longer["steps"] == 5
    json.dumps(again)  # metrics are plain JSON for DVC


def test_a_preset_edited_in_code_starts_the_vae_afresh(shard_dir, tmp_path, params, monkeypatch):
    """Same params, another architecture: the old checkpoint is not loaded into it."""
    config = parse_config(small_vae_params(params, shard_dir, tmp_path / "vae", 2))
    train_vae_stage(config.train_vae, config.model, config.shards)
    tiny = presets.PRESETS["tiny"]
    narrower = dataclasses.replace(tiny, vae=dataclasses.replace(tiny.vae, latent_channels=4))
    monkeypatch.setitem(presets.PRESETS, "tiny", narrower)
    again = train_vae_stage(config.train_vae, config.model, config.shards)
    weights = torch.load(tmp_path / "vae" / MODEL_FILE, weights_only=False)
    assert again["steps"] == 2 and len(weights["latent_std"]) == 4


@pytest.mark.quick
def test_phase_bank_replays_earlier_phases_and_repeats_the_carried_clips(
    shard_dir, tmp_path, params
):
    import collections
    import shutil

    from aiprod.train.phase_stage import carry_dir, phase_bank

    phase2 = {**params["train"]["phase2"], "frames": 9, "size": 32, "frame_step": 1}
    params["shards"].update(dir=str(shard_dir), holdout_share=0.3)
    params["mine"].update(out_dir=str(tmp_path / "mining"))
    params["train"].update(windows=1, phase2={**phase2, "replay": True})
    config = parse_config(params)
    carry = carry_dir(config, 1)
    shutil.copytree(shard_dir / "phase1", carry)  # clips 0-4 mined after phase 1
    counts = collections.Counter(phase_bank(config, 2, holdout=False).keys)
    training = [f"clip{i}" for i in range(8) if not is_holdout(f"clip{i}", 0.3)]
    assert sorted(counts) == training  # phases 1 and 2, each clip once ...
    assert all(counts[k] == (2 if int(k[-1]) <= 4 else 1) for k in training)  # ... + the carry
    params["train"]["phase2"]["replay"] = False
    counts = collections.Counter(phase_bank(parse_config(params), 2, holdout=False).keys)
    # phase 2's own clips are 3-7; 0-2 come in only as carried, 3-4 both ways
    assert sorted(counts) == training
    assert all(counts[k] == (2 if k in ("clip3", "clip4") else 1) for k in training)
