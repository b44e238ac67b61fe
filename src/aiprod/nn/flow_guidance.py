"""Optical-flow guidance: flow fields mapped onto the latent token grid.

Flow (B, 2, P, h, w) in pixels per frame (P = T - 1 frame pairs on the latent grid, e.g.
every 4th pair from the shards) is encoded by a small convolutional net at the latent
resolution, patchified as the latents are, and added to the tokens. The last layer starts
at zero, so a new model ignores flow until it learns to use it; training drops the flow at
random, so the sampler can blend the flow-conditioned and unconditioned predictions
(`guidance_strength` s, see `rectified_flow.sample`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Flow is divided by this before the encoder. The demo's flow on the latent grid (px/frame
# at score.flow.save_size, area-averaged) peaks at ~0.9 px in a median window: divided by 4
# it stayed near 0.2, under the first layer's random biases, and moving-pixel agreement at
# s = 1 after phase 1 was 0.27; divided by 0.5 it was 0.40 (16 held-out guides each).
FLOW_SCALE = 0.5


class PatchFlowEncoder(nn.Module):
    """(B, 2, P, h, w) flow on the latent grid (px/frame, divided by `FLOW_SCALE` here) ->
    (B, D, T / pt, h / ph, w / pw) tokens.

    The flow is encoded at the latent grid's own resolution and patchified as the latents
    are (a strided convolution), so a token knows where inside its patch the motion is: a
    6-pixel object in a 32-pixel frame lies inside one token, and resizing the flow to the
    token grid first averaged its position away. Its last layer starts at zero.
    """

    def __init__(self, width: int, patch: tuple[int, int, int], hidden: int = 64) -> None:
        super().__init__()
        self.patch = patch
        self.inner = nn.Sequential(
            nn.Conv3d(2, hidden, 3, padding=1), nn.SiLU(), nn.Conv3d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
        )  # fmt: skip
        self.out = nn.Conv3d(hidden, width, kernel_size=patch, stride=patch)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, flow: torch.Tensor, frames: int) -> torch.Tensor:
        """The first latent frame has no motion before it: P = T - 1 fields, padded with
        zeros in front (a guide with more or fewer fields is cut or repeats its last)."""
        steps = frames - 1
        if 0 < flow.shape[2] < steps:
            extra = flow[:, :, -1:].expand(-1, -1, steps - flow.shape[2], -1, -1)
            flow = torch.cat([flow, extra], 2)
        flow = torch.cat([torch.zeros_like(flow[:, :, :1]), flow[:, :, :steps]], dim=2)
        return self.out(self.inner(flow.to(self.out.weight.dtype) / FLOW_SCALE))


class FlowEncoder(nn.Module):
    """The backbone's flow tokens: flow in px/frame brought to the latent grid (area-averaged
    when larger, as `latent_grid_flow` stores it), patchified."""

    def __init__(self, width: int, hidden: int, patch: tuple[int, int, int]) -> None:
        super().__init__()
        self.encoder = PatchFlowEncoder(width, patch, hidden)

    def forward(self, flow: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """(B, 2, P, h, w) flow -> (B, N, D) tokens on the (T, H, W) patch grid."""
        pt, ph, pw = self.encoder.patch
        frames, size = grid[0] * pt, (grid[1] * ph, grid[2] * pw)
        flow = flow.float()
        if tuple(flow.shape[-2:]) != size:
            b, c, p, h, w = flow.shape
            fields = flow.transpose(1, 2).reshape(b * p, c, h, w)
            larger = h >= size[0] and w >= size[1]
            fields = (
                F.adaptive_avg_pool2d(fields, size)
                if larger
                else F.interpolate(fields, size=size, mode="bilinear", align_corners=False)
            )
            flow = fields.view(b, p, c, *size).transpose(1, 2)
        return self.encoder(flow, frames).flatten(2).transpose(1, 2)


def check_strength(strength: float) -> float:
    """Guidance strength 0 = ignore the flow, 1 = follow it; anything else is an error."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"guidance_strength must be in [0, 1], got {strength}")
    return strength
