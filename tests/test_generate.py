"""`aiprod generate`: a prompt to a playable mp4, flow guidance from a reference video, errors."""

import av
import pytest
import torch
from conftest import make_video
from tiny_models import save_tiny_pipeline

from aiprod.cli import main as cli
from aiprod.generate import VideoGenerator


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("pipeline"))


def frames_of(path):
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames


@pytest.mark.parametrize(
    "prompt", ["A red circle moves left.", "赤い円が左へ動く。", "Красный круг."]
)
def test_generate_writes_a_playable_mp4_for_prompts_in_any_language(pipeline, tmp_path, prompt):
    model, _ = pipeline
    out = tmp_path / "out.mp4"
    rc = cli(["generate", prompt, "--checkpoint", str(model), "--steps", "2", "-o", str(out)])
    assert rc == 0
    frames = frames_of(out)
    assert len(frames) == 9 and frames[0].shape == (128, 128, 3)  # 32 px upscaled 4x


def test_generation_is_deterministic_in_the_seed_and_follows_a_motion_reference(pipeline, tmp_path):
    model, _ = pipeline
    generator = VideoGenerator(model)
    a = generator(["a red square"], steps=2, seed=1)
    assert torch.equal(a, generator(["a red square"], steps=2, seed=1))
    assert not torch.equal(a, generator(["a red square"], steps=2, seed=2))
    reference = make_video(tmp_path / "ref.mp4", frames=24, size=(64, 64))
    flow = generator.flow_from_video(reference, 9, 32)
    assert flow.shape == (2, 2, 32, 32) and flow.abs().sum() > 0
    guided = generator(["a red square"], steps=2, seed=1, flow=flow[None], guidance_strength=1.0)
    assert guided.shape == a.shape
    out = tmp_path / "guided.mp4"
    args = ["generate", "a red square", "--checkpoint", str(model), "--steps", "2", "-o", str(out)]
    assert cli([*args, "--motion-ref", str(reference), "--guidance-strength", "0.5"]) == 0
    assert len(frames_of(out)) == 9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--frames", "8"], "--frames 8: must be 1 + k * 4"),
        (["--size", "30"], "--size 30: must be a positive multiple of 8"),
        (["--guidance-strength", "1.5"], "--guidance-strength 1.5: must be in [0, 1]"),
        (["--guidance-strength", "0.5"], "needs a flow (--motion-ref VIDEO)"),
        (["--steps", "0"], "--steps 0: must be >= 1"),
        (["--motion-ref", "missing.mp4", "--guidance-strength", "1"], "--motion-ref missing.mp4"),
    ],
)
def test_generate_rejects_bad_values_clearly(pipeline, tmp_path, capsys, extra, message):
    model, _ = pipeline
    out = tmp_path / "x.mp4"
    assert cli(["generate", "a prompt", "--checkpoint", str(model), "-o", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_generate_names_a_missing_checkpoint(tmp_path, capsys):
    assert cli(["generate", "a prompt", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert "none.pt: no text-to-video checkpoint here" in err
