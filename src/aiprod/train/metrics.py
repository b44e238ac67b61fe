"""Image-quality metrics of reconstructions: PSNR and SSIM over video frames in [-1, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB, on [0, 1] pixel values."""
    mse = F.mse_loss((a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> float:
    """Mean structural similarity of (B, C, T, H, W) videos, frame by frame, as published
    figures compute it (Wang et al. 2004: an 11 x 11 Gaussian window of sigma 1.5, on [0, 1]
    pixels), by torchmetrics."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x = ((a.clamp(-1, 1) + 1) / 2).transpose(1, 2).flatten(0, 1).float()  # (B*T, C, H, W)
    y = ((b.clamp(-1, 1) + 1) / 2).transpose(1, 2).flatten(0, 1).float()
    value = structural_similarity_index_measure(
        x, y, gaussian_kernel=True, sigma=sigma, kernel_size=window, data_range=1.0
    )
    return float(value)
