"""What the short-path tests share: a tiny phase of pixel shards, the params that adapt a
tiny diffusers base on it, and a CPU runtime."""

from __future__ import annotations

import numpy as np
from conftest import clip_sample

from aiprod.config import RuntimeConfig, parse_config
from aiprod.runtime import resolve
from aiprod.shards.writer import write_shards


def pixel_shards(root, caption="a red circle moves left"):
    """Two landscape and two portrait clips in phase 5, one source each. The default caption
    says "left" outside the vocabulary's terms, so it is never mirrored."""
    captions = {"en": caption, "fr": "un carré bleu"}
    samples = [
        clip_sample(root / f"v{i}.mp4", f"clip{i}", captions,
                    np.full((12, 2, 16, 16), 0.5 * (i + 1), np.float16), f"source{i}",
                    size=size, seed=i, tags={"keys": [], "terms": {}})
        for i, size in enumerate([(96, 64), (96, 64), (64, 96), (64, 96)])
    ]  # fmt: skip
    write_shards(samples, root / "shards" / "phase5", 2, 10**9)


def short_path_config(params, tmp_path, base, base_path, caption=None, holdout_share=0.0, **train):
    """`holdout_share` 0.3 holds out source3 alone (a portrait clip: the 32x64x9 bucket)."""
    pixel_shards(tmp_path, *[caption] if caption else [])
    params["shards"].update(dir=str(tmp_path / "shards"), holdout_share=holdout_share)
    params["finetune"]["hard_examples"] = str(tmp_path / "mining")
    params["encode"].update(batch_size=2)
    params["train"].update(checkpoint_every=2)
    params["finetune"].update(
        base=base,
        base_path=str(base_path),
        latents_dir=str(tmp_path / "lora_latents"),
        out_dir=str(tmp_path / "lora"),
        metrics=str(tmp_path / "finetune.json"),
        targets=["to_q", "to_k", "to_v", "to_out.0"],
        rank=4,
        alpha=8,
        phases=[5],
        buckets=[
            {"width": 64, "height": 32, "frames": 9},
            {"width": 32, "height": 64, "frames": 9},
        ],
        frame_step=1,
        windows=2,
        max_sequence_length=16,
        validation={"every": 0, "prompts": ["a red circle moves left"], "steps": 2, "cfg": 2.0},
        train={**params["finetune"]["train"], "steps": 4, "batch_size": 2, "warmup": 0,
               "lr": 0.01, "flow_dropout": 0.5, **train},
    )  # fmt: skip
    return parse_config(params)


def runtime():
    return resolve(RuntimeConfig(device="cpu"))
