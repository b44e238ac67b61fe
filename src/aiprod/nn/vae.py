"""A causal 3D-convolutional video VAE with temporal self-attention.

Causal in time: every convolution pads only on the past side, temporal down-sampling keeps
the first frame apart, and temporal attention is masked to the past, so latent frame j sees
only input frames up to the end of its group. A still image is a 1-frame video: it encodes
alone to one latent frame. Videos of 1 + k * temporal_factor frames encode to 1 + k frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aiprod.nn.configs import VAEConfig
from aiprod.nn.vae_loss import reconstruction_loss


class CausalConv3d(nn.Module):
    """3D convolution padded on the past side in time (replicating the first frame)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
        time_pad: int | None = None,
    ) -> None:
        super().__init__()
        self.time_pad = kernel[0] - 1 if time_pad is None else time_pad
        self.space_pad = (kernel[2] // 2, kernel[2] // 2, kernel[1] // 2, kernel[1] // 2)
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.space_pad)  # (B, C, T, H + 2, W + 2)
        if self.time_pad:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        return self.conv(x)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int) -> None:
        super().__init__()
        self.norm1 = frame_norm(groups, cin)
        self.conv1 = CausalConv3d(cin, cout)
        self.norm2 = frame_norm(groups, cout)
        self.conv2 = CausalConv3d(cout, cout)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GroupNorm over (C, T, H, W) would mix future frames in; normalise each frame alone.
        h = self.conv1(F.silu(_framewise(self.norm1, x)))
        h = self.conv2(F.silu(_framewise(self.norm2, h)))
        return self.skip(x) + h


def frame_norm(groups: int, channels: int) -> nn.Module:
    """GroupNorm, or none with `groups` 0: a narrow VAE (the CPU demo's 16-32 channels) learns
    several times faster without it (its two-channel groups normalise colour away)."""
    return nn.GroupNorm(min(groups, channels), channels) if groups else nn.Identity()


