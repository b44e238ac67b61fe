"""`aiprod generate --base wan --base-path DIR --lora models/lora "<prompt>"`: the base's own
diffusers pipeline with the trained adapter loaded by `load_lora_weights`, and, with a
motion reference, the flow encoder's tokens added to its patch embedding at the guidance
strength (the same hook training used; strength 0 is the base + LoRA exactly)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from aiprod.curation.motion import clip_flow
from aiprod.finetune.bases import check_base_path
from aiprod.finetune.buckets import Bucket, crop_flow
from aiprod.finetune.diffusers_model import diffusers_class, patch_embedding, vae_factors
from aiprod.finetune.export import FLOW_CONFIG, load_flow_encoder
from aiprod.finetune.flow_encoder import FlowInjection
from aiprod.latents.encode import latent_grid_flow
from aiprod.runtime import Runtime
from aiprod.video.decode import VideoError, read_clip


@dataclass(frozen=True)
class Request:
    prompt: str
    width: int
    height: int
    frames: int
    steps: int
    cfg: float
    seed: int
    motion_ref: str | None = None
    strength: float = 0.0
    max_sequence_length: int = 128


def reference_flow(
    path: str, request: Request, units: dict, factors: tuple[int, int]
) -> torch.Tensor:
    """(1, 2, P, h, w) flow of a reference video on the latent grid, in the units training
    saw: px/frame at a longer side of `save_size`, pairs every `stride` kept frames, the
    bucket's centred crop."""
    try:
        clip = read_clip(str(path))
    except (VideoError, OSError) as error:
        raise ValueError(f"--motion-ref {path}: cannot read it as a video ({error})") from None
    kept = clip[:: units["frame_step"]]
    if len(kept) < request.frames:
        raise ValueError(f"--motion-ref {path}: {len(kept)} frames, need {request.frames}")
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in kept[: request.frames]])
    tf, sf = factors
    flow = clip_flow(grey, units["save_size"], "medium", stride=units["stride"])
    flow = flow[: max(1, (request.frames - 1) // tf)]  # px per kept frame, as trained
    bucket = Bucket(request.width, request.height, request.frames)
    flow = crop_flow(flow, clip.shape[2], clip.shape[1], bucket)
    grid = latent_grid_flow(flow, request.height // sf, request.width // sf)
    return torch.from_numpy(grid)[None].float()


def generate_with_base(
    base: str, base_path: str, lora: str | None, request: Request, runtime: Runtime
) -> torch.Tensor:
    """(3, T, H, W) in [-1, 1]."""
    spec = check_base_path(base, base_path)
    pipe = diffusers_class(spec.pipeline).from_pretrained(base_path, dtype=runtime.dtype)
    if lora:
        if not (Path(lora) / "pytorch_lora_weights.safetensors").is_file():
            raise FileNotFoundError(f"--lora {lora}: no pytorch_lora_weights.safetensors there")
        pipe.load_lora_weights(lora)
    pipe.to(runtime.device)
    injection = None
    if request.motion_ref and request.strength > 0:
        encoder = load_flow_encoder(lora) if lora else None
        if encoder is None:
            raise ValueError("--motion-ref: the adapter (--lora) has no flow encoder beside it")
        units = json.loads((Path(lora) / FLOW_CONFIG).read_text())["units"]
        factors = vae_factors(pipe.vae)
        flow = reference_flow(request.motion_ref, request, units, factors)
        latent_frames = 1 + (request.frames - 1) // factors[0]
        tokens = encoder.to(runtime.device)(flow.to(runtime.device), latent_frames)
        injection = FlowInjection(*patch_embedding(spec, pipe.transformer))
        injection.tokens = tokens * request.strength
    try:
        out = pipe(
            prompt=request.prompt, height=request.height, width=request.width,
            num_frames=request.frames, num_inference_steps=request.steps,
            guidance_scale=request.cfg, output_type="pt",
            generator=torch.Generator().manual_seed(request.seed),
            max_sequence_length=request.max_sequence_length,
        )  # fmt: skip
    finally:
        if injection is not None:
            injection.handle.remove()
    video = out.frames[0].float()  # (T, 3, H, W) in [0, 1]
    return video.permute(1, 0, 2, 3).mul(2).sub(1).cpu()
