"""The backbone's two block kinds, both modulated by the timestep with adaLN-zero.

- `AttentionBlock`: 3D self-attention over all latent tokens (PyTorch SDPA), cross-attention
  to the text tokens with their mask, and an MLP.
- `ConvBlock`: a local depthwise 3D convolution in token layout, and an MLP. The convolution
  is factorised (3 temporal taps, then 3x3 spatial taps: 12 shifted multiply-adds instead of
  27) and never leaves the (B, T, H, W, D) layout, so there is no transpose to channels-first
  and no cuDNN depthwise-3D kernel (the slow path measured in DESIGN.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Mlp(nn.Sequential):
    def __init__(self, width: int, ratio: float) -> None:
        hidden = int(width * ratio)
        super().__init__(
            nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width)
        )


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)  # (B, heads, N, d)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class AdaLN(nn.Linear):
    """Timestep conditioning -> (shift, scale, gate) x 2, zero at init (identity block)."""

    def __init__(self, width: int) -> None:
        super().__init__(width, 6 * width)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return super().forward(F.silu(c)).chunk(6, dim=-1)


class _ModulatedBlock(nn.Module):
    """What both block kinds share: pre-norms, the timestep modulation and the MLP branch."""

    def __init__(self, width: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, mlp_ratio)
        self.ada = AdaLN(width)

    def feed_forward(
        self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, gate: torch.Tensor
    ) -> torch.Tensor:
        return x + gate.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift, scale))


class AttentionBlock(_ModulatedBlock):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(width, mlp_ratio)
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm_cross = nn.LayerNorm(width, eps=1e-6)
        self.q_cross = nn.Linear(width, width)
        self.kv_cross = nn.Linear(width, 2 * width)
        self.proj_cross = nn.Linear(width, width)

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        grid: tuple[int, int, int],
    ) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)
        q, k, v = self.qkv(modulate(self.norm1(x), shift1, scale1)).chunk(3, dim=-1)
        attended = F.scaled_dot_product_attention(*(_heads(z, self.heads) for z in (q, k, v)))
        x = x + gate1.unsqueeze(1) * self.proj(_merge(attended))  # (B, N, D)
        q = _heads(self.q_cross(self.norm_cross(x)), self.heads)
        k, v = (_heads(z, self.heads) for z in self.kv_cross(text).chunk(2, dim=-1))
        mask = text_mask[:, None, None, :]  # (B, 1, 1, L): attend to real text tokens only
        x = x + self.proj_cross(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))
        return self.feed_forward(x, shift2, scale2, gate2)


class SeparableDepthwise3d(nn.Module):
    """Depthwise 3x3x3 neighbourhood as 3 temporal + 9 spatial shifted multiply-adds."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.temporal = nn.Parameter(torch.zeros(3, width))
        self.spatial = nn.Parameter(torch.zeros(3, 3, width))
        self.bias = nn.Parameter(torch.zeros(width))
        with torch.no_grad():  # start as identity plus a little neighbourhood
            self.temporal[1] = 1.0
            self.spatial[1, 1] = 1.0
            self.temporal.add_(torch.randn_like(self.temporal) * 0.02)
            self.spatial.add_(torch.randn_like(self.spatial) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H, W, D)
        _, t, h, w, _ = x.shape
        padded = F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1))  # time
        x = sum(padded[:, k : k + t] * self.temporal[k] for k in range(3))
        padded = F.pad(x, (0, 0, 1, 1, 1, 1))  # height and width
        x = sum(
            padded[:, :, i : i + h, j : j + w] * self.spatial[i, j]
            for i in range(3)
            for j in range(3)
        )
        return x + self.bias


class FullDepthwise3d(nn.Module):
    """The unfactorised 27-tap depthwise 3D convolution in token layout (for comparison)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 3, 3, width) * 0.02)
        with torch.no_grad():
            self.weight[1, 1, 1] += 1.0
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, t, h, w, _ = x.shape
        padded = F.pad(x, (0, 0, 1, 1, 1, 1, 1, 1))
        out = sum(
            padded[:, a : a + t, i : i + h, j : j + w] * self.weight[a, i, j]
            for a in range(3)
            for i in range(3)
            for j in range(3)
        )
        return out + self.bias


class CudnnDepthwise3d(nn.Conv3d):
    """PyTorch's grouped Conv3d (cuDNN on GPU): needs channels-first, hence two transposes."""

    def __init__(self, width: int) -> None:
        super().__init__(width, width, 3, padding=1, groups=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)


CONV_KINDS = {"separable": SeparableDepthwise3d, "full": FullDepthwise3d, "cudnn": CudnnDepthwise3d}


class ConvBlock(_ModulatedBlock):
    def __init__(self, width: int, mlp_ratio: float, conv: str = "separable") -> None:
        super().__init__(width, mlp_ratio)
        self.conv = CONV_KINDS[conv](width)

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        grid: tuple[int, int, int],
    ) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)
        b, n, d = x.shape
        local = self.conv(modulate(self.norm1(x), shift1, scale1).view(b, *grid, d)).reshape(
            b, n, d
        )
        x = x + gate1.unsqueeze(1) * local
        return self.feed_forward(x, shift2, scale2, gate2)
