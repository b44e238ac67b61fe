"""Optical-flow guidance: flow fields mapped onto the latent token grid.

Flow (B, 2, P, h, w) in pixels per frame (P frame pairs, e.g. every 4th pair from the
shards) is resampled to the patch grid, encoded by a small convolutional net and added to
the tokens. The last layer starts at zero, so a new model ignores flow until it learns to
use it; training drops the flow at random, so at sampling time
v = v_no_flow + s * (v_flow - v_no_flow) blends between the two (`guidance_strength` s).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FLOW_SCALE = 4.0  # typical magnitude (pixels per frame) mapped to ~1


class FlowEncoder(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(2, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv3d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv3d(hidden, width, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, flow: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """(B, 2, P, h, w) flow -> (B, N, D) tokens on the (T, H, W) patch grid."""
        flow = flow.float() / FLOW_SCALE
        resized = F.interpolate(flow, size=grid, mode="trilinear", align_corners=False)
        encoded = self.net(resized.to(self.net[0].weight.dtype))  # (B, D, T, H, W)
        return encoded.flatten(2).transpose(1, 2)


def check_strength(strength: float) -> float:
    """Guidance strength 0 = ignore the flow, 1 = follow it; anything else is an error."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"guidance_strength must be in [0, 1], got {strength}")
    return strength


def blend(v_no_flow: torch.Tensor, v_flow: torch.Tensor, strength: float) -> torch.Tensor:
    """v_no_flow + s * (v_flow - v_no_flow): s = 0 ignores the flow, s = 1 follows it."""
    return v_no_flow + check_strength(strength) * (v_flow - v_no_flow)
