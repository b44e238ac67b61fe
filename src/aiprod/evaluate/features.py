"""Pluggable video feature extractors for FVD: the shapes classifier or a local I3D.

Both map (B, 3, T, H, W) videos in [-1, 1] to (B, D) features; `name` goes into the metric
so a number is never read against the wrong network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from aiprod.evaluate.classifier import load_classifier

CPU = torch.device("cpu")


@dataclass
class Extractor:
    name: str
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device = CPU

    @torch.no_grad()
    def __call__(self, videos: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """(B, D) features on the CPU; the network runs on its device."""
        return torch.cat(
            [
                self.embed(videos[i : i + batch_size].to(self.device)).float().cpu()
                for i in range(0, len(videos), batch_size)
            ]
        )


def shapes_extractor(classifier_path: str | Path, device: torch.device) -> Extractor:
    model = load_classifier(classifier_path).to(device)
    return Extractor("shapes-classifier", model.embed, device)


def i3d_extractor(path: str | Path, size: int = 224, device: torch.device = CPU) -> Extractor:
    """A TorchScript I3D (e.g. the Kinetics-400 detector used for FVD) from a local file.

    Frames are resized to `size`; the module is called as `module(videos)` and must return
    (B, D) features (wrap a detector with keyword options in a TorchScript shim to match).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: evaluate.i3d_path names no file (a TorchScript I3D)")
    module = torch.jit.load(str(path), map_location=device).eval()

    def embed(videos: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = videos.shape
        frames = videos.transpose(1, 2).reshape(b * t, c, h, w)
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
        return module(frames.view(b, t, c, size, size).transpose(1, 2)).flatten(1)

    return Extractor(f"i3d:{path.name}", embed, device)


def make_extractor(
    kind: str,
    classifier_path: str | Path,
    i3d_path: str,
    device: torch.device = CPU,
) -> Extractor:
    if kind == "i3d":
        return i3d_extractor(i3d_path, device=device)
    return shapes_extractor(classifier_path, device)
