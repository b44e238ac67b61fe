"""Loading pretrained-style weights from local paths: a VLM captioner and open_clip scores."""

import json

import pandas as pd
import pytest
from conftest import make_video
from tiny_models import save_tiny_blip, save_tiny_open_clip

from aiprod.config import parse_config


def test_vlm_captioner_loads_a_local_model_and_captions_a_clip(tmp_path):
    from aiprod.curation.vlm import VlmCaptioner

    folder = save_tiny_blip(tmp_path / "blip")
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    captioner = VlmCaptioner(str(folder), frames=3, max_new_tokens=5, language="en")
    result = captioner({"path": str(clip)})
    assert set(result) <= {"en"}
    texts = captioner.caption_frames(__import__("numpy").zeros((3, 32, 32, 3), "uint8"))
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    with pytest.raises(FileNotFoundError, match="caption.vlm.model_dir"):
        VlmCaptioner(str(tmp_path / "missing"), 3, 5, "en")


def test_open_clip_scores_from_a_local_folder(tmp_path, params):
    from aiprod.curation.clip_scores import add_clip_scores

    folder = save_tiny_open_clip(tmp_path / "clip_model")
    clip = make_video(tmp_path / "c.mp4", frames=12)
    (tmp_path / "c.txt").write_text("a gradient with a white square")
    params["score"]["clip"] = {
        "enabled": True,
        "model_dir": str(folder),
        "aesthetic_head": str(folder / "aesthetic_head.pt"),
        "frames": 2,
    }
    cfg = parse_config(params).score.clip
    manifest = pd.DataFrame(
        [{"clip_id": "c", "path": str(clip), "start_frame": 0, "end_frame": 12, "source": "c.mp4"}]
    )
    scores = add_clip_scores(pd.DataFrame({"clip_id": ["c"]}), manifest, cfg)
    assert isinstance(scores.loc[0, "aesthetic"], float)
    assert -1.0 <= scores.loc[0, "clip_text_match"] <= 1.0


def test_clip_scores_need_a_folder_when_enabled(params):
    params["score"]["clip"]["enabled"] = True
    with pytest.raises(ValueError, match="score.clip.model_dir: must name a local open_clip"):
        parse_config(params)


def test_a_chat_vlm_answers_the_prompt_about_several_frames_in_batches(tmp_path):
    from tiny_models import WORDS, save_tiny_llava

    from aiprod.curation.vlm import VlmCaptioner

    folder = save_tiny_llava(tmp_path / "llava")
    rows = [{"path": str(make_video(tmp_path / f"{k}.mp4", frames=12, seed=k))} for k in range(3)]
    captioner = VlmCaptioner(str(folder), 3, 4, "de", prompt="describe the motion")
    batched = captioner.caption_clips(rows)
    assert batched == [captioner(row) for row in rows]  # left padding: a batch changes nothing
    words = {w for caption in batched for w in caption.get("de", "").split()}
    assert words and words <= set(WORDS) | {"describe", "motion"}
    blip = save_tiny_blip(tmp_path / "blip")
    with pytest.raises(ValueError, match="caption.vlm.prompt"):
        VlmCaptioner(str(blip), 3, 4, "en", prompt="describe the motion")


def test_caption_stage_batches_the_vlm_and_records_its_captions(
    prefect_server, small_config, tmp_path
):
    from tiny_models import save_tiny_llava

    from flows.caption import run as run_caption
    from flows.ingest import run as run_ingest
    from flows.score import run as run_score
    from flows.synth import synth_flow

    folder = save_tiny_llava(tmp_path / "llava")
    vlm = small_config.caption.vlm.model_copy(
        update={"model_dir": str(folder), "prompt": "describe the motion", "batch_size": 3}
    )
    caption = small_config.caption.model_copy(update={"backends": ["vlm"], "vlm": vlm})
    config = small_config.model_copy(update={"caption": caption})
    synth_flow(config.synth)
    run_ingest(config.ingest)
    run_score(config)
    assert run_caption(config)["clips"] > 3
    table = pd.read_parquet(config.caption.output)
    origins = table["caption_backends"].map(json.loads)
    assert all(o == {"en": "vlm"} for o in origins if o)
    assert (table["languages"] == "en").mean() > 0.5
