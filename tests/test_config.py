import re

import pytest

from aiprod.config import ConfigError, load_config, parse_config

pytestmark = pytest.mark.quick


def refusal(params: dict) -> str:
    """The message of the ConfigError that `params` raise (every problem, by key)."""
    with pytest.raises(ConfigError) as info:
        parse_config(params)
    return str(info.value)


def test_project_params_are_valid():
    config = load_config("params.yaml")
    assert config.ingest.clip_seconds.max > config.ingest.clip_seconds.min
    assert config.ingest.workers() >= 1


def test_max_not_above_min_names_the_key(params):
    params["ingest"]["clip_seconds"] = {"min": 3.0, "max": 2.0}
    with pytest.raises(ConfigError, match=r"ingest\.clip_seconds\.max: must be > min \(3\.0\)"):
        parse_config(params)


def test_unknown_key_and_wrong_type_are_all_reported(params):
    params["ingest"]["clip_secnds"] = 1
    params["synth"]["videos"] = "many"
    message = refusal(params)
    assert "ingest.clip_secnds: unknown key" in message
    assert "synth.videos:" in message
    assert "2 invalid key(s)" in message


def test_out_of_range_and_odd_sizes(params):
    params["ingest"]["target"]["width"] = 127
    params["synth"]["fps"] = 0
    message = refusal(params)
    assert "ingest.target.width: must be even" in message
    assert "synth.fps:" in message


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.quick
def test_paths_required_by_a_choice_are_named(params):
    params = {**params, "evaluate": {**params["evaluate"], "fvd_extractor": "i3d", "i3d_path": ""}}
    params["model"] = {**params["model"], "text_encoder": "hf", "text_encoder_path": ""}
    with pytest.raises(ConfigError) as error:
        parse_config(params)
    message = str(error.value)
    assert (
        "evaluate.i3d_path: must name a local I3D TorchScript file when fvd_extractor: i3d"
        in message
    )
    assert "model.text_encoder_path: must name a local Hugging Face encoder folder" in message


def test_phase_windows_are_checked_against_the_preset_before_any_work(params):
    """Frames against the VAE's temporal factor, sizes against its spatial factor x patch,
    and the backbone's learned positions: each problem names its key."""
    params["train"]["phase3"] = {**params["train"]["phase3"], "frames": 8, "replay": False}
    params["train"]["phase4"] = {**params["train"]["phase4"], "size": 36, "replay": False}
    params["train"]["phase5"] = {**params["train"]["phase5"], "size": 512}
    params["train_vae"]["frames"] = 10
    message = refusal(params)
    assert "train.phase3.frames: must be 1 + 4k (the VAE's temporal factor), got 8" in message
    assert "train.phase4.size: must be a multiple of 8 (VAE factor 4 x patch 2), got 36" in message
    assert "train.phase5.size: 512 px is beyond the backbone's learned positions" in message
    assert "train_vae.frames: must be 1 + 4k" in message


def test_the_classifier_cannot_train_on_more_frames_than_it_reads(params):
    params["classifier"]["train_frames"] = 12
    assert "classifier.train_frames: must be <= frames (9)" in refusal(params)


def test_windows_longer_than_any_clip_and_a_flow_stride_off_the_latent_grid_are_named(params):
    params["train"]["phase1"] = {**params["train"]["phase1"], "frames": 25}  # 49 source frames
    params["score"]["flow"] = {**params["score"]["flow"], "stride": 2}
    message = refusal(params)
    assert "train.phase1.frames: 25 frames at frame_step 2 span 49 source frames" in message
    assert "score.flow.stride: must equal the VAE's temporal factor (4)" in message


def test_replay_needs_the_windows_of_the_phases_it_reads_and_buckets_the_grid(params):
    params["train"]["phase3"] = {**params["train"]["phase3"], "size": 64, "replay": True}
    params["finetune"]["buckets"] = [{"width": 36, "height": 32, "frames": 10}]
    message = refusal(params)
    assert "train.phase3: with replay it reads phase 1's latents" in message
    assert "finetune.buckets[0].frames: aiprod takes 1 + 4k frames, got 10" in message
    assert "finetune.buckets[0].width: aiprod takes multiples of" in message


def test_runtime_choices_are_validated_by_key(params):
    params["runtime"] = {
        **params["runtime"], "device": "gpu0", "precision": "fp8", "launcher": "mpirun -n 2",
    }  # fmt: skip
    message = refusal(params)
    assert "runtime.device: must be auto, cpu, cuda or cuda:N, got 'gpu0'" in message
    assert "runtime.precision:" in message
    assert "runtime.launcher: must be python or torchrun [options]" in message


@pytest.mark.quick
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default_model": "phase9"}, "default_model: 'phase9' is not one of models"),
        ({"heartbeat_seconds": 20, "lease_seconds": 30}, "heartbeat_seconds: 20.0 must be at most"),
        ({"models": {"Bad Name": "x.pt"}, "default_model": "Bad Name"}, "serve.models"),
        ({"queue_cap": 0}, "serve.queue_cap"),
        ({"limits": {"max_upload_mb": 0}}, "serve.limits.max_upload_mb"),
        ({"database_url": "postgresql://x"}, "serve.database_url: unknown key"),
    ],
)
def test_serve_settings_are_validated_by_key(params, change, message):
    params["serve"] = {**params["serve"], **change}
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(params)


@pytest.mark.quick
def test_the_database_url_comes_from_the_environment_only():
    from aiprod.config.serve import database_url

    with pytest.raises(ConfigError, match="AIPROD_DATABASE_URL is not set"):
        database_url({})
    with pytest.raises(ConfigError, match="must be a postgresql:// URL"):
        database_url({"AIPROD_DATABASE_URL": "sqlite:///x.db"})
    url = database_url({"AIPROD_DATABASE_URL": "postgresql://u@127.0.0.1/db"})
    assert url == "postgresql+psycopg://u@127.0.0.1/db"


def test_untagged_latents_refuse_a_phase_that_trains_on_tags(params):
    params["encode"]["tagged_captions"] = False
    params["train"]["phase2"] = {**params["train"]["phase2"], "tag_dropout": 0.5}
    params["train"]["phase4"] = {**params["train"]["phase4"], "tag_dropout": 1.0}
    message = refusal(params)
    assert "train.phase2.tag_dropout: 0.5 trains on tagged captions" in message
    assert "train.phase4" not in message
    params["encode"]["tagged_captions"] = True
    assert parse_config(params).train.phase2.tag_dropout == 0.5


def test_a_temporal_weight_needs_two_latent_frames(params):
    params["train"]["phase1"] = {**params["train"]["phase1"], "frames": 1, "temporal_weight": 1.0}
    params["train"]["phase2"] = {**params["train"]["phase2"], "temporal_weight": 1.0}
    message = refusal(params)
    assert "train.phase1.temporal_weight: 1.0 weighs the change between latent frames" in message
    assert "train.phase2.temporal_weight" not in message
    params["train"]["phase1"]["temporal_weight"] = 0.0
    assert "temporal_weight" not in refusal(params)  # replay still reads one-frame latents
