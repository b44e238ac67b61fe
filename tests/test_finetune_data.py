"""The short path's data: clips into buckets, bucket batches that resume, and precompute
into latent shards (mirror images, phases without windows) on a tiny random Wan base."""

from __future__ import annotations

import numpy as np
import pytest
from short_path_support import runtime, short_path_config
from tiny_diffusers import save_tiny_wan
from tiny_models import save_tiny_latents

from aiprod.finetune.bucket_batches import BucketBatches
from aiprod.finetune.buckets import Bucket, choose_bucket, crop_box
from aiprod.finetune.precompute import precompute_stage
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.latents.mirror import MIRRORED_KEY
from aiprod.shards.stream import Split, StreamBatches, sequential


@pytest.fixture(scope="module")
def wan(tmp_path_factory):
    return save_tiny_wan(tmp_path_factory.mktemp("bases") / "wan")


def test_clips_go_to_the_nearest_aspect_ratio_then_the_longest_bucket_they_fill():
    buckets = [Bucket(64, 32, 9), Bucket(64, 32, 17), Bucket(32, 64, 9), Bucket(32, 32, 9)]
    assert choose_bucket(1920, 1080, 40, buckets) == Bucket(64, 32, 17)
    assert choose_bucket(1920, 1080, 12, buckets) == Bucket(64, 32, 9)  # too short for 17
    assert choose_bucket(1920, 1080, 40, buckets, frame_step=3) == Bucket(64, 32, 9)
    assert choose_bucket(720, 1280, 40, buckets) == Bucket(32, 64, 9)
    assert choose_bucket(500, 480, 40, buckets) == Bucket(32, 32, 9)
    assert choose_bucket(500, 480, 5, buckets) is None
    assert crop_box(1920, 1080, Bucket(32, 32, 9)) == (420, 0, 1080, 1080)
    assert crop_box(720, 1280, Bucket(64, 32, 9)) == (0, 460, 720, 360)
    assert all(Bucket.from_name(b.name) == b for b in buckets)  # the folder / meta.json names


def test_bucket_batches_resume_at_any_position_with_the_same_batches(tmp_path):
    streams = {}
    for name, count in (("a", 12), ("b", 6)):
        folder = save_tiny_latents(tmp_path / name, windows=count, shape=(4, 2, 4, 4))
        streams[name] = StreamBatches(
            latent_shards([folder]), Split(1), 2, 0, 100, expand_window, training_collate(0, 0.5)
        )
    data = BucketBatches(streams, 2, 1, seed=3)
    first = data.batches(0)
    run = [next(first).keys for _ in range(12)]
    assert {key[0][:4] for key in run} == {"clip"}
    resumed = data.batches(2 * 7)
    assert [next(resumed).keys for _ in range(5)] == run[7:]
    assert len({data.bucket_at(i) for i in range(12)}) == 2  # both buckets are drawn


def test_a_phase_without_windows_is_skipped_and_none_at_all_fails(wan, params, tmp_path):
    from aiprod.finetune.data import trained_phases

    config = short_path_config(params, tmp_path, "wan", wan)
    config = config.model_copy(
        update={"finetune": config.finetune.model_copy(update={"phases": [3, 5]})}
    )
    assert precompute_stage(config, runtime())["windows"]["phase3"] == {}
    assert trained_phases(config) == [5]
    empty = config.model_copy(
        update={"finetune": config.finetune.model_copy(update={"phases": [3]})}
    )
    with pytest.raises(ValueError, match=r"finetune.phases: none of \[3\] has a precomputed"):
        trained_phases(empty)


def test_precompute_adds_each_windows_mirror_with_its_side_words_and_flow_swapped(
    wan, params, tmp_path
):
    caption = "a red circle moves to the left"
    config = short_path_config(params, tmp_path, "wan", wan, caption=caption)
    assert config.encode.mirror  # the demo's setting
    meta = precompute_stage(config, runtime())
    assert meta["mirror"] and meta["windows"] == {"phase5": {"32x64x9": 8, "64x32x9": 8}}
    folder = tmp_path / "lora_latents" / "phase5" / "64x32x9"
    windows = {w.key: w for w in sequential(latent_shards([folder]), expand_window)}
    originals = [k for k in windows if not k.endswith(MIRRORED_KEY)]
    assert len(originals) == 4
    for key in originals:
        plain, mirrored = windows[key], windows[key + MIRRORED_KEY]
        texts = {t["language"]: t["text"] for t in mirrored.texts}
        assert texts["en"] == "a red circle moves to the right"
        flipped = plain.flow[..., ::-1].astype(np.float32) * np.array([-1, 1]).reshape(2, 1, 1, 1)
        assert np.allclose(mirrored.flow.astype(np.float32), flipped, atol=1e-2)
        assert not np.allclose(mirrored.latent, plain.latent)

    params["encode"]["mirror"] = False
    off = short_path_config(params, tmp_path / "off", "wan", wan, caption=caption)
    assert precompute_stage(off, runtime())["windows"]["phase5"] == {"32x64x9": 4, "64x32x9": 4}


def test_held_out_clips_are_precomputed_apart_unmirrored_and_never_trained_on(
    wan, params, tmp_path
):
    caption = "a red circle moves to the left"  # mirrored in training, not held out
    config = short_path_config(params, tmp_path, "wan", wan, caption=caption, holdout_share=0.3)
    meta = precompute_stage(config, runtime())
    assert meta["held_out_windows"] == {"32x64x9": 2}  # clip3: two windows, no mirror
    assert meta["windows"]["phase5"] == {"32x64x9": 4, "64x32x9": 8}
    root = tmp_path / "lora_latents"
    held = list(sequential(latent_shards([root / "heldout" / "32x64x9"]), expand_window))
    trained = [
        w
        for folder in (root / "phase5").iterdir()
        for w in sequential(latent_shards([folder]), expand_window)
    ]
    assert {w.meta["clip_id"] for w in held} == {"clip3"}
    assert "clip3" not in {w.meta["clip_id"] for w in trained}
