"""Loading pretrained-style weights from local paths: a VLM captioner and open_clip scores."""

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
