"""Named model sizes (a registry, as DiT's), chosen by `model.preset` in params.yaml.

Parameter counts of the backbones (attention block ~22 D^2, convolution block ~14 D^2):
tiny ~1M (trains on a 2-core CPU in minutes), small ~35M, consumer8g ~0.2B (an 8 GB GPU in
fp16), medium ~1.0B, full ~1.2B (the seed's 30 attention + 18 convolution blocks at width
1152).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiprod.nn.configs import BackboneConfig, ByteTextConfig, VAEConfig


@dataclass(frozen=True)
class ModelPreset:
    vae: VAEConfig
    text: ByteTextConfig
    backbone: BackboneConfig


PRESETS: dict[str, ModelPreset] = {
    "tiny": ModelPreset(
        vae=VAEConfig(
            channels=(16, 32),
            spatial_factor=4,
            temporal_factor=4,
            latent_channels=8,
            groups=0,
            attention_heads=2,
        ),
        text=ByteTextConfig(width=64, layers=2, heads=2, max_length=256),
        backbone=BackboneConfig(
            latent_channels=8,
            patch=(1, 2, 2),
            width=96,
            heads=4,
            attention_blocks=3,
            conv_blocks=2,
            text_width=64,
            max_grid=(16, 32, 32),
            flow_hidden=16,
        ),
    ),
    "small": ModelPreset(
        vae=VAEConfig(channels=(64, 128, 256), latent_channels=16),
        text=ByteTextConfig(width=256, layers=4, heads=4),
        backbone=BackboneConfig(
            latent_channels=16,
            width=384,
            heads=6,
            attention_blocks=8,
            conv_blocks=4,
            text_width=256,
            max_grid=(32, 64, 64),
        ),
    ),
    # fits an 8 GB consumer GPU (GTX 1070: fp16, no bf16): the fp16 step at 256 px, 17 frames,
    # batch 4, with checkpointing, is estimated at ~6 GB by benchmarks/train_memory.py
    "consumer8g": ModelPreset(
        vae=VAEConfig(channels=(64, 128, 256), latent_channels=16),
        text=ByteTextConfig(width=512, layers=4, heads=8),
        backbone=BackboneConfig(
            latent_channels=16,
            width=768,
            heads=12,
            attention_blocks=12,
            conv_blocks=6,
            text_width=512,
            max_grid=(32, 64, 64),
            gradient_checkpointing=True,
        ),
    ),
    "medium": ModelPreset(
        vae=VAEConfig(channels=(128, 256, 512), latent_channels=16),
        text=ByteTextConfig(width=768, layers=8, heads=12),
        backbone=BackboneConfig(
            latent_channels=16,
            width=1280,
            heads=20,
            attention_blocks=20,
            conv_blocks=12,
            text_width=768,
            max_grid=(32, 96, 96),
            gradient_checkpointing=True,
        ),
    ),
    "full": ModelPreset(
        vae=VAEConfig(channels=(128, 256, 512), latent_channels=16),
        text=ByteTextConfig(width=1024, layers=12, heads=16),
        backbone=BackboneConfig(
            latent_channels=16,
            width=1152,
            heads=16,
            attention_blocks=30,
            conv_blocks=18,
            text_width=1024,
            max_grid=(32, 96, 96),
            gradient_checkpointing=True,
        ),
    ),
}


def preset(name: str) -> ModelPreset:
    """A preset by name; KeyError lists the choices."""
    if name not in PRESETS:
        raise KeyError(f"model.preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
