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
    assert flow.shape == (2, 2, 8, 8) and flow.abs().sum() > 0  # at the latent grid
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


def test_motion_reference_flow_is_in_the_units_training_stored(pipeline, tmp_path):
    """Training flow is px/frame at `score.flow.save_size` (32 here): a reference flowed at a
    256 px generation size must be scaled by 32/256, not by the training size over it."""
    import cv2
    import numpy as np

    from aiprod.video.ffmpeg import write_h264

    model, _ = pipeline
    generator = VideoGenerator(model)
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (256, 512)).astype(np.uint8), (0, 0), 6)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    frames = [  # the whole picture slides 8 px a frame right at 256 px: 1 px a frame at 32
        np.repeat(texture[:, 256 - 8 * k : 512 - 8 * k, None], 3, axis=2) for k in range(20)
    ]
    reference = tmp_path / "ref.mp4"
    write_h264(reference, frames, 12)
    small = generator.flow_from_video(reference, 9, 32)
    large = generator.flow_from_video(reference, 9, 256)
    assert large.shape == (2, 2, 64, 64) and small.shape == (2, 2, 8, 8)
    # frame_step 2: 2 px per (stepped) frame at the stored flow's 32 px, read at either size
    for flow in (small, large):
        assert 1.6 < float(flow[0].mean()) < 2.4 and abs(float(flow[1].mean())) < 0.4
    generator.size = 256  # trained at 256 px: the flow's units do not follow the video size
    torch.testing.assert_close(generator.flow_from_video(reference, 9, 256), large)
    generator.flow_save_size = 64  # a model trained on flow kept at 64 px
    torch.testing.assert_close(generator.flow_from_video(reference, 9, 256), large * 2)


def test_a_model_folder_copied_elsewhere_finds_its_vae(pipeline, tmp_path, monkeypatch):
    """The VAE is named relative to the model file (and by sha256), not the working folder."""
    import shutil

    model, vae = pipeline
    copied = tmp_path / "elsewhere" / "models"
    shutil.copytree(model.parent, copied)
    monkeypatch.chdir(tmp_path)  # another working folder
    out = tmp_path / "a.mp4"
    assert cli(["generate", "a red square", "--checkpoint", str(copied / model.name),
                "--steps", "1", "-o", str(out)]) == 0  # fmt: skip
    (copied / vae.name).write_bytes(b"not the VAE")
    with pytest.raises(ValueError, match="not the one it was trained with"):
        VideoGenerator(copied / model.name)


def test_generate_reads_the_runtime_and_names_a_device_it_cannot_have(pipeline, tmp_path, capsys):
    model, _ = pipeline
    args = ["generate", "a red square", "--checkpoint", str(model), "--steps", "1"]
    assert cli([*args, "--device", "cuda", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "runtime.device: cuda asked for, but this machine has no CUDA GPU" in (
        capsys.readouterr().err
    )
    assert cli([*args, "--precision", "bf16", "-o", str(tmp_path / "y.mp4")]) == 0