def _framewise(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a GroupNorm per frame, so statistics never cross time (keeps causality)."""
    b, c, t, h, w = x.shape
    y = norm(x.transpose(1, 2).reshape(b * t, c, h, w))
    return y.reshape(b, t, c, h, w).transpose(1, 2)


class TemporalAttention(nn.Module):
    """Causal self-attention along time at each pixel; keys/values every `stride` frames."""

    def __init__(self, channels: int, heads: int, stride: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)  # per pixel and frame: causal, keeps colour
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.heads, self.stride = heads, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        tokens = x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)
        q, k, v = self.qkv(self.norm(tokens)).chunk(3, dim=-1)
        keep = torch.arange(0, t, self.stride, device=x.device)
        if keep[-1] != t - 1 and self.stride > 1:
            keep = torch.cat([keep, keep.new_tensor([t - 1])])
        k, v = k[:, keep], v[:, keep]
        mask = keep[None, :] <= torch.arange(t, device=x.device)[:, None]  # (T, K) causal
        split = lambda z: z.reshape(z.shape[0], z.shape[1], self.heads, -1).transpose(1, 2)  # noqa: E731
        attended = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
        attended = attended.transpose(1, 2).reshape(b * h * w, t, c)
        out = self.out(attended).reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return x + out


class Downsample(nn.Module):
    """Halve space (and time when asked), the first frame kept apart in time.

    With `shortcut`, the learned convolutions add to the input averaged over each 2x2 (and
    frame pair): a non-parametric path from pixels to latents, as DC-AE's residual
    autoencoding (Chen et al., 2024), so a region's colour reaches the latent from the first
    step instead of being learned slowly through every convolution.
    """

    def __init__(self, channels: int, time: bool, shortcut: bool = False) -> None:
        super().__init__()
        self.time, self.shortcut = time, shortcut
        self.conv = CausalConv3d(channels, channels, (3, 3, 3), stride=(1, 2, 2))
        # kernel 3, stride 2, one frame of past padding: window j covers frames 2j-1 .. 2j+1,
        # so it ends on frame 2j+1 and group j = frames {2j, 2j+1} never sees a later frame
        self.time_conv = (
            CausalConv3d(channels, channels, (3, 1, 1), stride=(2, 1, 1), time_pad=1)
            if time
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.shortcut:
            y = y + F.avg_pool3d(x, (1, 2, 2))
        if self.time_conv is not None and y.shape[2] > 1:
            first, rest = y[:, :, :1], y[:, :, 1:]  # (B, C, 1 + 2k, ...) -> 1 + k frames
            pooled = self.time_conv(rest)
            if self.shortcut:  # the mean of each group {2j, 2j+1}: causal as the conv
                pooled = pooled + 0.5 * (rest[:, :, 0::2] + rest[:, :, 1::2])
            y = torch.cat([first, pooled], dim=2)
        return y


class Upsample(nn.Module):
    """Double space (and time when asked: every frame after the first becomes two); with
    `shortcut`, the convolution adds to the nearest-upsampled input (DC-AE's shortcut)."""

    def __init__(self, channels: int, time: bool, shortcut: bool = False) -> None:
        super().__init__()
        self.time, self.shortcut = time, shortcut
        self.conv = CausalConv3d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time and x.shape[2] > 1:
            x = torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(2, dim=2)], dim=2)
        b, c, t, h, w = x.shape
        x = (
            F.interpolate(
                x.transpose(1, 2).reshape(b * t, c, h, w), scale_factor=2.0, mode="nearest"
            )
            .reshape(b, t, c, 2 * h, 2 * w)
            .transpose(1, 2)
        )
        return self.conv(x) + x if self.shortcut else self.conv(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.stem = CausalConv3d(cfg.in_channels, cfg.channels[0])
        layers: list[nn.Module] = []
        cin = cfg.channels[0]
        for level, (cout, time) in enumerate(zip(cfg.channels, cfg.temporal_levels(), strict=True)):
            for _ in range(cfg.blocks_per_level):
                layers.append(ResBlock(cin, cout, cfg.groups))
                cin = cout
            if cfg.attention and 0 < level:
                layers.append(
                    TemporalAttention(cout, cfg.attention_heads, cfg.attention_stride, cfg.groups)
                )
            layers.append(Downsample(cout, time, cfg.shortcuts))
        self.layers = nn.Sequential(*layers)
        self.mid = ResBlock(cin, cin, cfg.groups)
        self.norm = frame_norm(cfg.groups, cin)
        self.head = CausalConv3d(cin, 2 * cfg.latent_channels)
        with torch.no_grad():  # start almost deterministic: log-variance -6 (std 0.05)
            self.head.conv.bias[cfg.latent_channels :].fill_(-6.0)
        # DC-AE's head shortcut: the mean gets the top features averaged in channel groups
        self.shortcut_groups = (
            cin // cfg.latent_channels if cfg.shortcuts and cin % cfg.latent_channels == 0 else 0
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.layers(self.stem(x)))
        out = self.head(F.silu(_framewise(self.norm, h)))  # (B, 2 * latent, T', H', W')
        if self.shortcut_groups:
            b, c, t, hh, ww = h.shape
            averaged = h.reshape(b, c // self.shortcut_groups, self.shortcut_groups, t, hh, ww)
            mean, logvar = out.chunk(2, dim=1)
            out = torch.cat([mean + averaged.mean(dim=2), logvar], dim=1)
        return out


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        top = cfg.channels[-1]
        self.stem = CausalConv3d(cfg.latent_channels, top)
        self.mid = ResBlock(top, top, cfg.groups)
        layers: list[nn.Module] = []
        cin = top
        levels = list(zip(cfg.channels, cfg.temporal_levels(), strict=True))
        for level in reversed(range(cfg.levels)):
            cout, time = levels[level]
            layers.append(Upsample(cin, time, cfg.shortcuts))
            for _ in range(cfg.blocks_per_level):
                layers.append(ResBlock(cin, cout, cfg.groups))
                cin = cout
            if cfg.attention and 0 < level:
                layers.append(
                    TemporalAttention(cout, cfg.attention_heads, cfg.attention_stride, cfg.groups)
                )
        self.layers = nn.Sequential(*layers)
        self.norm = frame_norm(cfg.groups, cin)
        self.head = CausalConv3d(cin, cfg.in_channels)
        # DC-AE's stem shortcut: each latent channel repeated into a group of features
        self.shortcut_repeats = (
            top // cfg.latent_channels if cfg.shortcuts and top % cfg.latent_channels == 0 else 0
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z)
        if self.shortcut_repeats:
            h = h + z.repeat_interleave(self.shortcut_repeats, dim=1)
        h = self.layers(self.mid(h))
        return self.head(F.silu(_framewise(self.norm, h)))


@dataclass
class VAEOutput:
    reconstruction: torch.Tensor
    mean: torch.Tensor
    logvar: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


class VideoVAE(nn.Module):
    """Encode (B, C, T, H, W) videos in [-1, 1] to latents and back."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def check_length(self, frames: int) -> None:
        if (frames - 1) % self.cfg.temporal_factor:
            raise ValueError(
                f"{frames} frames: the VAE takes 1 + k * {self.cfg.temporal_factor} frames"
            )

    def encode(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of the latent distribution, each (B, latent, 1 + k, H/s, W/s)."""
        self.check_length(video.shape[2])
        factor = self.cfg.spatial_factor
        if video.shape[3] % factor or video.shape[4] % factor:
            raise ValueError(f"height and width must be multiples of {factor}")
        mean, logvar = self.encoder(video).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    def decode_tiled(self, latent: torch.Tensor, tile: int = 16, overlap: int = 4) -> torch.Tensor:
        """Decode in overlapping spatial tiles blended linearly: bounded memory for large videos."""
        _, _, t, h, w = latent.shape
        if h <= tile and w <= tile:
            return self.decode(latent)
        s = self.cfg.spatial_factor
        out = torch.zeros(
            latent.shape[0],
            self.cfg.in_channels,
            1 + (t - 1) * self.cfg.temporal_factor,
            h * s,
            w * s,
            dtype=latent.dtype,
            device=latent.device,
        )
        weight = torch.zeros_like(out[:, :1])
        step = tile - overlap
        for top in range(0, max(h - overlap, 1), step):
            for left in range(0, max(w - overlap, 1), step):
                piece = latent[..., top : top + tile, left : left + tile]
                decoded = self.decode(piece)
                ramp = _blend_ramp(
                    piece.shape[3],
                    piece.shape[4],
                    overlap,
                    s,
                    top > 0,
                    left > 0,
                    top + tile < h,
                    left + tile < w,
                ).to(decoded)
                out[
                    ...,
                    top * s : top * s + decoded.shape[3],
                    left * s : left * s + decoded.shape[4],
                ] += decoded * ramp
                weight[
                    ...,
                    top * s : top * s + decoded.shape[3],
                    left * s : left * s + decoded.shape[4],
                ] += ramp
        return out / weight.clamp_min(1e-6)

    def latent_shape(self, video_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(C, T, h, w) of one video's latent."""
        _, _, t, h, w = video_shape
        c = self.cfg
        return (
            c.latent_channels,
            1 + (t - 1) // c.temporal_factor,
            h // c.spatial_factor,
            w // c.spatial_factor,
        )

    def forward(
        self,
        video: torch.Tensor,
        kl_weight: float = 1e-6,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        foreground_weight: float = 0.0,
        temporal_weight: float = 0.0,
    ) -> VAEOutput:
        """Reconstruct through a sampled latent; `noise` (the posterior sample's) may be
        given, e.g. drawn per sample so the draw does not depend on the batch.
        `foreground_weight`, `temporal_weight`: see `reconstruction_loss`."""
        mean, logvar = self.encode(video)
        if noise is None:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        noise = noise.to(mean.device, mean.dtype)
        latent = mean + torch.exp(0.5 * logvar) * noise
        reconstruction = self.decode(latent)
        recon = reconstruction_loss(reconstruction, video, foreground_weight, temporal_weight)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        losses = {"reconstruction": recon, "kl": kl, "loss": recon + kl_weight * kl}
        return VAEOutput(reconstruction, mean, logvar, losses)

    def compression_ratio(self) -> float:
        """Input numbers per latent number (for long videos)."""
        c = self.cfg
        return c.in_channels * c.spatial_factor**2 * c.temporal_factor / c.latent_channels


def _blend_ramp(
    h: int, w: int, overlap: int, scale: int, top: bool, left: bool, bottom: bool, right: bool
) -> torch.Tensor:
    """A (1, 1, 1, H, W) weight rising linearly across overlaps shared with a neighbour."""

    def axis(n: int, start: bool, end: bool) -> torch.Tensor:
        ramp = torch.ones(n * scale)
        width = overlap * scale
        edge = torch.linspace(0.0, 1.0, width + 2)[1:-1]
        if start:
            ramp[:width] = edge
        if end:
            ramp[-width:] = edge.flip(0)
        return ramp

    return (axis(h, top, bottom)[:, None] * axis(w, left, right)[None, :])[None, None, None]
