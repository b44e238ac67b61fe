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


# --- diffusers bases of the short path: one or two layers, 2 heads of 8 dims -----------------

DIFFUSERS_WORDS = ["<pad>", "</s>", "<unk>", "a", "red", "blue", "circle", "square", "moves"]
DIFFUSERS_WORDS += ["left", "right", "up", "down", "un", "carré", "bleu"]


def t5_word_tokenizer() -> object:
    """A T5-style word-level tokenizer (pad 0, eos 1) built locally, no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(DIFFUSERS_WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        model_max_length=16,
    )  # fmt: skip


def save_tiny_ltx_video(folder: Path) -> Path:
    """An LTXPipeline (LTX-Video transformer, VAE 4x spatial / 4x temporal, T5) in diffusers
    layout, a few thousand parameters."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, num_layers=1, caption_channels=16,
    )  # fmt: skip
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4, timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(DIFFUSERS_WORDS), d_model=16, d_kv=8, d_ff=32, num_layers=1,
            num_heads=2,
        )
    )  # fmt: skip
    pipe = LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
            base_image_seq_len=64, max_image_seq_len=1024,
        ),
        vae=vae, text_encoder=text_encoder, tokenizer=t5_word_tokenizer(),
        transformer=transformer,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def save_tiny_wan(folder: Path) -> Path:
    """A WanPipeline (Wan 2.1 transformer, VAE 8x spatial / 4x temporal, umT5) in diffusers
    layout, a few thousand parameters."""
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
        out_channels=4, text_dim=16, freq_dim=32, ffn_dim=32, num_layers=1,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    vae = AutoencoderKLWan(
        base_dim=4, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(DIFFUSERS_WORDS), d_model=16, d_kv=8, d_ff=32, num_layers=1,
            num_heads=2,
        )
    )  # fmt: skip
    pipe = WanPipeline(
        tokenizer=t5_word_tokenizer(), text_encoder=text_encoder, transformer=transformer,
        vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder


def save_tiny_ltx2(folder: Path) -> Path:
    """An LTX2Pipeline (LTX-2 audio-video transformer, video and audio VAEs, a Gemma 3 text
    encoder with its connectors, a vocoder) in diffusers layout, a few thousand parameters."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(0)
    width = 32  # Gemma's hidden size = the connectors' 4 heads x 8
    text_encoder = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=dict(
                vocab_size=len(DIFFUSERS_WORDS), hidden_size=width, intermediate_size=32,
                num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                sliding_window=8,
            ),
            vision_config=dict(
                hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                image_size=16, patch_size=8,
            ),
            mm_tokens_per_image=4, boi_token_index=2, eoi_token_index=2, image_token_index=2,
        )
    )  # fmt: skip
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4,
        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
        num_layers=1, qk_norm="rms_norm_across_heads", caption_channels=width,
        rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    connectors = LTX2TextConnectors(
        caption_channels=width, text_proj_in_factor=2, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32,
        rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
        spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,),
        decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, in_channels=2,
        resolution=32, latent_channels=2, mel_bins=8,
    )  # fmt: skip
    vocoder = LTX2Vocoder(
        in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4],
        upsample_factors=[2, 2], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
        output_sampling_rate=16000,
    )  # fmt: skip
    pipe = LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
        text_encoder=text_encoder, tokenizer=t5_word_tokenizer(), connectors=connectors,
        transformer=transformer, vocoder=vocoder,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder
