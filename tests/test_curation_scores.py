"""Scores on frames rendered here: camera motion, motion, picture quality, duplicates."""

import cv2
import numpy as np
import pandas as pd
import pytest

from aiprod.curation.camera import camera_motion, classify
from aiprod.curation.duplicates import find_duplicates, hamming, key_frame_hashes, phash
from aiprod.curation.motion import clip_flow, downsample_flow, motion_stats
from aiprod.curation.quality import complexity, exposure, lighting, luma, sharpness
from aiprod.synth.render import render_scene
from aiprod.synth.world import ObjectSpec, SceneSpec

pytestmark = pytest.mark.quick


def frames_of(camera="static", lighting="steady", background="textured", motion="static"):
    spec = SceneSpec(
        objects=(
            ObjectSpec("circle", "red", "small", motion, "right" if motion == "linear" else None),
        ),
        background=background,
        background_colour="grey",
        camera=camera,
        lighting=lighting,
        occlusion=False,
        seed=3,
    )
    frames, truth = render_scene(spec, 24, 96)
    return np.stack(frames), truth


@pytest.mark.parametrize(
    "camera", ["static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out"]
)
def test_camera_motion_is_recognised(camera):
    frames, _ = frames_of(camera=camera)
    flow = clip_flow(luma(frames), 64)
    assert camera_motion(flow, still_px=0.25, zoom_rate=0.004, min_inliers=0.35).label == camera


def test_moving_object_on_a_plain_background_is_not_a_pan():
    frames, _ = frames_of(background="plain", motion="linear")
    flow = clip_flow(luma(frames), 64)
    assert camera_motion(flow, 0.25, 0.004, 0.35).label == "static"
    assert np.abs(flow).max() > 0.5 and motion_stats(flow).mean < 0.25


def test_classify_rules():
    assert classify(0.0, 0.0, 0.0, 0.9, 0.25, 0.004, 0.35) == "static"
    assert classify(1.0, 0.1, 0.0, 0.9, 0.25, 0.004, 0.35) == "pan_left"
    assert classify(0.0, -1.0, 0.0, 0.9, 0.25, 0.004, 0.35) == "tilt_down"
    assert classify(0.0, 0.0, -0.01, 0.9, 0.25, 0.004, 0.35) == "zoom_out"
    assert classify(1.0, 0.0, 0.0, 0.1, 0.25, 0.004, 0.35) == "complex"


def test_flow_pairs_are_sampled_by_stride():
    frames, _ = frames_of(camera="pan_left")
    assert clip_flow(luma(frames), 32, stride=4).shape == (6, 2, 32, 32)  # pairs at 0,4,..,20


def test_flow_matches_true_pan_speed_and_downsamples_consistently():
    frames, truth = frames_of(camera="pan_right")
    flow = clip_flow(luma(frames), 96)  # at the render size, so pixels compare directly
    measured = np.median(flow[:, 0])
    assert measured == pytest.approx(truth.camera[0, 0], abs=0.15)
    small = downsample_flow(flow, 32)
    assert small.dtype == np.float16 and small.shape == (23, 2, 32, 32)
    assert float(np.median(small[:, 0])) == pytest.approx(measured / 3, abs=0.05)


def test_quality_scores_respond():
    frames, _ = frames_of()
    grays = luma(frames)
    blurred = np.stack([cv2.GaussianBlur(g, (0, 0), 3) for g in grays])
    assert sharpness(blurred) < sharpness(grays) / 4
    dark = exposure((grays * 0.05).astype(np.uint8))
    assert dark["luma_mean"] < 10 and dark["clipped_dark"] > 0.9
    fade = lighting(luma(frames_of(lighting="fade_out")[0]))
    flicker = lighting(luma(frames_of(lighting="flicker")[0]))
    steady = lighting(grays)
    assert fade["lighting_change"] > 0.3 > steady["lighting_change"] and fade["lighting_trend"] < 0
    assert flicker["flicker"] > 3 * steady["flicker"]
    plain_frames = frames_of(background="plain")[0]
    plain = complexity(plain_frames[0], luma(plain_frames))
    assert complexity(frames[0], grays)["edge_density"] > plain["edge_density"]


def test_near_duplicates_are_marked_against_the_earlier_clip():
    a, _ = frames_of()
    b = np.clip(a.astype(int) + 6, 0, 255).astype(np.uint8)  # same content, re-encoded look
    c, _ = frames_of(background="plain", motion="linear")
    hashes = [key_frame_hashes(luma(x)) for x in (a, b, c)]
    assert hamming(phash(luma(a)[0]), phash(luma(b)[0])) <= 6
    assert find_duplicates(["a", "b", "c"], hashes, 6) == {"b": "a"}
    far = [[0, 0, 0], [2**64 - 1, 2**64 - 1, 0]]  # no block in common: no candidate at all
    assert find_duplicates(["a", "b"], far, 6) == {} and find_duplicates([], [], 6) == {}


def test_judge_lists_every_reason(params):
    from aiprod.config import parse_config
    from aiprod.curation.score import judge

    cfg = parse_config(params).score
    row = dict(
        clip_id="x",
        sharpness=1.0,
        luma_mean=5.0,
        clipped_dark=0.9,
        clipped_bright=0.0,
        motion_p95=99.0,
        phash="0,0,0",
    )
    good = dict(
        row,
        clip_id="y",
        sharpness=100.0,
        luma_mean=120.0,
        clipped_dark=0.0,
        motion_p95=1.0,
        phash="ffffffffffffffff,ffffffffffffffff,0",
    )
    judged = judge(pd.DataFrame([row, good]), cfg).set_index("clip_id")
    assert judged.loc["y", "keep"] and not judged.loc["x", "keep"]
    for word in ("blurry", "too dark", "clipped exposure", "too shaky"):
        assert word in judged.loc["x", "reasons"]


def brute_force_duplicates(ids, hashes, max_distance):
    """The definition, pair by pair: what the multi-index must reproduce."""
    found = {}
    for j in range(len(ids)):
        for i in range(j):
            if ids[i] in found or len(hashes[i]) != len(hashes[j]):
                continue
            if all(
                hamming(a, b) <= max_distance for a, b in zip(hashes[i], hashes[j], strict=True)
            ):
                found[ids[j]] = ids[i]
                break
    return found


@pytest.mark.quick
@pytest.mark.parametrize("max_distance", [0, 3, 6, 12])
def test_multi_index_duplicate_search_equals_the_pairwise_definition(max_distance):
    rng = np.random.default_rng(max_distance)
    hashes = []
    for n in range(600):
        if hashes and rng.random() < 0.4:  # a near copy of an earlier clip: flip a few bits
            base = hashes[rng.integers(len(hashes))]
            flips = rng.integers(0, max_distance + 3)
            copy = []
            for h in base:
                for bit in rng.choice(64, size=flips, replace=False):
                    h ^= 1 << int(bit)
                copy.append(h)
            hashes.append(copy)
        else:
            k = 3 if n % 50 else 2  # a few clips with another count of key frames
            hashes.append([int(x) for x in rng.integers(0, 2**63, size=k, dtype=np.int64)])
    ids = [f"c{n:04d}" for n in range(len(hashes))]
    expected = brute_force_duplicates(ids, hashes, max_distance)
    assert len(expected) > 50
    assert find_duplicates(ids, hashes, max_distance) == expected
