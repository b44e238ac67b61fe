"""Text-to-video training pieces: caption variants with tags, streamed phase batches, mining."""

import pytest
import torch
from tiny_models import save_tiny_latents, tiny_backbone

from aiprod.config import RuntimeConfig
from aiprod.latents.batches import (
    choose_variant,
    expand_window,
    latent_shards,
    reference_variant,
    training_collate,
)
from aiprod.latents.format import caption_variants, with_tags
from aiprod.nn.text import ByteTextConfig
from aiprod.runtime import resolve
from aiprod.shards.stream import Split, StreamBatches, sequential
from aiprod.train.loop import LoopConfig, train
from aiprod.train.t2v import TextToVideo, per_clip, t2v_loss, window_losses

TEXT = ByteTextConfig(width=16, layers=1, heads=2, max_length=64)
CPU = resolve(RuntimeConfig(device="cpu"))


@pytest.mark.quick
def test_tags_join_the_caption_in_its_own_language():
    captions = {"en": "A red circle moves left.", "ja": "赤い円が左へ動く。"}
    terms = {"en": ["static shot", "slow motion"], "ja": ["固定ショット"], "de": ["Zeitlupe"]}
    variants = caption_variants(captions, terms)
    assert [(v["language"], v["tags"]) for v in variants] == [
        ("en", False), ("en", True), ("ja", False), ("ja", True),
    ]  # fmt: skip
    assert variants[1]["text"] == "A red circle moves left. static shot, slow motion."
    assert variants[3]["text"] == "赤い円が左へ動く。固定ショット。"
    # footage without captions is described by its tags, in every language that has them
    untitled = caption_variants({}, terms)
    assert [v["text"] for v in untitled if v["tags"]] == [
        "Zeitlupe.", "static shot, slow motion.", "固定ショット。",
    ]  # fmt: skip
    assert with_tags("x", [], "en") == "x"


@pytest.mark.quick
def test_variants_cycle_languages_and_keep_the_tags_at_their_own_rate():
    texts = caption_variants({"en": "a", "ja": "b", "de": "c"}, {"en": ["pan left"]})
    drawn = [choose_variant(texts, o, 0, tag_dropout=0.25) for o in range(3000)]
    assert {texts[k]["language"] for k in drawn} == {"en", "ja", "de"}
    english = [k for k in drawn if texts[k]["language"] == "en"]
    tagged = sum(texts[k]["tags"] for k in english) / len(english)
    assert 0.7 < tagged < 0.8  # 1 - tag_dropout
    assert drawn == [choose_variant(texts, o, 0, 0.25) for o in range(3000)]  # by ordinal
    assert not any(texts[choose_variant(texts, o, 0, 1.0)]["tags"] for o in range(100))
    assert texts[reference_variant(texts)] == {"language": "en", "tags": False, "text": "a"}


def test_streamed_training_lowers_the_loss_and_mining_ranks_windows_on_a_fixed_grid(tmp_path):
    folder = save_tiny_latents(tmp_path / "latents", windows=16)
    shards = latent_shards([folder])
    torch.manual_seed(0)
    model = TextToVideo(TEXT, tiny_backbone())
    windows = list(sequential(shards, expand_window))
    _, before = window_losses(model, windows, CPU, seeds=2)
    data = StreamBatches(
        shards, Split(1), 4, 0, 100, expand_window, training_collate(0, tag_dropout=0.5)
    )
    first = next(data.batches(0))
    assert any(text.endswith("pan left.") or text.endswith("左パン。") for text in first.texts)
    loop = LoopConfig(steps=60, lr=2e-3, warmup=5, batch_size=4, checkpoint_every=30)
    result = train(model, t2v_loss(0.1, 0.3, 0.0, seed=0), data, loop, tmp_path / "run", CPU)
    kept, after = window_losses(result.averaged, windows, CPU, seeds=2)
    assert after.shape == (16,) and torch.isfinite(after).all()
    assert after.mean() < before.mean()
    again = window_losses(result.averaged, reversed(windows), CPU, seeds=2, batch_size=3)[1]
    torch.testing.assert_close(again.flip(0), after)  # the grid does not depend on batching
    assert set(per_clip(kept, after)) == {f"clip{i:03d}" for i in range(8)}


def test_a_killed_streamed_run_resumes_onto_the_uninterrupted_curve(tmp_path):
    """The checkpoint's data position is all the stream needs: blocks, epochs, variants and
    noise continue as if the run had never stopped."""
    shards = latent_shards([save_tiny_latents(tmp_path / "latents", windows=16)])

    def run(out, stop=None):
        torch.manual_seed(0)
        data = StreamBatches(
            shards, Split(2), 2, 0, 5, expand_window, training_collate(0, tag_dropout=0.5)
        )  # buffer 5: several blocks an epoch, 2 streams
        loop = LoopConfig(steps=14, lr=2e-3, batch_size=2, checkpoint_every=3)
        model = TextToVideo(TEXT, tiny_backbone())
        return train(model, t2v_loss(0.1, 0.3, 0.0, 0), data, loop, out, CPU, stop_after=stop)

    whole = run(tmp_path / "a").losses
    first = run(tmp_path / "b", stop=7).losses  # checkpoint at 6
    rest = run(tmp_path / "b").losses
    assert first[:6] + rest == whole


@pytest.mark.quick
def test_a_window_without_a_caption_trains_with_the_null_text():
    from aiprod.latents.batches import LatentBatch
    from aiprod.train.t2v import t2v_loss

    seen = {}

    def model(latents, texts, flow, draw, frozen, weights):
        seen["drop_text"] = draw.drop_text.tolist()
        return torch.zeros(len(texts))

    batch = LatentBatch(
        latents=torch.zeros(3, 4, 2, 4, 4),
        texts=["", "a red circle", "  "],
        frozen=None,
        flow=torch.zeros(3, 2, 1, 4, 4),
        ordinals=torch.tensor([1, 2, 3]),
        keys=["a", "b", "c"],
    )
    t2v_loss(text_dropout=0.0, flow_dropout=0.0, timestep_mean=0.0, seed=0)(model, batch)
    assert seen["drop_text"] == [True, False, True]


@pytest.mark.quick
def test_uncaptioned_clips_are_counted_and_the_switch_names_its_key(params):
    from aiprod.config import parse_config
    from aiprod.curation.captions import uncaptioned_message

    cfg = parse_config(params).caption
    assert uncaptioned_message(0, 10, cfg) == ""
    warn = uncaptioned_message(3, 10, cfg)
    assert "3 of 10 clips have no caption" in warn and "null text" in warn
    params["caption"]["uncaptioned"] = "stop"
    stop = uncaptioned_message(3, 10, parse_config(params).caption)
    assert "caption.backends: sidecar" in stop and "caption.uncaptioned" in stop
    params["caption"]["uncaptioned"] = "maybe"
    with pytest.raises(ValueError, match="caption.uncaptioned"):
        parse_config(params)
