import numpy as np
import pytest

from aiprod.synth.captions import LANGUAGES, caption, captions
from aiprod.synth.render import render_scene
from aiprod.synth.world import LEVELS, ObjectSpec, SceneSpec, difficulty_level, sample_scene

pytestmark = pytest.mark.quick


def scene(**changes) -> SceneSpec:
    base = dict(
        objects=(ObjectSpec("star", "red", "small", "linear", "left"),),
        background="plain",
        background_colour="white",
        camera="static",
        lighting="steady",
        occlusion=False,
        seed=1,
    )
    return SceneSpec(**{**base, **changes})


@pytest.mark.parametrize("level", LEVELS)
def test_sampled_scenes_have_the_wanted_level(level):
    rng = np.random.default_rng(level)
    for _ in range(50):
        assert difficulty_level(sample_scene(rng, level, seed=0)) == level


def test_level_one_objects_always_move_and_every_direction_comes_up():
    rng = np.random.default_rng(0)
    objects = [sample_scene(rng, 1, seed=k).objects for k in range(80)]
    assert all(len(o) == 1 and o[0].motion == "linear" for o in objects)
    assert len({o[0].direction for o in objects}) == 8


def test_level_follows_from_choices():
    assert difficulty_level(scene()) == 1
    two = (*scene().objects, ObjectSpec("circle", "blue", "large", "static", None))
    assert difficulty_level(scene(objects=two)) == 2
    assert difficulty_level(scene(camera="pan_left")) == 3
    assert difficulty_level(scene(lighting="fade_in")) == 3
    assert difficulty_level(scene(occlusion=True)) == 4
    assert difficulty_level(scene(lighting="flicker", camera="zoom_in")) == 4


def test_captions_agree_in_gender_and_differ_by_language():
    text = captions(scene())
    assert set(text) == set(LANGUAGES)
    assert len(set(text.values())) == len(LANGUAGES)
    assert text["en"].startswith("A small red star moves to the left.")
    assert text["es"].startswith("Una estrella roja pequeña se mueve hacia la izquierda.")
    assert text["fr"].startswith("Une petite étoile rouge se déplace vers la gauche.")
    assert text["de"].startswith("Ein kleiner roter Stern bewegt sich nach links.")
    assert text["ru"].startswith("Маленькая красная звезда движется влево.")
    assert text["ja"].startswith("小さな赤い星が左へ動いている。")
    assert text["zh"].startswith("一个红色的小星形向左移动。")
    neuter = scene(objects=(ObjectSpec("square", "white", "large", "static", None),))
    assert caption(neuter, "de").startswith("Ein großes weißes Quadrat steht still.")
    assert caption(neuter, "pt").startswith("Um grande quadrado branco permanece imóvel.")


def test_render_matches_truth_and_is_deterministic():
    spec = scene(objects=(ObjectSpec("square", "red", "large", "linear", "right"),))
    frames, truth = render_scene(spec, 20, 64)
    again, _ = render_scene(spec, 20, 64)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    for k in (0, 19):
        red = (frames[k][..., 2] > 180) & (frames[k][..., 0] < 90)
        ys, xs = np.nonzero(red)
        assert abs(xs.mean() - truth.positions[k, 0, 0]) < 0.5
        assert abs(ys.mean() - truth.positions[k, 0, 1]) < 0.5
    assert truth.velocities[:, 0, 0].min() > 0  # moving right
    assert np.allclose(truth.velocities[:, 0, 1], 0)


def test_camera_truth_for_a_pan():
    _, truth = render_scene(scene(camera="pan_left", background="textured"), 10, 64)
    assert np.all(truth.camera[:, 0] > 0)  # camera left -> the background moves right
    assert np.allclose(truth.camera[:, 2], 1.0)


def test_corpus_is_deterministic_from_the_seed(small_config, tmp_path):
    from aiprod.fsutil import sha256_file
    from aiprod.synth.corpus import plan_corpus, render_video

    plans = plan_corpus(small_config.synth)
    assert plans == plan_corpus(small_config.synth)
    assert len(plans) == 6 and sum(len(p.scenes) > 1 for p in plans) == 2
    levels = {s.seed: s for p in plans for s in p.scenes}
    assert len(levels) == sum(len(p.scenes) for p in plans)
    first = render_video(small_config.synth, plans[-1], tmp_path / "a")
    second = render_video(small_config.synth, plans[-1], tmp_path / "b")
    assert sha256_file(first) == sha256_file(second)
    assert first.with_suffix(".json").read_text() == second.with_suffix(".json").read_text()


def test_level_weights_set_each_levels_share_of_the_corpus(small_config):
    from aiprod.synth.corpus import plan_corpus

    def levels(weights) -> list[int]:
        cfg = small_config.synth.model_copy(
            update={"videos": 50, "multi_scene_videos": 0, "level_weights": weights}
        )
        return [difficulty_level(plan.scenes[0]) for plan in plan_corpus(cfg)]

    assert [levels((1, 1, 1, 1)).count(k) for k in LEVELS] == [13, 13, 12, 12]
    assert [levels((2, 1, 1, 1)).count(k) for k in LEVELS] == [20, 10, 10, 10]
    assert set(levels((0, 0, 1, 0))) == {3}


def test_level_weights_must_name_some_level(params):
    from aiprod.config import ConfigError, parse_config

    params["synth"]["level_weights"] = [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="synth.level_weights"):
        parse_config(params)
