"""Image-quality metrics of reconstructions: PSNR and SSIM over video frames in [-1, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB, on [0, 1] pixel values."""
    mse = F.mse_loss((a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7, sigma: float = 1.5) -> float:
    """Mean structural similarity (Gaussian window) of (B, C, T, H, W) videos, per frame."""
    x = ((a.clamp(-1, 1) + 1) / 2).transpose(1, 2).flatten(0, 1)  # (B*T, C, H, W)
    y = ((b.clamp(-1, 1) + 1) / 2).transpose(1, 2).flatten(0, 1)
    coords = torch.arange(window, dtype=x.dtype) - window // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum())[:, None] * (g / g.sum())[None, :]
    kernel = g.expand(x.shape[1], 1, window, window).to(x)
    blur = lambda z: F.conv2d(z, kernel, groups=x.shape[1])  # noqa: E731
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(value.mean())
