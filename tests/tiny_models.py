"""Tiny randomly initialised models of the real kinds, saved to disk, for offline tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from aiprod.nn.backbone import BackboneConfig


def tiny_backbone(**overrides: object) -> BackboneConfig:
    """A backbone of a few thousand parameters on 4 latent channels (override any field)."""
    fields = dict(
        latent_channels=4,
        width=32,
        heads=4,
        attention_blocks=1,
        conv_blocks=1,
        text_width=16,
        flow_hidden=8,
        max_grid=(4, 8, 8),
    )
    return BackboneConfig(**{**fields, **overrides})


WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "red",
    "circle",
    "moves",
    "left",
    "square",
    "blue",
    "the",
    "camera",
    "pans",
]


# one transformer layer of 2 heads, 16 wide: the size of every tiny tower here
TINY_LAYERS = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)


def word_tokenizer(folder: Path, words: list[str]) -> object:
    """A BERT word-piece tokenizer over exactly `words`, written into `folder`."""
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n")
    return BertTokenizer(str(vocab), do_lower_case=True)


def save_tiny_blip(folder: Path) -> Path:
    """A BLIP captioner (vision + text decoder) a few thousand parameters big."""
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    tokenizer = word_tokenizer(folder, WORDS)
    tokenizer.add_special_tokens({"bos_token": "[CLS]", "eos_token": "[SEP]"})
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    config = BlipConfig(
        vision_config=dict(
            **TINY_LAYERS,
            image_size=32,
            patch_size=16,
        ),
        text_config=dict(
            vocab_size=len(WORDS),
            **TINY_LAYERS,
            max_position_embeddings=64,
            bos_token_id=2,
            sep_token_id=3,
            pad_token_id=0,
            eos_token_id=3,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_open_clip(folder: Path) -> Path:
    """An open_clip ViT/transformer CLIP in open_clip's local-dir layout, plus an MLP head."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "patch_size": 16,
            "head_width": 16,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    (folder / "open_clip_config.json").write_text(
        json.dumps(
            {"model_cfg": model_cfg, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
        )
    )
    torch.manual_seed(0)
    model = open_clip.CLIP(**model_cfg)
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    head = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    torch.save(head.state_dict(), folder / "aesthetic_head.pt")
    return folder


def save_tiny_bert(folder: Path) -> Path:
    """A tiny multilingual-style BERT encoder + WordPiece tokenizer, random weights."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    pieces = WORDS + [
        "pan",
        "##s",
        "zoom",
        "in",
        "out",
        "tilt",
        "up",
        "down",
        "slow",
        "fast",
        "motion",
        "static",
        "shot",
        "light",
        "low",
        "flick",
        "##er",
        "##ing",
    ]
    vocab.write_text("\n".join(pieces) + "\n")
    BertTokenizer(str(vocab), do_lower_case=False).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(pieces),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def save_tiny_pipeline(folder: Path) -> tuple[Path, Path]:
    """A randomly initialised text-to-video model (tiny preset) and VAE, saved as training
    saves them: (model.pt, vae.pt)."""
    import torch

    from aiprod.nn.presets import preset
    from aiprod.nn.vae import VideoVAE
    from aiprod.train.codec import vae_reference
    from aiprod.train.t2v import ModelSpec, build_model, save_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = preset("tiny").vae
    vae_path = folder / "vae.pt"
    torch.save(
        {
            "config": cfg.__dict__,
            "state_dict": VideoVAE(cfg).state_dict(),
            "latent_mean": [0.0] * cfg.latent_channels,
            "latent_std": [1.0] * cfg.latent_channels,
        },
        vae_path,
    )
    model_path = folder / "model.pt"
    save_model(
        model_path,
        build_model(ModelSpec()),
        ModelSpec(),
        frames=9,
        size=32,
        frame_step=2,
        flow_shape=[2, 2, 8, 8],
        flow_stride=4,
        flow_save_size=32,
        **vae_reference(vae_path, model_path),
    )
    return model_path, vae_path


def save_tiny_latents(
    folder: Path, windows: int = 24, shape=(4, 2, 4, 4), per_shard: int = 4, text_dim: int = 0
) -> Path:
    """Latent shards as `encode` writes them, with random latents and flows, captions in
    two languages and tags (text features of width `text_dim` when > 0)."""
    import numpy as np

    from aiprod.latents.format import LatentWindow, caption_variants
    from aiprod.latents.stage import write_latents

    rng = np.random.default_rng(0)
    items = []
    for i in range(windows):
        captions = {"en": f"a red square {i}", "ja": f"赤い正方形{i}"}
        terms = {"en": ["pan left"], "ja": ["左パン"]}
        texts = caption_variants(captions, terms)
        meta = {
            "clip_id": f"clip{i // 2:03d}",
            "source_sha256": f"source{i // 4}",
            "phase": 1,
            "window": i % 2,
            "captions": captions,
            "tags": {"keys": ["pan_left"], "terms": terms},
            "texts": texts,
        }
        text = rng.standard_normal((len(texts), text_dim)) if text_dim else None
        items.append(
            LatentWindow(
                key=f"clip{i // 2:03d}_w{i % 2}",
                latent=rng.standard_normal(shape).astype(np.float16),
                flow=rng.standard_normal((2, shape[1] - 1, *shape[2:])).astype(np.float16),
                meta=meta,
                text=text,
            )
        )
    write_latents(items, folder, per_shard)
    return folder


CHAT_TEMPLATE = (
    "{% for message in messages %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %} [SEP]{% endif %}"
)


def save_tiny_llava(folder: Path) -> Path:
    """A LLaVA chat VLM (CLIP vision tower + Llama decoder) with a chat template, tiny."""
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = word_tokenizer(folder, [*WORDS, "describe", "motion", "<image>"])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=16,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    config = LlavaConfig(
        vision_config=dict(
            model_type="clip_vision_model",
            **TINY_LAYERS,
            image_size=32,
            patch_size=16,
        ),
        text_config=dict(
            model_type="llama",
            vocab_size=len(tokenizer),
            **TINY_LAYERS,
            num_key_value_heads=2,
            max_position_embeddings=256,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
