"""LoRA fine-tuning (peft) of a pretrained text-to-video checkpoint: the short path.

Low-rank adapters go on the backbone's attention projections; everything else stays frozen.
It streams the latent shards of `finetune.phases` like a phase stage, on the runtime's
device, and runs under torchrun the same way.
The adapters are saved in peft's format (`adapter/`, loadable with `PeftModel.from_pretrained`
on the same base) and also folded into a full checkpoint (`merged.pt`) that `aiprod generate`
loads like any other.
"""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model

from aiprod.config import AiprodConfig, FinetuneConfig
from aiprod.fsutil import fingerprint
from aiprod.latents.batches import expand_window, latent_shards, training_collate
from aiprod.runtime import Runtime
from aiprod.shards.stream import StreamBatches, listing
from aiprod.train.checkpoint import TrainState, resumable
from aiprod.train.codec import resolve_vae, vae_reference
from aiprod.train.loop import phase_loop, rank_split, train
from aiprod.train.phase_stage import latent_dir, read_meta
from aiprod.train.t2v import ModelSpec, TextToVideo, load_model, save_model, t2v_loss

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


def finetune_stage(config: AiprodConfig, runtime: Runtime) -> dict:
    """Adapters trained on the latents of `finetune.phases` (streamed, as the phases are);
    rank 0 saves them and the merged checkpoint."""
    cfg = config.finetune
    model, payload = load_model(cfg.checkpoint)
    folders = [latent_dir(config, k) for k in cfg.phases]
    for folder in folders:
        encoded_by = read_meta(folder).get("vae_sha256")
        if payload.get("vae_sha256") and encoded_by and encoded_by != payload["vae_sha256"]:
            raise ValueError(
                f"finetune.checkpoint: {cfg.checkpoint} was trained with another VAE than "
                f"the one that encoded {folder}"
            )
    shards = latent_shards(folders)
    t = cfg.train
    # what the adapters train on: a checkpoint of other settings or data is not resumed
    loop = phase_loop(
        t, 0, fingerprint=fingerprint([cfg.model_dump(), listing(folders)], [cfg.checkpoint])
    )
    split = rank_split(runtime, resumable(Path(cfg.out_dir) / "run", loop.fingerprint))
    data = StreamBatches(
        shards,
        split,
        t.batch_size,
        seed=0,
        buffer=config.train.shuffle_buffer,
        expand=expand_window,
        collate=training_collate(0, t.tag_dropout),
    )
    model = add_adapters(model.train(), cfg)
    share = trainable_share(model)
    out_dir = Path(cfg.out_dir)
    result = train(
        model,
        t2v_loss(t.text_dropout, t.flow_dropout, t.timestep_mean, 0, t.motion_weight),
        data,
        loop,
        out_dir / "run",
        runtime,
        state=TrainState(data_streams=split.streams),
    )
    if not runtime.ranks.main:
        return {}
    tuned = result.averaged  # the EMA of the adapted model (frozen weights are unchanged)
    tuned.backbone.save_pretrained(str(out_dir / ADAPTER_DIR))
    spec = ModelSpec(**payload["spec"])
    info = {k: v for k, v in payload.items() if k not in ("spec", "state_dict")}
    target = out_dir / MERGED_FILE
    info.update(vae_reference(resolve_vae(cfg.checkpoint, payload), target))
    save_model(target, merged(tuned).eval(), spec, **info, lora_of=cfg.checkpoint)
    losses = result.losses
    return {
        "steps": result.state.step,
        "trainable_share": round(share, 5),
        "first_loss": round(losses[0], 5) if losses else None,
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 5) if losses else None,
        "windows_per_epoch": data.items_per_epoch,
    }
