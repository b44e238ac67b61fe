"""The short path on diffusers bases (tiny random LTX-Video and Wan 2.1 pipelines saved with
`save_pretrained` and loaded through `finetune.base_path`): the folder check, precompute,
LoRA + flow-encoder training, exact resume, and adapters a pipeline loads. Buckets and
precompute's details: test_finetune_data.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import make_video
from short_path_support import runtime, short_path_config
from tiny_diffusers import save_tiny_ltx2, save_tiny_ltx_video, save_tiny_wan

from aiprod.config import ConfigError, parse_config
from aiprod.finetune.bases import check_base_path
from aiprod.finetune.checks import check_finetune
from aiprod.finetune.data import phase_batches
from aiprod.finetune.diffusers_model import scheduler_config, sigma_shift
from aiprod.finetune.export import LORA_FILE, load_flow_encoder, pipeline_with_lora, save_adapter
from aiprod.finetune.held_out import held_out_loss
from aiprod.finetune.objective import flow_matching_loss
from aiprod.finetune.precompute import precompute_stage, read_meta
from aiprod.finetune.stage import finetune_diffusers
from aiprod.finetune.trainer import (
    base_objective,
    build_denoiser,
    load_spec,
    null_text,
    train_lora,
)
from aiprod.nn.rectified_flow import LossWeights

SAVERS = {"ltx-video": save_tiny_ltx_video, "wan": save_tiny_wan, "ltx-2": save_tiny_ltx2}
LTX2_TINY = dict(  # no spatio-temporal guidance block in a 1-layer model; one CFG pass
    stg_scale=0.0,
    spatio_temporal_guidance_blocks=None,
    modality_scale=1.0,
    guidance_rescale=0.0,
    audio_guidance_scale=1.0,
    audio_stg_scale=0.0,
    audio_modality_scale=1.0,
    audio_guidance_rescale=0.0,
    use_cross_timestep=False,
)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    return {name: save(root / name) for name, save in SAVERS.items()}


def test_a_missing_or_mismatched_base_folder_fails_naming_the_key(bases, tmp_path):
    with pytest.raises(ConfigError, match="finetune.base_path: .* holds no model_index.json"):
        check_base_path("wan", tmp_path)
    with pytest.raises(ConfigError, match="holds a WanPipeline, but finetune.base: ltx-video"):
        check_base_path("ltx-video", bases["wan"])
    broken = tmp_path / "broken"
    shutil.copytree(bases["ltx-video"], broken)
    shutil.rmtree(broken / "transformer")
    with pytest.raises(ConfigError, match="lacks its transformer"):
        check_base_path("ltx-video", broken)
    assert check_base_path("wan", bases["wan"]).pipeline == "WanPipeline"


def test_a_base_path_is_required_for_every_base_and_the_old_key_is_named(params):
    params["finetune"].update(base="wan", base_path="")
    with pytest.raises(ConfigError, match="finetune.base_path: .*a local diffusers folder when"):
        parse_config(params)
    params["finetune"]["base"] = "aiprod"
    with pytest.raises(ConfigError, match="finetune.base_path: .*a text-to-video model.pt when"):
        parse_config(params)
    params["finetune"].update(base_path="models/phase5/model.pt", checkpoint="models/x.pt")
    with pytest.raises(ConfigError, match="finetune.checkpoint was renamed finetune.base_path"):
        parse_config(params)


def trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def frozen(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


@pytest.mark.parametrize("base", ["ltx-video", "wan", "ltx-2"])
def test_short_path_precomputes_trains_resumes_and_exports_adapters_a_pipeline_loads(
    base, bases, params, tmp_path
):
    config = short_path_config(params, tmp_path, base, bases[base])
    rt = runtime()
    meta = precompute_stage(config, rt)
    assert meta["windows"] == {"phase5": {"32x64x9": 4, "64x32x9": 4}}  # 2 clips x 2 windows
    spec = load_spec(config)
    folders = sorted((tmp_path / "lora_latents" / "phase5").iterdir())
    first = next(iter(phase_batches(config, 5, rt)[0].batches(0)))
    assert first.frozen[0].ndim == 3 and first.frozen[1].dtype == torch.bool
    assert [f.name for f in folders] == ["32x64x9", "64x32x9"]

    # an uninterrupted run, and one killed after 2 steps then resumed: the same adapters
    whole = build_denoiser(config, spec, rt)
    base_weights = frozen(whole)
    before = trainable(whole)
    run = train_lora(config, whole, rt, tmp_path / "whole")
    assert run.step == 4
    after = trainable(whole)
    assert all(torch.equal(base_weights[n], p) for n, p in frozen(whole).items())
    changed = [n for n in after if not torch.equal(after[n], before[n])]
    assert any("lora_B" in n for n in changed) and any(n.startswith("flow.") for n in changed)
    killed = build_denoiser(config, spec, rt)
    train_lora(config, killed, rt, tmp_path / "killed", stop_after=2)
    resumed = build_denoiser(config, spec, rt)
    assert train_lora(config, resumed, rt, tmp_path / "killed").losses == run.losses[2:]
    assert all(torch.equal(trainable(resumed)[n], p) for n, p in after.items())
    reused = train_lora(config, build_denoiser(config, spec, rt), rt, tmp_path / "killed")
    assert reused.losses == [] and reused.step == 4  # finished: nothing to train again
    assert reused.last_loss == pytest.approx(run.losses[-1])  # what the report's final_loss says

    # guidance strength 0 is the base + LoRA exactly; the trained flow encoder moves it
    batch = first
    sigma = torch.full((2,), 0.7)
    hidden, mask = batch.frozen
    with torch.no_grad():
        plain = whole(batch.latents, sigma, hidden, mask)
        off = whole(batch.latents, sigma, hidden, mask, batch.flow, torch.zeros(2))
        on = whole(batch.latents, sigma, hidden, mask, batch.flow, torch.ones(2))
    assert torch.equal(plain, off) and not torch.allclose(plain, on)

    # exported: a diffusers pipeline of the base loads the adapter, and its output changes
    out = tmp_path / "export"
    save_adapter(whole, out)
    assert (out / LORA_FILE).is_file() and load_flow_encoder(out) is not None
    pipe = pipeline_with_lora(str(bases[base]), spec, str(out), torch.float32)
    plain_pipe = type(pipe).from_pretrained(bases[base])
    kwargs = dict(
        prompt="a red circle moves left", num_inference_steps=2, height=32, width=64,
        num_frames=9, output_type="pt", max_sequence_length=16,
    )  # fmt: skip
    if base == "ltx-2":
        kwargs.update(LTX2_TINY)
    tuned = pipe(**kwargs, generator=torch.Generator().manual_seed(0)).frames
    original = plain_pipe(**kwargs, generator=torch.Generator().manual_seed(0)).frames
    assert tuned.shape == original.shape and not torch.allclose(tuned, original, atol=1e-4)


def test_lora_training_lowers_the_loss_on_a_small_batch(bases, params, tmp_path):
    config = short_path_config(params, tmp_path, "wan", bases["wan"])
    rt = runtime()
    precompute_stage(config, rt)
    denoiser = build_denoiser(config, load_spec(config), rt)
    batch = next(iter(phase_batches(config, 5, rt)[0].batches(0)))
    shift = sigma_shift(scheduler_config(bases["wan"]), 8)
    loss_fn = flow_matching_loss(0.0, 0.0, 0.0, 0, shift, null_text(config.finetune.latents_dir))
    optimizer = torch.optim.AdamW([p for p in denoiser.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = loss_fn(denoiser, batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    temporal = flow_matching_loss(
        0.0, 0.0, 0.0, 0, shift, null_text(config.finetune.latents_dir), LossWeights(temporal=1.0)
    )
    with torch.no_grad():  # the base's loss takes the phases' weights: the change term adds
        assert temporal(denoiser, batch).item() > loss_fn(denoiser, batch).item()


def test_the_finetune_stage_writes_adapters_card_and_validation_videos(bases, params, tmp_path):
    config = short_path_config(params, tmp_path, "ltx-video", bases["ltx-video"], holdout_share=0.3)
    rt = runtime()
    precompute_stage(config, rt)
    stale = tmp_path / "lora" / "validation" / "step-000099" / "prompt-00.mp4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's")
    metrics = finetune_diffusers(config, rt)
    out = tmp_path / "lora"
    assert not stale.exists()  # a fresh run's folder holds only its own videos
    card = (out / "README.md").read_text()
    assert "LTXPipeline" in card and "data_sha256" in card and "load_lora_weights" in card
    assert metrics["steps"] == 4 and 0 < metrics["trainable_share"] < 1
    held = metrics["held_out"]  # the held-out clip's two windows, before and after training
    assert held["windows"] == 2 and held["loss_after"] != held["loss_before"]
    base = build_denoiser(config, load_spec(config), rt)  # the adapters start at zero

    def objective(seed):
        return base_objective(config, base, 0.0, seed)

    assert held_out_loss(base, objective, config.finetune.latents_dir, rt) == {
        "loss": held["loss_before"],
        "windows": 2,
    }
    line = next(x for x in card.splitlines() if x.startswith("- **metrics**: "))
    assert json.loads(line.removeprefix("- **metrics**: "))["held_out"] == held
    videos = metrics["validation"][-1]["videos"]
    assert len(videos) == 1 and (tmp_path / videos[0]["video"]).stat().st_size > 0
    assert read_meta(config.finetune.latents_dir)["pipeline"] == "LTXPipeline"


def test_buckets_that_do_not_fit_the_base_grid_fail_before_any_work(bases, params, tmp_path):
    params["finetune"].update(
        base="wan",
        base_path=str(bases["wan"]),
        buckets=[{"width": 40, "height": 32, "frames": 8}],
    )
    config = parse_config(params)
    with pytest.raises(ConfigError) as error:
        check_finetune(config)
    message = str(error.value)
    assert "finetune.buckets[0].frames: wan takes 1 + 4k frames, got 8" in message
    assert "finetune.buckets[0].width: wan takes multiples of 16, got 40" in message


def test_generate_on_the_base_with_the_adapter_and_a_motion_reference(bases, params, tmp_path):
    from aiprod.cli import main as cli
    from aiprod.finetune.generate import Request, generate_with_base

    config = short_path_config(params, tmp_path, "wan", bases["wan"], flow_dropout=0.0)
    rt = runtime()
    precompute_stage(config, rt)
    finetune_diffusers(config, rt)
    lora, reference = str(tmp_path / "lora"), make_video(tmp_path / "ref.mp4", frames=12)
    request = Request("a red circle moves left", 64, 32, 9, 2, 2.0, 0, max_sequence_length=16)
    plain = generate_with_base("wan", str(bases["wan"]), lora, request, rt)
    guided = Request(**{**request.__dict__, "motion_ref": str(reference), "strength": 1.0})
    off = Request(**{**guided.__dict__, "strength": 0.0})
    assert plain.shape == (3, 9, 32, 64)
    assert torch.equal(generate_with_base("wan", str(bases["wan"]), lora, off, rt), plain)
    assert not torch.equal(generate_with_base("wan", str(bases["wan"]), lora, guided, rt), plain)
    out = tmp_path / "sample.mp4"
    args = ["generate", "a red circle moves left", "--base", "wan", "--base-path"]
    args += [str(bases["wan"]), "--lora", lora, "--width", "64", "--height", "32"]
    args += ["--frames", "9", "--steps", "2", "--motion-ref", str(reference)]
    args += ["--guidance-strength", "1", "-o", str(out), "--params", "absent.yaml"]
    assert cli(args) == 0 and out.stat().st_size > 0
    assert cli([*args[:4], "--base-path", str(tmp_path)]) == 2  # no diffusers folder there


def test_fp8_storage_trains_and_8bit_adam_needs_bitsandbytes(bases, params, tmp_path):
    config = short_path_config(params, tmp_path, "wan", bases["wan"])
    rt = runtime()
    precompute_stage(config, rt)
    f8 = config.model_copy(
        update={"finetune": config.finetune.model_copy(update={"layerwise_fp8": True})}
    )
    denoiser = build_denoiser(f8, load_spec(f8), rt)
    stored = {p.dtype for p in denoiser.transformer.parameters() if not p.requires_grad}
    assert torch.float8_e4m3fn in stored  # frozen weights kept in float8, computed in fp32
    assert {p.dtype for p in denoiser.parameters() if p.requires_grad} == {torch.float32}
    run = train_lora(f8, denoiser, rt, tmp_path / "fp8")
    assert run.step == 4 and all(np.isfinite(run.losses))
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        eight = config.model_copy(
            update={"finetune": config.finetune.model_copy(update={"optimizer": "adamw8bit"})}
        )
        with pytest.raises(ConfigError, match="finetune.optimizer: adamw8bit needs bitsandbytes"):
            train_lora(eight, build_denoiser(eight, load_spec(eight), rt), rt, tmp_path / "8bit")


def test_two_ddp_ranks_train_the_adapters_as_one_process_with_both_batches(bases, params, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    params["runtime"].update(device="cpu", data_streams=2)  # the same data order at 1 or 2
    config = short_path_config(params, tmp_path, "wan", bases["wan"])
    precompute_stage(config, runtime())
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": f"{here}:{os.environ.get('PYTHONPATH', '')}"}

    def launch(ranks: int, batch: int) -> Path:
        data = config.model_dump()
        data["finetune"]["train"]["batch_size"] = batch
        out = tmp_path / f"ranks{ranks}"
        out.mkdir()
        (out / "params.yaml").write_text(yaml.safe_dump(data))
        worker = [str(here / "lora_ddp_worker.py"), str(out / "params.yaml"), str(out)]
        torchrun = [str(Path(sys.executable).parent / "torchrun"), "--standalone"]
        command = [*torchrun, "--nproc_per_node", "2", *worker] if ranks > 1 else [
            sys.executable, *worker
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        return out

    one, two = launch(1, batch=2), launch(2, batch=1)
    losses = [json.loads((out / "losses.json").read_text()) for out in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)  # every step's loss
    single, double = torch.load(one / "trainable.pt"), torch.load(two / "trainable.pt")
    assert single.keys() == double.keys()
    for key in single:
        # AdamW divides by sqrt(v) + eps: a weight whose gradient is near eps (behind the flow
        # encoder's zero-initialised output) turns float rounding into a visible step. Measured
        # with temporal_weight 1: 1 of 110,592 weights 1.9e-4 apart at lr 0.01, the rest 1e-7.
        close = torch.isclose(single[key], double[key], rtol=1e-4, atol=2e-5)
        assert close.float().mean().item() >= 0.9999, key
        torch.testing.assert_close(single[key], double[key], rtol=0, atol=1e-3, msg=key)
