"""`aiprod generate`: a prompt in any of the nine languages to a playable mp4.

Loads a text-to-video checkpoint (the final phase's unless named) and the VAE it was trained
with (found beside the checkpoint by the path it recorded, checked by sha256), samples
latents with the seeded Euler sampler (text CFG, optional flow guidance from a reference
video) on the runtime's device and precision (`runtime` in params.yaml, or --device and
--precision), and decodes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from aiprod.config import RuntimeConfig
from aiprod.curation.motion import clip_flow
from aiprod.latents.encode import latent_grid_flow
from aiprod.nn.rectified_flow import sample
from aiprod.runtime import Runtime, resolve
from aiprod.train.codec import load_codec, resolve_vae
from aiprod.train.t2v import load_model
from aiprod.video.decode import VideoError, read_clip
from aiprod.video.ffmpeg import write_h264

DEFAULT_CHECKPOINT = "models/phase5/model.pt"
SOURCE_FPS = 12.0  # the clips' frame rate (ingest.target.fps); frame_step divides it


class VideoGenerator:
    """A loaded text-to-video model and its VAE, on a device, ready to sample."""

    def __init__(
        self,
        checkpoint: str | Path,
        vae: str | Path | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.runtime = runtime or cpu_runtime()
        model, payload = load_model(checkpoint)
        self.model = self.runtime.to(model)
        self.codec = load_codec(vae or resolve_vae(checkpoint, payload)).to(self.runtime.device)
        self.frames = int(payload.get("frames", 9))
        self.size = int(payload.get("size", 32))
        self.frame_step = int(payload.get("frame_step", 1))
        self.flow_stride = int(payload.get("flow_stride", self.codec.temporal_factor))
        self.flow_save_size = int(payload.get("flow_save_size", self.size))
        self.fps = SOURCE_FPS / self.frame_step

    def latent_shape(self, batch: int, frames: int, size: int) -> tuple[int, ...]:
        """The latent shape for a request; a ValueError names what is wrong with it."""
        tf, sf = self.codec.temporal_factor, self.codec.spatial_factor
        patch = self.model.backbone.cfg.patch
        if frames < 1 or (frames - 1) % tf:
            raise ValueError(f"--frames {frames}: must be 1 + k * {tf} (e.g. {1 + 2 * tf})")
        if size < sf * patch[1] or size % (sf * patch[1]):
            raise ValueError(f"--size {size}: must be a positive multiple of {sf * patch[1]}")
        shape = (
            batch,
            self.codec.vae.cfg.latent_channels,
            1 + (frames - 1) // tf,
            size // sf,
            size // sf,
        )
        self.model.backbone.grid(torch.Size(shape))  # raises when beyond the learned positions
        return shape

    @torch.no_grad()
    def __call__(
        self,
        prompts: list[str],
        frames: int | None = None,
        size: int | None = None,
        steps: int = 20,
        cfg: float = 3.0,
        seed: int = 0,
        flow: torch.Tensor | None = None,
        guidance_strength: float = 0.0,
        on_step: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """(B, 3, T, H, W) videos in [-1, 1] on the CPU; `flow` is (B, 2, P, h, w) at the
        latent grid, in the units training used. `on_step(step, steps)` follows progress; an
        exception raised in it stops sampling between steps."""
        if cfg < 0:
            raise ValueError(f"--cfg {cfg}: must be >= 0")
        if not 0.0 <= guidance_strength <= 1.0:
            raise ValueError(f"--guidance-strength {guidance_strength}: must be in [0, 1]")
        if guidance_strength > 0 and flow is None:
            raise ValueError("--guidance-strength > 0 needs a flow (--motion-ref VIDEO)")
        shape = self.latent_shape(len(prompts), frames or self.frames, size or self.size)
        with self.runtime.autocast():
            text, mask = self.model.text(prompts)
            latents = sample(
                self.model.backbone,
                shape,
                text,
                mask,
                steps,
                cfg,
                self.runtime.to(flow),
                guidance_strength,
                seed,
                on_step,
            )
            return self.codec.decode(latents.float()).cpu()

    def flow_from_video(self, path: str | Path, frames: int, size: int) -> torch.Tensor:
        """Guidance flow (2, P, h, w) at the latent grid from a reference video, in the units
        training used: px/frame at `score.flow.save_size`, pairs every `score.flow.stride`
        frames (both recorded in the model file)."""
        try:
            clip = read_clip(str(path))
        except (VideoError, OSError) as error:
            raise ValueError(f"--motion-ref {path}: cannot read it as a video ({error})") from None
        if len(clip[:: self.frame_step]) < frames:
            raise ValueError(
                f"--motion-ref {path}: {len(clip[:: self.frame_step])} frames at step "
                f"{self.frame_step}, need {frames}"
            )
        return self.flow_from_frames(clip, frames, size)

    def flow_from_frames(self, clip: np.ndarray, frames: int, size: int) -> torch.Tensor:
        """`flow_from_video` of BGR frames (T, H, W, 3) at the clips' frame rate."""
        grey = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip[:: self.frame_step]])
        pairs = max(1, (frames - 1) // self.codec.temporal_factor)
        flow = clip_flow(grey[:frames], size, "medium", stride=self.flow_stride)[:pairs]
        flow = flow * (self.flow_save_size / size)  # px at the size training's flow was kept at
        grid = size // self.codec.spatial_factor
        return torch.from_numpy(latent_grid_flow(flow, grid, grid))


def cpu_runtime() -> Runtime:
    """fp32 on the CPU: what generation uses when no runtime is given."""
    return resolve(RuntimeConfig(device="cpu"))


def to_frames(video: torch.Tensor) -> list[np.ndarray]:
    """(3, T, H, W) in [-1, 1] -> BGR uint8 frames."""
    rgb = ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()
    return [np.ascontiguousarray(frame[..., ::-1]) for frame in rgb]


def write_video(path: str | Path, video: torch.Tensor, fps: float, scale: int = 1) -> Path:
    frames = to_frames(video)
    if scale > 1:
        frames = [
            cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for f in frames
        ]
    write_h264(path, frames, fps, crf=12)
    return Path(path)
