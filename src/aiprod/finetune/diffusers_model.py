"""A diffusers video model as the short path uses it: its VAE and text encoder to precompute
latents, its transformer (with LoRA and a flow encoder) to train, its pipeline to sample.

Only local folders are read (`finetune.base_path`); nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from aiprod.finetune.bases import BaseSpec
from aiprod.finetune.flow_encoder import FlowEncoder, FlowInjection

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FRAME_RATE = 25.0  # the pipelines' default frame rate, which their RoPE scales by


def diffusers_class(name: str) -> type:
    import diffusers

    return getattr(diffusers, name)


def load_vae(path: str | Path, spec: BaseSpec, dtype: torch.dtype = torch.float32) -> nn.Module:
    vae = diffusers_class(spec.vae).from_pretrained(path, subfolder="vae", dtype=dtype)
    return vae.eval().requires_grad_(False)


def load_transformer(path: str | Path, spec: BaseSpec, dtype: torch.dtype) -> nn.Module:
    return diffusers_class(spec.transformer).from_pretrained(
        path, subfolder="transformer", dtype=dtype
    )


def load_pipeline(path: str | Path, spec: BaseSpec, **components: object) -> object:
    return diffusers_class(spec.pipeline).from_pretrained(path, **components)


def vae_factors(vae: nn.Module) -> tuple[int, int]:
    """(temporal, spatial) compression of a diffusers video VAE."""
    config = vae.config
    if "scale_factor_temporal" in config:  # Wan
        return config.scale_factor_temporal, config.scale_factor_spatial
    return vae.temporal_compression_ratio, vae.spatial_compression_ratio


class DiffusersCodec:
    """The base's VAE: videos in [-1, 1] <-> the normalised latents its transformer takes."""

    def __init__(self, vae: nn.Module) -> None:
        self.vae = vae
        config = vae.config
        buffers = dict(vae.named_buffers())
        if "latents_mean" in buffers:  # LTX: buffers
            mean, std = buffers["latents_mean"].float(), buffers["latents_std"].float()
            self.scale = float(config.get("scaling_factor", 1.0))
        else:  # Wan: lists in the config
            mean, std = torch.tensor(config.latents_mean), torch.tensor(config.latents_std)
            self.scale = 1.0
        self.mean, self.std = mean.view(1, -1, 1, 1, 1), std.view(1, -1, 1, 1, 1)
        self.temporal_factor, self.spatial_factor = vae_factors(vae)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    def to(self, device: torch.device | str) -> DiffusersCodec:
        self.vae.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    @torch.no_grad()
    def encode(self, videos: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, H, W) in [-1, 1] -> normalised posterior means."""
        dtype = next(self.vae.parameters()).dtype
        mean = self.vae.encode(videos.to(self.device, dtype)).latent_dist.mean.float()
        return (mean - self.mean) * self.scale / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        dtype = next(self.vae.parameters()).dtype
        raw = latents.to(self.device).float() * self.std / self.scale + self.mean
        return self.vae.decode(raw.to(dtype), return_dict=False)[0].float().clamp(-1, 1)


class PipelineText:
    """The base pipeline's own prompt encoding, as (hidden states, mask) cut to the longest
    prompt of the call (the stored features hold no padding)."""

    def __init__(self, pipeline: object, spec: BaseSpec, max_length: int) -> None:
        self.pipeline, self.spec, self.max_length = pipeline, spec, max_length

    @property
    def device(self) -> torch.device:
        return next(self.pipeline.text_encoder.parameters()).device

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        pipe, device, length = self.pipeline, self.device, self.max_length
        if self.spec.name == "wan":  # embeddings zero-padded to the length, no mask returned
            hidden, _ = pipe.encode_prompt(
                texts, do_classifier_free_guidance=False, max_sequence_length=length,
                device=device,
            )  # fmt: skip
            tokens = pipe.tokenizer(
                texts, padding="max_length", max_length=length, truncation=True,
                add_special_tokens=True, return_tensors="pt",
            )  # fmt: skip
            mask = tokens.attention_mask.to(hidden.device)
        else:
            hidden, mask, _, _ = pipe.encode_prompt(
                texts, do_classifier_free_guidance=False, max_sequence_length=length,
                device=device,
            )  # fmt: skip
        if self.spec.name == "ltx-2":  # Gemma's layers through the video connector
            side = getattr(pipe.tokenizer, "padding_side", "left")
            hidden, _, mask = pipe.connectors(hidden, mask, padding_side=side)
        mask = mask.bool()
        used = mask.any(0).nonzero()
        end = int(used.max()) + 1 if len(used) else 1  # trailing padding only is cut
        return hidden[:, :end].float(), mask[:, :end]


def sigma_shift(scheduler_config: dict, sequence_length: int) -> callable:
    """The base scheduler's time shift, applied to uniform-ish training sigmas: the
    resolution-dependent exponential shift (LTX) or the fixed shift (Wan)."""
    if scheduler_config.get("use_dynamic_shifting"):
        base_len = scheduler_config.get("base_image_seq_len", 256)
        max_len = scheduler_config.get("max_image_seq_len", 4096)
        base_shift = scheduler_config.get("base_shift", 0.5)
        max_shift = scheduler_config.get("max_shift", 1.15)
        slope = (max_shift - base_shift) / (max_len - base_len)
        mu = base_shift + slope * (sequence_length - base_len)
        return lambda s: math.exp(mu) / (math.exp(mu) + (1 / s.clamp(1e-6, 1) - 1))
    shift = float(scheduler_config.get("shift") or scheduler_config.get("flow_shift") or 1.0)
    return lambda s: shift * s / (1 + (shift - 1) * s)


def scheduler_config(path: str | Path) -> dict:
    file = Path(path) / "scheduler" / "scheduler_config.json"
    return json.loads(file.read_text()) if file.is_file() else {}


class Denoiser(nn.Module):
    """The base transformer (with its adapters) and the flow encoder, as one velocity
    predictor over (B, C, T, H, W) latents at sigmas in [0, 1]."""

    def __init__(
        self,
        spec: BaseSpec,
        transformer: nn.Module,
        flow: FlowEncoder | None,
        text_length: int,
        vae_factors: tuple[int, int] = (1, 1),
    ) -> None:
        super().__init__()
        self.spec, self.transformer, self.flow = spec, transformer, flow
        self.text_length, self.vae_factors = text_length, vae_factors
        self.injection = FlowInjection(*patch_embedding(spec, transformer))

    @staticmethod
    def patch(spec: BaseSpec, transformer: nn.Module) -> tuple[int, int, int]:
        config = transformer.config
        if spec.name == "wan":
            return tuple(config.patch_size)
        return (config.patch_size_t, config.patch_size, config.patch_size)

    def forward(
        self,
        latents: torch.Tensor,
        sigma: torch.Tensor,
        text: torch.Tensor,
        mask: torch.Tensor,
        flow: torch.Tensor | None = None,
        strength: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.injection.tokens = None
        if self.flow is not None and flow is not None and strength is not None:
            # run even at strength 0 (adding exact zeros): every rank's DDP graph is the same
            tokens = self.flow(flow, latents.shape[2])
            self.injection.tokens = tokens * strength.view(-1, 1, 1, 1, 1).to(tokens.dtype)
        try:
            return self._velocity(latents, sigma * 1000.0, text, mask)
        finally:
            self.injection.tokens = None

    def _velocity(
        self, latents: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        dtype = next(self.transformer.parameters()).dtype
        if self.spec.name == "wan":  # zero padding to the pipeline's length, as it samples
            pad = self.text_length - text.shape[1]
            text = torch.nn.functional.pad(text * mask[..., None], (0, 0, 0, max(0, pad)))
            return self.transformer(
                hidden_states=latents.to(dtype), timestep=timestep,
                encoder_hidden_states=text.to(dtype), return_dict=False,
            )[0].float()  # fmt: skip
        b, c, t, h, w = latents.shape
        pt, ph, _ = self.patch(self.spec, self.transformer)
        tokens = latents.reshape(b, c, t // pt, pt, h // ph, ph, w // ph, ph)
        tokens = tokens.permute(0, 2, 4, 6, 1, 3, 5, 7).flatten(4, 7).flatten(1, 3)
        grid = dict(num_frames=t // pt, height=h // ph, width=w // ph)
        if self.spec.name == "ltx-2":
            out = self._ltx2(tokens.to(dtype), timestep, text.to(dtype), mask, grid)
        else:
            tf, sf = self.vae_factors
            out = self.transformer(
                hidden_states=tokens.to(dtype), encoder_hidden_states=text.to(dtype),
                timestep=timestep, encoder_attention_mask=mask.to(dtype),
                rope_interpolation_scale=(tf / FRAME_RATE, sf, sf), return_dict=False, **grid,
            )[0].float()  # fmt: skip
        out = out.reshape(b, t // pt, h // ph, w // ph, c, pt, ph, ph)
        return out.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, c, t, h, w)

    def _ltx2(
        self, tokens: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor,
        mask: torch.Tensor, grid: dict,
    ) -> torch.Tensor:  # fmt: skip
        """Video only: the audio stream is one silent token and the modalities are isolated
        (no audio-video cross-attention), so the video's velocity does not depend on it."""
        config, b = self.transformer.config, tokens.shape[0]
        audio = tokens.new_zeros(b, 1, config.audio_in_channels)
        audio_text = text.new_zeros(b, 1, text.shape[-1])
        return self.transformer(
            hidden_states=tokens, audio_hidden_states=audio, encoder_hidden_states=text,
            audio_encoder_hidden_states=audio_text, timestep=timestep, sigma=timestep,
            encoder_attention_mask=mask.to(tokens.dtype), fps=FRAME_RATE, audio_num_frames=1,
            isolate_modalities=True, return_dict=False, **grid,
        )[0].float()  # fmt: skip


def patch_embedding(spec: BaseSpec, transformer: nn.Module) -> tuple[nn.Module, str]:
    """The module whose output the flow tokens are added to, and its output's layout."""
    if spec.name == "wan":
        return transformer.patch_embedding, "grid"
    return transformer.proj_in, "tokens"


def grid_multiples(path: str | Path, spec: BaseSpec) -> tuple[int, int]:
    """(frames step, side multiple) this folder's VAE and transformer patch require: the
    VAE built from its config on the meta device (no weights read)."""
    vae_cls = diffusers_class(spec.vae)
    with torch.device("meta"):
        vae = vae_cls.from_config(vae_cls.load_config(path, subfolder="vae"))
    tf, sf = vae_factors(vae)
    config = json.loads((Path(path) / "transformer" / "config.json").read_text())
    patch = config.get("patch_size", 1)
    spatial = patch[1] if isinstance(patch, list | tuple) else patch
    return tf, sf * spatial
