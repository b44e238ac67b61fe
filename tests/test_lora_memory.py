"""LoRA step memory of a diffusers transformer, counted on the meta device (a tiny Wan)."""

import pytest
import torch

from aiprod.train.lora_memory import efficient_attention, lora_step_memory

TINY_WAN = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 16,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
}


def tiny():
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(**TINY_WAN)


def inputs():
    return {
        "hidden_states": torch.randn(1, 4, 5, 16, 16, dtype=torch.float16),
        "encoder_hidden_states": torch.randn(1, 8, 16, dtype=torch.float16),
        "timestep": torch.tensor([500]),
    }


@pytest.mark.quick
def test_efficient_attention_keeps_the_output_and_a_log_sum_exp_not_the_scores():
    q = torch.randn(1, 2, 64, 8, device="meta", requires_grad=True)
    out = efficient_attention(q, q, q)
    assert out.shape == q.shape
    saved = out.grad_fn.saved_tensors
    assert max(t.numel() for t in saved) == q.numel()  # no (64 x 64) score matrix is kept
    out.sum().backward()
    assert q.grad.shape == q.shape


@pytest.mark.quick
def test_a_lora_step_is_counted_with_the_base_frozen_and_checkpointing_saving_memory():
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    with_checkpoints = lora_step_memory(tiny, inputs, targets, rank=4)
    without = lora_step_memory(tiny, inputs, targets, rank=4, checkpointing=False)
    assert with_checkpoints.parameters == sum(p.numel() for p in tiny().parameters()) + (
        with_checkpoints.trainable
    )
    assert 0 < with_checkpoints.trainable < with_checkpoints.parameters / 2
    counted = with_checkpoints.bytes_by_kind
    assert counted["Parameter"] > 0 and counted["Activation"] > 0 and counted["Optstate"] > 0
    assert counted["Activation"] < without.bytes_by_kind["Activation"]
    assert torch.Tensor.register_hook.__name__ == "register_hook"  # the patch is undone
