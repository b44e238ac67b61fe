"""Tiny randomly initialised diffusers video pipelines (LTX-Video, Wan 2.1, LTX-2) with
locally made tokenizers, saved with `save_pretrained`: the short path's bases in tests."""

from __future__ import annotations

from pathlib import Path

import torch

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
