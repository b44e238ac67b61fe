"""Evaluation pieces: Fréchet distance, flow read-back and agreement, prompts (the shapes
classifier: test_classifier.py)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import moving_video

from aiprod.config import ToleranceConfig
from aiprod.evaluate.classifier import (
    ShapesClassifier,
)
from aiprod.evaluate.frechet import feature_distance, frechet_distance, gaussian
from aiprod.evaluate.motion import (
    dominant_direction,
    flow_agreement,
    motion_read_back,
    motion_summary,
    video_flow,
)
from aiprod.evaluate.prompts import eval_prompts, eval_scenes
from aiprod.synth.world import ObjectSpec

TOLERANCE = ToleranceConfig(epe_px=1.0, angle_deg=30, min_motion_px=0.5)


def scipy_frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.quick
def test_frechet_distance_matches_scipy_in_float64():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 16))
    b = rng.normal(0.3, 1.5, size=(150, 16)) @ rng.normal(size=(16, 16)) * 0.5
    ours = feature_distance(a, b)
    assert ours == pytest.approx(scipy_frechet(a, b), rel=1e-6)
    assert feature_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(*gaussian(a), *gaussian(a + 1.0)) == pytest.approx(16.0, rel=1e-9)
    with pytest.raises(ValueError, match="need"):
        gaussian(a[:1])


@pytest.mark.parametrize("direction", ["right", "up", "down_left"])
def test_direction_is_read_back_from_a_rendered_moving_square(direction):
    video, _ = moving_video(direction)
    assert dominant_direction(video_flow(video)) == direction


def test_motion_read_back_measures_speed_angle_and_a_wandering_path():
    video, _ = moving_video("right")
    straight = motion_read_back(video_flow(video), "right")
    assert straight["angle_error_deg"] < 10 and straight["path_spread_deg"] < 20
    assert straight["speed_px"] > 0.5
    assert motion_read_back(video_flow(video), "up")["angle_error_deg"] == pytest.approx(90, abs=10)
    # every other frame pair runs the other way: the same frames, a path that wanders
    back_and_forth = torch.cat([video[:, :3], video[:, 1:2], video[:, 2:5]], dim=1)
    wandering = motion_read_back(video_flow(back_and_forth), "right")
    assert wandering["path_spread_deg"] > straight["path_spread_deg"] + 30
    still = motion_read_back(video_flow(video[:, :1].expand(-1, 9, -1, -1)), "right")
    assert still["speed_px"] == 0.0 and math.isnan(still["angle_error_deg"])


@pytest.mark.quick
def test_motion_summary_takes_medians_and_counts_still_videos_as_misses():
    import pandas as pd

    table = pd.DataFrame(
        {
            "speed_px": [1.0, 0.5, 0.0, 2.0],
            "angle_error_deg": [10.0, 50.0, math.nan, 20.0],
            "path_spread_deg": [5.0, 40.0, math.nan, 10.0],
        }
    )
    summary = motion_summary(table)
    assert summary["median_speed_px"] == 0.75 and summary["median_angle_error_deg"] == 20.0
    assert summary["within_45_deg"] == 0.5  # 2 of 4: the still video is not within
    assert summary["median_path_spread_deg"] == 10.0 and summary["videos"] == 4


def test_flow_agreement_separates_the_right_guide_from_the_opposite_one():
    video, _ = moving_video("right")
    measured = video_flow(video, stride=4)
    still = video_flow(moving_video("right", frames=9)[0][:, :1].expand(-1, 9, -1, -1), stride=4)
    assert np.abs(still).max() < 0.05  # a frozen video has no flow
    same = flow_agreement(measured, measured.copy(), TOLERANCE)
    opposite = flow_agreement(measured, -measured, TOLERANCE)
    assert same["all"] == 1.0 and same["moving"] == 1.0
    assert opposite["moving"] < 0.2 < same["moving"]
    assert opposite["moving_pixels"] > 0
    slow = measured * (0.9 / max(np.linalg.norm(measured, axis=1).max(), 1e-6))  # < 1 px
    static = flow_agreement(np.zeros_like(slow), slow, TOLERANCE)
    assert static["all"] > 0.9 and static["moving"] == 0.0  # still: within 1 px, no direction
    assert flow_agreement(slow * 1.2, slow, TOLERANCE)["moving"] == 1.0  # 20% off: within 30%


@pytest.mark.quick
def test_eval_prompts_share_scenes_across_languages_and_balance_colours():
    prompts = eval_prompts(["en", "ja", "ru"], 16, seed=0)
    assert len(prompts) == 48
    en = [p for p in prompts if p.language == "en"]
    ja = [p for p in prompts if p.language == "ja"]
    assert [p.colour for p in en] == [p.colour for p in ja]
    assert len({p.colour for p in en}) == 8 and len({p.direction for p in en}) == 8
    assert "red" in en[0].text and en[0].text != ja[0].text
    pairs = {(p.colour, p.direction) for p in en}
    assert len(pairs) == 16  # colour does not give the direction away


def test_i3d_extractor_loads_a_local_torchscript_and_names_it(tmp_path):
    from aiprod.evaluate.features import i3d_extractor

    class TinyI3D(torch.nn.Module):
        def forward(self, video: torch.Tensor) -> torch.Tensor:  # (B, 3, T, 224, 224)
            return torch.nn.functional.adaptive_avg_pool3d(video, (1, 2, 2)).flatten(1)

    path = tmp_path / "i3d.pt"
    torch.jit.script(TinyI3D()).save(str(path))
    extractor = i3d_extractor(path)
    features = extractor(torch.rand(3, 3, 9, 32, 32) * 2 - 1)
    assert extractor.name == "i3d:i3d.pt" and features.shape == (3, 12)
    with pytest.raises(FileNotFoundError, match="names no file"):
        i3d_extractor(tmp_path / "missing.pt")


def test_read_back_ceiling_reads_the_evaluation_scenes_rendered_and_through_the_vae(
    small_config, tmp_path
):
    """The rendered scenes' directions are read back by flow; a random VAE's reconstructions
    are scored the same way, on the same scenes."""
    from tiny_models import save_tiny_pipeline

    from aiprod.evaluate.adherence import read_back_ceiling
    from aiprod.generate import VideoGenerator

    model, _ = save_tiny_pipeline(tmp_path)
    config = small_config.model_copy(
        update={"evaluate": small_config.evaluate.model_copy(update={"prompts_per_language": 8})}
    )
    ceiling = read_back_ceiling(VideoGenerator(model), ShapesClassifier(width=8), config)
    assert ceiling["scenes"] == 8 and set(ceiling) == {"rendered", "vae", "scenes"}
    assert ceiling["rendered"]["direction"] >= 0.75  # the flow reader works on real pixels
    for side in ("rendered", "vae"):
        assert all(0.0 <= ceiling[side][k] <= 1.0 for k in ("colour", "shape", "direction"))
        assert ceiling[side]["motion"]["videos"] == 8
    rendered = ceiling["rendered"]["motion"]
    assert rendered["median_angle_error_deg"] < 15 and rendered["within_45_deg"] >= 0.75


@pytest.mark.quick
def test_adherence_summary_gives_the_chance_of_each_language_score():
    """A p-value per language against the chance rate: 16 of 32 colours right cannot be luck,
    4 of 32 directions (exactly chance) can."""
    import pandas as pd

    from aiprod.evaluate.adherence import adherence_summary

    rows = [
        {
            "language": "ja",
            "colour": "red",
            "read_colour": "red" if i < 16 else "blue",
            "shape": "star",
            "read_shape": "circle",
            "direction": "up",
            "read_direction": "up" if i < 4 else "down",
        }
        for i in range(32)
    ]
    summary = adherence_summary(pd.DataFrame(rows))
    assert summary["ja"]["colour"] == 0.5 and summary["ja"]["direction"] == 0.125
    assert summary["ja"]["colour_p"] < 1e-5 < 0.5 < summary["ja"]["direction_p"]
    assert summary["ja"]["prompts"] == 32 and summary["chance"]["direction"] == 0.125


def test_fvd_is_fit_in_as_many_principal_components_as_the_videos_support():
    from aiprod.evaluate.frechet import full_rank_dims, principal_basis

    rng = np.random.default_rng(0)
    real = rng.normal(size=(63, 64)) @ rng.normal(size=(64, 64))  # the demo's counts
    assert full_rank_dims(64, 63, 63, 63) == 31 and full_rank_dims(64, 2048, 2048) == 64
    basis = principal_basis(real, 31)
    assert basis.shape == (64, 31)
    np.testing.assert_allclose(basis.T @ basis, np.eye(31), atol=1e-9)
    _, cov = gaussian(real @ basis)
    assert np.linalg.matrix_rank(cov) == 31  # full rank, where the 64-dim fit has rank 62
    assert np.linalg.matrix_rank(gaussian(real)[1]) == 62
    variance = np.var(real @ basis, axis=0)
    assert (np.diff(variance) <= 1e-9).all()  # the largest-variance directions first


@pytest.mark.quick
def test_zero_shot_prompts_are_in_languages_no_caption_uses():
    from aiprod.evaluate.zero_shot import ZERO_SHOT, subject_particle
    from aiprod.synth.captions import LANGUAGES, captions

    assert not set(ZERO_SHOT) & set(LANGUAGES)
    scene = eval_scenes(1, 0)[0]
    trained = " ".join(captions(scene).values())
    prompts = {p.language: p.text for p in eval_prompts(["en", "ko", "nl", "tr"], 1, 0)}
    assert set(prompts) == {"en", "ko", "nl", "tr"}
    for language in ZERO_SHOT:
        assert prompts[language] not in trained and prompts[language] != prompts["en"]
    assert subject_particle("원") == "이" and subject_particle("마름모") == "가"
    circle = ObjectSpec("circle", "red", "small", "linear", "left")
    square = ObjectSpec("square", "red", "small", "linear", "left")
    assert ZERO_SHOT["nl"].noun_phrase(circle) == "een kleine rode cirkel"
    assert ZERO_SHOT["nl"].noun_phrase(square) == "een klein rood vierkant"  # a het-word
    assert ZERO_SHOT["tr"].noun_phrase(square) == "küçük kırmızı bir kare"


def test_contradicting_references_move_against_their_prompts(small_config, tiny_model):
    """Every ordered pair of directions once; each reference's guide (from the rendered
    scene, as a --motion-ref would give it) moves the way the reference does."""
    from aiprod.evaluate.contradiction import contradicting_pairs, reference_flow
    from aiprod.generate import VideoGenerator

    pairs = contradicting_pairs(0)
    directions = [(a.objects[0].direction, s.objects[0].direction) for a, s in pairs]
    assert len(set(directions)) == len(pairs) == 56 and all(a != s for a, s in directions)
    assert all(a.objects[0].shape == s.objects[0].shape for a, s in pairs)
    generator = VideoGenerator(tiny_model)
    for _, shown in pairs[::9]:
        guide = reference_flow(generator, shown).numpy()  # (2, P, h, w)
        read = dominant_direction(guide.transpose(1, 0, 2, 3), min_px=0.01)
        assert read == shown.objects[0].direction


def test_steps_and_guidance_gives_fvd_and_adherence_per_step_count_and_strength(
    small_config, tiny_model, monkeypatch
):
    """Every step count without and with guidance, each against the same real set; more
    steps (or a guide) change the generated videos, so the figures are measured, not copied."""
    from aiprod.evaluate.features import Extractor
    from aiprod.evaluate.fvd import RealSet
    from aiprod.evaluate.steps_guidance import steps_guidance_metrics
    from aiprod.generate import VideoGenerator

    generator = VideoGenerator(tiny_model)
    torch.manual_seed(0)
    with torch.no_grad():  # the zero-initialised output and flow layers of an untrained model
        for weight in generator.model.parameters():
            if not weight.any():
                weight.normal_(0.0, 0.05)
    classifier = ShapesClassifier(width=8)
    extractor = Extractor("shapes-classifier", classifier.embed)
    real_videos = torch.rand(6, 3, generator.frames, generator.size, generator.size) * 2 - 1
    grid = generator.codec.encode(real_videos[:1]).shape[-2:]
    guides = torch.randn(6, 2, 2, *grid)
    real = RealSet(extractor, ["a red circle moves left"] * 6, extractor(real_videos).numpy()
                   .astype(np.float64), None, 32, 32, generator.frames)  # fmt: skip
    streamed = []

    def held_out(config, limit):  # the held-out windows' guides, streamed again for each set
        streamed.append(limit)
        return iter([SimpleNamespace(guide=guide) for guide in guides[:limit]])

    monkeypatch.setattr("aiprod.evaluate.fvd.held_out", held_out)
    ev = small_config.evaluate.model_copy(
        update={"steps": 3, "sweep_steps": [1, 3], "sweep_prompts": 2}
    )
    config = small_config.model_copy(update={"evaluate": ev})
    figures = steps_guidance_metrics(generator, config, classifier, real)
    points = ["steps1_s0", "steps1_s1", "steps3_s0", "steps3_s1"]
    reused = steps_guidance_metrics(
        generator, config, classifier, real, figures["steps3_s0"]["fvd"] + 1
    )
    assert reused["steps3_s0"]["fvd"] == figures["steps3_s0"]["fvd"] + 1  # the `fvd` figure's
    assert reused["steps1_s0"] == figures["steps1_s0"]  # videos are not made again
    assert figures["prompts"] == 2 and figures["fvd_videos"] == 6
    assert streamed == [6] * 4  # a guided set per step count, in each of the two calls
    assert set(figures) == {"language", "prompts", "fvd_videos", *points}
    for point in points:
        assert figures[point]["fvd"] > 0
        assert 0 <= figures[point]["colour"] <= 1 and 0 <= figures[point]["direction"] <= 1
    assert len({figures[p]["fvd"] for p in points}) == len(points)


def test_frechet_distance_in_one_dimension():
    """Two videos a side: FVD is fit in one principal component, a (1, 1) covariance."""
    a, b = np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])
    # means 1 and 2, variances 2 and 2: (1 - 2)^2 + 2 + 2 - 2 * sqrt(2 * 2) = 1
    assert feature_distance(a, b) == pytest.approx(1.0)


def test_the_fvd_floor_draws_training_clips_of_each_phase_as_the_held_out_set_holds(
    params, tmp_path
):
    from collections import Counter

    from conftest import clip_sample

    from aiprod.config import parse_config
    from aiprod.evaluate.fvd import matched_train_windows
    from aiprod.latents.stage import phase_windows
    from aiprod.shards.stream import sequential
    from aiprod.shards.writer import write_shards
    from aiprod.train.data import phase_dirs, pixel_shards, pixel_windows

    for phase in (1, 3):
        flow = np.zeros((12, 2, 16, 16), np.float16)
        samples = [
            clip_sample(tmp_path / f"p{phase}_{i}.mp4", f"p{phase}c{i}", {"en": "x"}, flow,
                        f"source{phase}{i}", seed=i, phase=phase)
            for i in range(8)
        ]  # fmt: skip
        write_shards(samples, tmp_path / "shards" / f"phase{phase}", 4, 10**9)
    params["shards"].update(dir=str(tmp_path / "shards"), holdout_share=0.5)
    config = parse_config(params)
    spec = phase_windows(config, 5, 1)
    held = pixel_shards(phase_dirs(config.shards.dir, [1, 3]), spec, 0.5, holdout=True)
    held_keys = {w.key for w in sequential(held, lambda raw: pixel_windows(raw, spec))}
    assert 0 < len(held_keys) < 16  # both sides of the split are there to be told apart

    floor = list(matched_train_windows(config, Counter({1: 2, 3: 3})))
    assert Counter(w.meta["phase"] for w in floor) == {1: 2, 3: 3}
    assert not {w.key for w in floor} & held_keys
    assert floor[0].as_float().shape == (3, spec.frames, spec.size, spec.size)
