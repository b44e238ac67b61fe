"""Mirror augmentation: flipped windows whose captions say the mirrored sides, or no mirror."""

import numpy as np
import pytest
import torch

from aiprod.evaluate.motion import dominant_direction
from aiprod.latents.mirror import mirror_meta, mirror_text, mirror_window, with_mirrors
from aiprod.train.data import PixelWindow
from aiprod.vocabulary import video_terms

LANGUAGES = ["en", "zh", "es", "fr", "ja", "de", "it", "pt", "ru"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_caption_language_swaps_its_side_terms(language):
    terms = video_terms()
    left, up_right = terms["moving_left"][language], terms["moving_up_right"][language]
    pan = terms["pan_right"][language]
    text = f"[{left}] [{up_right}] [{pan}]"
    expected = (
        f"[{terms['moving_right'][language]}] [{terms['moving_up_left'][language]}] "
        f"[{terms['pan_left'][language]}]"
    )
    assert mirror_text(text, language) == expected
    assert mirror_text(expected, language) == text  # an involution


def test_a_caption_form_maps_to_the_same_form_of_the_other_side():
    assert mirror_text("The camera pans left.", "en") == "The camera pans right."
    german = "Die Kamera schwenkt nach rechts."
    assert mirror_text(german, "de") == "Die Kamera schwenkt nach links."


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("A man raises his left hand.", "en"),  # a side no term covers
        ("The dog turns right at the corner.", "en"),
        ("一只手左右摇晃。", "zh"),
        ("Er hebt die linke Hand.", "de"),
        ("Большой круг справа, камера неподвижна, левый край пуст.", "ru"),
        ("큰 빨간 별이 오른쪽으로 움직인다.", "ko"),  # no word list for the language
    ],
)
def test_a_side_said_any_other_way_is_not_mirrored(text, language):
    assert mirror_text(text, language) is None


def test_text_without_sides_is_kept_as_it_is():
    assert mirror_text("A bright scene, the circle moves upwards.", "en") == (
        "A bright scene, the circle moves upwards."
    )
    assert mirror_text("", "xx") == ""  # uncaptioned


def test_tags_and_the_camera_label_follow_the_mirror():
    meta = {
        "captions": {"en": "The camera pans left.", "de": "Die Kamera schwenkt nach links."},
        "tags": {"keys": ["pan_left", "static_shot"], "terms": {"en": ["pan left", "fast motion"]}},
        "scores": {"camera": "pan_left"},
    }
    out = mirror_meta(meta)
    assert out["captions"] == {
        "en": "The camera pans right.",
        "de": "Die Kamera schwenkt nach rechts.",
    }
    assert out["tags"]["keys"] == ["pan_right", "static_shot"]
    assert out["tags"]["terms"]["en"] == ["pan right", "fast motion"]
    assert out["scores"]["camera"] == "pan_right" and out["mirrored"] is True
    assert meta["scores"]["camera"] == "pan_left"  # the original is not changed
    meta["captions"]["en"] = "On the left, a tree."
    assert mirror_meta(meta) is None  # one caption that cannot follow: no mirror


def moving_square(dx: int) -> tuple[torch.Tensor, np.ndarray]:
    """A bright square on the left half moving `dx` px a frame, and its flow."""
    video = torch.zeros(3, 5, 16, 16, dtype=torch.uint8)
    for t in range(5):
        video[:, t, 6:10, 2 + dx * t : 6 + dx * t] = 255
    flow = np.zeros((4, 2, 16, 16), np.float32)
    flow[:, 0, 6:10, 2:6] = dx
    return video, flow


def test_a_mirrored_window_flips_the_frames_and_the_flow():
    video, flow = moving_square(1)
    meta = {"captions": {"en": "A square moves to the right."}}
    window = PixelWindow("clip_w0", 0, video, flow, meta)
    mirrored = mirror_window(window)
    assert mirrored.key == "clip_w0_mirror" and mirrored.window == 0
    assert torch.equal(mirrored.video, torch.flip(video, dims=[3]))
    assert mirrored.video[0, 0, 7, 12] == 255  # the square starts on the right now
    assert dominant_direction(flow) == "right" and dominant_direction(mirrored.flow) == "left"
    assert mirrored.meta["captions"]["en"] == "A square moves to the left."
    again = mirror_window(mirrored)
    assert torch.equal(again.video, video) and np.array_equal(again.flow, flow)
    assert again.meta["captions"] == meta["captions"]


def test_with_mirrors_follows_each_window_by_its_mirror_where_one_exists():
    video, flow = moving_square(1)
    right = {"captions": {"en": "A square moves to the right."}}
    plain = PixelWindow("a_w0", 0, video, flow, right)
    handed = PixelWindow("b_w0", 0, video, flow, {"captions": {"en": "His left hand."}})
    keys = [w.key for w in with_mirrors([plain, handed])]
    assert keys == ["a_w0", "a_w0_mirror", "b_w0"]
