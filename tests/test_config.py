import pytest

from aiprod.config import ConfigError, load_config, parse_config

pytestmark = pytest.mark.quick


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
    with pytest.raises(ConfigError) as info:
        parse_config(params)
    message = str(info.value)
    assert "ingest.clip_secnds: unknown key" in message
    assert "synth.videos:" in message
    assert "2 invalid key(s)" in message


def test_out_of_range_and_odd_sizes(params):
    params["ingest"]["target"]["width"] = 127
    params["synth"]["fps"] = 0
    with pytest.raises(ConfigError) as info:
        parse_config(params)
    assert "ingest.target.width: must be even" in str(info.value)
    assert "synth.fps:" in str(info.value)


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
