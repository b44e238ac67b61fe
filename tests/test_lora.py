"""LoRA fine-tuning with peft: only adapters train; saved adapters reload; merging is exact."""

import copy

import torch
from peft import PeftModel
from tiny_models import save_tiny_latents, save_tiny_pipeline

from aiprod.config import FinetuneConfig, RuntimeConfig
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.nn.rectified_flow import seeded_draw
from aiprod.runtime import resolve
from aiprod.shards.stream import Split, StreamBatches
from aiprod.train.loop import LoopConfig, train
from aiprod.train.lora import add_adapters, merged, trainable_share
from aiprod.train.t2v import ModelSpec, load_model, save_model, t2v_loss

CFG = FinetuneConfig.model_validate(
    {
        "base_path": "unused",
        "hard_examples": "unused",
        "latents_dir": "unused",
        "out_dir": "unused",
        "rank": 4,
        "alpha": 8,
        "dropout": 0.0,
        "targets": ["qkv", "proj", "q_cross", "kv_cross", "proj_cross"],
        "phases": [5],
        "buckets": [{"width": 32, "height": 32, "frames": 9}],
        "train": {
            "steps": 1,
            "lr": 1e-3,
            "warmup": 0,
            "batch_size": 1,
            "text_dropout": 0.0,
            "flow_dropout": 0.5,
            "ema": 0.9,
        },
    }
)


def latent_stream(folder):
    shards = latent_shards([save_tiny_latents(folder, windows=8, shape=(8, 3, 8, 8))])
    return StreamBatches(shards, Split(1), 4, 0, 100, expand_window, training_collate(0, 0.5))


def pretrained(tmp_path):
    """The tiny pipeline with its zero-initialised output layers made non-zero (as trained)."""
    path, _ = save_tiny_pipeline(tmp_path / "pretrained")
    model, payload = load_model(path)
    torch.manual_seed(1)
    for name, param in model.backbone.named_parameters():
        if name.startswith(("out.", "ada_out.")) or ".ada." in name:
            torch.nn.init.normal_(param, std=0.02)
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    save_model(path, model, ModelSpec(**payload["spec"]), **info)
    return path


def test_lora_trains_only_adapters_and_reloads_and_merges_exactly(tmp_path):
    path = pretrained(tmp_path)
    model, _ = load_model(path)
    base = {k: v.clone() for k, v in model.state_dict().items()}
    model = add_adapters(model.train(), CFG)
    assert 0 < trainable_share(model) < 0.2
    data = latent_stream(tmp_path / "latents")
    loop = LoopConfig(steps=40, lr=3e-3, warmup=2, batch_size=4, checkpoint_every=40, seed=0)
    cpu = resolve(RuntimeConfig(device="cpu"))
    losses = train(model, t2v_loss(0.0, 0.5, 0.0, 0), data, loop, tmp_path / "run", cpu).losses
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    state = model.state_dict()
    lora_keys = [k for k in state if "lora_" in k]
    assert lora_keys and all(k.startswith("backbone.") for k in lora_keys)
    for key, before in base.items():  # every pretrained weight is where it was
        now = state.get(key.replace("backbone.", "backbone.base_model.model.", 1), state.get(key))
        if now is None:  # a targeted layer's weight now lives under base_layer
            stem, leaf = key.rsplit(".", 1)
            now = state[
                stem.replace("backbone.", "backbone.base_model.model.", 1) + f".base_layer.{leaf}"
            ]
        assert torch.equal(now, before), key
    model.backbone.save_pretrained(str(tmp_path / "adapter"))

    model.eval()
    batch = next(data.batches(0))
    latents, captions, flow = batch.latents, batch.texts, batch.flow
    draw = seeded_draw(batch.ordinals, tuple(latents.shape[1:]), 1, 0.0, 0.0)
    with torch.no_grad():
        adapted = model(latents, captions, flow, draw)
        fresh, _ = load_model(path)
        fresh.backbone = PeftModel.from_pretrained(fresh.backbone, str(tmp_path / "adapter"))
        reloaded = fresh.eval()(latents, captions, flow, draw)
        plain = merged(copy.deepcopy(model)).eval()
        assert not isinstance(plain.backbone, PeftModel)
        folded = plain(latents, captions, flow, draw)
        untouched, _ = load_model(path)
        original = untouched(latents, captions, flow, draw)
    assert torch.allclose(adapted, reloaded, atol=1e-6)
    assert torch.allclose(adapted, folded, atol=1e-5)
    assert not torch.allclose(adapted, original, atol=1e-4)
