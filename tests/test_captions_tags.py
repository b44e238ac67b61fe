"""Caption backends, their order, the motion tagger and the video vocabulary."""

import json

import pandas as pd
import pytest

from aiprod.config import parse_config
from aiprod.curation.captions import load_mapping, merge_captions, sidecar_captions
from aiprod.curation.tags import localise, tag_keys
from aiprod.synth.captions import LANGUAGES
from aiprod.vocabulary import video_terms

pytestmark = pytest.mark.quick


def clip_row(tmp_path, name="c1"):
    path = tmp_path / f"{name}.mp4"
    path.write_bytes(b"")
    return {
        "clip_id": name,
        "path": str(path),
        "source": f"raw/{name}.mp4",
        "start_frame": 10,
        "end_frame": 30,
    }


def test_sidecar_txt_json_and_shapes_segments(tmp_path):
    row = clip_row(tmp_path)
    (tmp_path / "c1.txt").write_text("a dog runs\n")
    assert sidecar_captions(row, "en") == {"en": "a dog runs"}
    (tmp_path / "c1.json").write_text(json.dumps({"captions": {"fr": "un chien court"}}))
    assert sidecar_captions(row, "en") == {"en": "a dog runs", "fr": "un chien court"}
    segments = [
        {"start_frame": 0, "end_frame": 15, "captions": {"en": "first"}},
        {"start_frame": 15, "end_frame": 40, "captions": {"en": "second", "ja": "二番目"}},
    ]
    (tmp_path / "c1.json").write_text(json.dumps({"segments": segments}))
    assert sidecar_captions(row, "en") == {"en": "second", "ja": "二番目"}  # middle frame 20


def test_backends_merge_in_order(tmp_path, params):
    row = clip_row(tmp_path)
    (tmp_path / "c1.txt").write_text("from the sidecar")
    mapping_file = tmp_path / "map.csv"
    pd.DataFrame(
        [
            {"clip_id": "c1", "language": "en", "caption": "from the mapping"},
            {"clip_id": "c1", "language": "de", "caption": "aus der Tabelle"},
        ]
    ).to_csv(mapping_file, index=False)
    params["caption"].update(backends=["sidecar", "mapping"], mapping=str(mapping_file))
    cfg = parse_config(params).caption
    mapping = load_mapping(str(mapping_file))
    captions, origin = merge_captions(row, cfg, mapping, None)
    assert captions == {"en": "from the sidecar", "de": "aus der Tabelle"}
    assert origin == {"en": "sidecar", "de": "mapping"}
    params["caption"]["backends"] = ["vlm", "sidecar"]
    params["caption"]["vlm"]["model_dir"] = "/models/blip"
    cfg = parse_config(params).caption
    captions, origin = merge_captions(row, cfg, {}, lambda r: {"en": "from the vlm"})
    assert captions["en"] == "from the vlm" and origin["en"] == "vlm"


def test_vlm_backend_needs_a_model_dir(params):
    params["caption"]["backends"] = ["vlm"]
    with pytest.raises(
        ValueError, match="caption.vlm: Value error, model_dir must name|caption.vlm"
    ):
        parse_config(params)


def test_tags_from_scores_in_every_language(params):
    cfg = parse_config(params).caption.tags
    scores = dict(
        camera="pan_left",
        camera_dx=2.0,
        camera_dy=0.0,
        motion_p95=5.0,
        object_motion=1.0,
        lighting_change=0.5,
        lighting_trend=-0.4,
        flicker=0.0,
        luma_mean=30.0,
        sharpness=300.0,
        edge_density=0.05,
    )
    keys = tag_keys(scores, cfg)
    assert keys == ["pan_left", "fast_motion", "fade_out", "low_light"]
    lit = dict(scores, luma_mean=230.0, sharpness=3.0, edge_density=0.3)
    assert tag_keys(lit, cfg)[-3:] == ["bright_scene", "soft_focus", "busy_frame"]
    assert tag_keys(dict(scores, edge_density=0.0), cfg)[-1] == "minimal_frame"
    slow = tag_keys(
        dict(
            scores,
            camera_dx=0.3,
            motion_p95=0.5,
            object_motion=0.01,
            lighting_change=0.0,
            luma_mean=120.0,
        ),
        cfg,
    )
    assert slow == ["slow_pan_left", "still_subject"]
    terms = localise(keys)
    assert set(terms) == set(LANGUAGES)
    assert terms["en"][0] == "pan left" and terms["de"][0] == "Schwenk nach links"
    assert terms["ja"][-1] == "低照度"


def test_vocabulary_is_complete_and_unambiguous():
    terms = video_terms()
    assert len(terms) >= 150 and all(set(forms) == set(LANGUAGES) for forms in terms.values())
    for key in ("dolly_zoom", "rack_focus", "dutch_angle", "pan_left", "slow_motion"):
        assert set(terms[key]) == set(LANGUAGES)
    for language in LANGUAGES:
        forms = [terms[key][language] for key in terms]
        assert len(forms) == len(set(forms)), language  # one term, one meaning
        assert all(form.strip() == form and form for form in forms)
