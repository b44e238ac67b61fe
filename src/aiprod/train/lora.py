"""LoRA fine-tuning (peft) of a pretrained text-to-video checkpoint: the short path.

Low-rank adapters go on the backbone's attention projections; everything else stays frozen.
The adapters are saved in peft's format (`adapter/`, loadable with `PeftModel.from_pretrained`
on the same base) and also folded into a full checkpoint (`merged.pt`) that `aiprod generate`
loads like any other.
"""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model

from aiprod.config import AiprodConfig, FinetuneConfig
from aiprod.train.data import load_bank, shard_urls
from aiprod.train.loop import phase_loop, train
from aiprod.train.t2v import (
    ModelSpec,
    PhaseData,
    TextToVideo,
    flow_pairs,
    load_model,
    phase_loss,
    save_model,
)
from aiprod.train.vae_stage import load_codec

ADAPTER_DIR = "adapter"
MERGED_FILE = "merged.pt"


def add_adapters(model: TextToVideo, cfg: FinetuneConfig) -> TextToVideo:
    """Freeze the model and wrap its backbone with LoRA adapters on `cfg.targets`."""
    model.requires_grad_(False)
    lora = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.targets
    )
    model.backbone = get_peft_model(model.backbone, lora)
    return model


def trainable_share(model: TextToVideo) -> float:
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / max(1, total)


def merged(model: TextToVideo) -> TextToVideo:
    """The adapters folded into the base weights (the backbone is a plain module again)."""
    if isinstance(model.backbone, PeftModel):
        model.backbone = model.backbone.merge_and_unload()
    return model


def finetune_stage(config: AiprodConfig) -> dict:
    cfg = config.finetune
    model, payload = load_model(cfg.checkpoint)
    codec = load_codec(payload["vae"])
    t = cfg.train
    urls = shard_urls(Path(config.shards.dir), list(cfg.phases))
    bank = load_bank(
        urls, t.frames, t.size, config.shards.holdout_share, False, 0, 1, frame_step=t.frame_step
    )
    data = PhaseData(
        bank, codec.encode(bank.videos), flow_pairs(t.frames, codec.temporal_factor), 0
    )
    model = add_adapters(model.train(), cfg)
    share = trainable_share(model)
    loop = phase_loop(t, seed=0)
    out_dir = Path(cfg.out_dir)
    state, _, losses = train(
        model,
        phase_loss(t.text_dropout, t.flow_dropout, t.timestep_mean),
        data,
        loop,
        out_dir / "run",
    )
    model.backbone.save_pretrained(str(out_dir / ADAPTER_DIR))
    spec = ModelSpec(**payload["spec"])
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    save_model(out_dir / MERGED_FILE, merged(model).eval(), spec, **info, lora_of=cfg.checkpoint)
    return {
        "steps": state.step,
        "trainable_share": round(share, 5),
        "first_loss": round(losses[0], 5) if losses else None,
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 5) if losses else None,
        "clips": len(bank),
    }
