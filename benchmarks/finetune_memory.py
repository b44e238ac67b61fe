"""Peak GPU memory of one LoRA step of LTX-Video 2B and Wan 2.1 1.3B: what a consumer GPU needs.

Each transformer is built from its released config on the meta device, gets peft LoRA
adapters on the attention projections (q, k, v, out; rank 16), and one training step at
512 x 320 px, 49 frames, batch 1, fp16 weights, gradient checkpointing on, runs under
torch's MemTracker with attention counted as CUDA's memory-efficient kernel
(`aiprod.train.lora_memory`). The text encoder and VAE are not in the step: their outputs
are precomputed. It prints the peak by kind and the estimate for a GPU (+ CUDA context and
allocator slack); the seed's target is a GTX 1070 (8 GB). `--no-checkpointing` for the
baseline without it.

    python benchmarks/finetune_memory.py [--models ltx-video-2b wan2.1-1.3b] [--no-checkpointing]
"""

from __future__ import annotations

import argparse
import time

import torch

from aiprod.train.lora_memory import lora_step_memory

WIDTH, HEIGHT, FRAMES = 512, 320, 49
TEXT_TOKENS = {"ltx-video-2b": 128, "wan2.1-1.3b": 512}  # T5 / umT5 sequence lengths used


def ltx_video_2b() -> tuple:
    from diffusers import LTXVideoTransformer3DModel

    # LTX-Video 0.9 (2B): diffusers' defaults are its config; VAE 32x32 px, 8 frames
    frames, h, w = 1 + (FRAMES - 1) // 8, HEIGHT // 32, WIDTH // 32

    def inputs() -> dict:
        tokens = TEXT_TOKENS["ltx-video-2b"]
        return {
            "hidden_states": torch.randn(1, frames * h * w, 128, dtype=torch.float16),
            "encoder_hidden_states": torch.randn(1, tokens, 4096, dtype=torch.float16),
            "timestep": torch.tensor([500]),
            "encoder_attention_mask": torch.ones(1, tokens, dtype=torch.bool),
            "num_frames": frames,
            "height": h,
            "width": w,
        }

    return LTXVideoTransformer3DModel, {}, inputs


def wan_1_3b() -> tuple:
    from diffusers import WanTransformer3DModel

    # Wan 2.1 T2V 1.3B's transformer config; VAE 8x8 px, 4 frames, 16 latent channels
    config = {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 12,
        "attention_head_dim": 128,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 8960,
        "num_layers": 30,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
    }
    frames = 1 + (FRAMES - 1) // 4

    def inputs() -> dict:
        return {
            "hidden_states": torch.randn(
                1, 16, frames, HEIGHT // 8, WIDTH // 8, dtype=torch.float16
            ),
            "encoder_hidden_states": torch.randn(
                1, TEXT_TOKENS["wan2.1-1.3b"], 4096, dtype=torch.float16
            ),
            "timestep": torch.tensor([500]),
        }

    return WanTransformer3DModel, config, inputs


MODELS = {"ltx-video-2b": ltx_video_2b, "wan2.1-1.3b": wan_1_3b}
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-checkpointing", action="store_true")
    args = parser.parse_args()
    for name in args.models:
        model_class, config, inputs = MODELS[name]()
        started = time.perf_counter()
        counted = lora_step_memory(
            lambda cls=model_class, cfg=config: cls(**cfg),
            inputs,
            TARGETS,
            checkpointing=not args.no_checkpointing,
        )
        print(
            f"{name}: {counted.parameters / 1e9:.2f} B parameters, "
            f"{counted.trainable / 1e6:.1f} M trainable (LoRA r16 on {', '.join(TARGETS)}); "
            f"{WIDTH}x{HEIGHT}x{FRAMES}, fp16, checkpointing {not args.no_checkpointing}"
        )
        print(f"  peak by kind (GB): {counted.by_kind}")
        print(
            f"  tracked {counted.tracked_gb:.2f} GB -> GPU estimate {counted.gpu_estimate_gb:.2f} "
            f"GB ({time.perf_counter() - started:.0f} s to count)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
