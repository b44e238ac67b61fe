"""A video classifier of the shapes world, trained on its ground truth inside the pipeline.

Training clips are freshly rendered scenes (unlimited, exactly labelled, every colour and
shape on every background) plus the ingested training clips; accuracy is measured on the
held-out ingested clips, so it says how well the reader transfers to real pipeline video.

It reads back what a generated video shows (object colours and shapes) for prompt adherence,
and its pooled features stand in for I3D's in the demo's FVD: a network that knows this
world's shapes and colours separates real from generated clips where a Kinetics network
(which the offline machines cannot download) would not be available.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from aiprod.config import ClassifierConfig, ShardConfig
from aiprod.curation.truth import clip_segment
from aiprod.evaluate.prompts import eval_scenes
from aiprod.fsutil import save_torch
from aiprod.runtime import Runtime
from aiprod.synth.render import render_scene
from aiprod.synth.world import COLOURS, SHAPES, SceneSpec, sample_scene
from aiprod.train.checkpoint import load_payload
from aiprod.train.data import WindowSpec, is_holdout, windows_of
from aiprod.video.decode import read_clip

COLOUR_NAMES = tuple(COLOURS)
MODEL_FILE = "model.pt"


class ShapesClassifier(nn.Module):
    """Per-frame 2D convolutions -> 3D convolutions -> max-pooled features -> multi-label
    colour and shape heads.

    Shapes are spatial and small (a large object is 13 px across at 32 px), so the first
    three layers look at each frame alone (two at full resolution), and the features are
    max-pooled:
    the strongest response is where the object is, where a mean dilutes it with the
    background. A mean-pooled 3D network trained as long read the rendered evaluation scenes'
    shapes at chance (0.16, six shapes); this one at 0.875 (600 steps).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width

        def stage(cin: int, cout: int, kernel: tuple, stride: tuple) -> nn.Sequential:
            padding = tuple(k // 2 for k in kernel)
            return nn.Sequential(
                nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding),
                nn.GroupNorm(8, cout),
                nn.SiLU(),
            )

        spatial, spacetime = (1, 3, 3), (3, 3, 3)
        self.features = nn.Sequential(
            stage(3, width, spatial, (1, 1, 1)),
            stage(width, width, spatial, (1, 1, 1)),
            stage(width, 2 * width, spatial, (1, 2, 2)),
            stage(2 * width, 4 * width, spacetime, (2, 2, 2)),
            stage(4 * width, 4 * width, spacetime, (2, 1, 1)),
        )
        self.colour = nn.Linear(4 * width, len(COLOUR_NAMES))
        self.shape = nn.Linear(4 * width, len(SHAPES))

    @property
    def feature_dim(self) -> int:
        return 4 * self.width

    def embed(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, D) max-pooled features."""
        return self.features(video).amax(dim=(2, 3, 4))

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.embed(video)
        return self.colour(features), self.shape(features)


@dataclass
class LabelledClips:
    videos: torch.Tensor  # (N, 3, T, H, W)
    colours: torch.Tensor  # (N, 8) multi-hot
    shapes: torch.Tensor  # (N, 6) multi-hot
    single: torch.Tensor  # (N,) bool: one object (its colour/shape is the answer)
    clip_ids: list[str]


def labels_of(segment: dict) -> tuple[np.ndarray, np.ndarray, bool]:
    colours, shapes = np.zeros(len(COLOUR_NAMES), np.float32), np.zeros(len(SHAPES), np.float32)
    for obj in segment["scene"]["objects"]:
        colours[COLOUR_NAMES.index(obj["colour"])] = 1
        shapes[SHAPES.index(obj["shape"])] = 1
    return colours, shapes, len(segment["scene"]["objects"]) == 1


def load_labelled(
    manifest: pd.DataFrame, cfg: ClassifierConfig, holdout_share: float, holdout: bool
) -> LabelledClips:
    """Ingested shapes-world clips (those with a sidecar segment) and their object labels."""
    videos, colours, shapes, single, ids = [], [], [], [], []
    spec = WindowSpec(cfg.frames, cfg.size, 2, cfg.frame_step, flow_stride=1)
    for row in manifest.itertuples(index=False):
        if is_holdout(row.source_sha256, holdout_share) != holdout:
            continue
        segment = clip_segment(row.path, row.start_frame, row.end_frame)
        if segment is None:
            continue
        frames = read_clip(row.path, (cfg.size, cfg.size))[..., ::-1].copy()  # BGR -> RGB
        no_flow = np.zeros((len(frames), 2, 1, 1), np.float32)
        c, s, one = labels_of(segment)
        for _, window, _ in windows_of(frames, no_flow, spec):
            video = torch.from_numpy(np.ascontiguousarray(window)).permute(3, 0, 1, 2)
            videos.append(video.float().div(127.5).sub(1.0))
            colours.append(c)
            shapes.append(s)
            single.append(one)
            ids.append(row.clip_id)
    if not videos:
        split = "held-out" if holdout else "training"
        raise ValueError(f"no shapes-world clips with ground truth in the {split} split")
    return LabelledClips(
        torch.stack(videos),
        torch.from_numpy(np.stack(colours)),
        torch.from_numpy(np.stack(shapes)),
        torch.tensor(single),
        ids,
    )


def rendered_video(scene: SceneSpec, frames: int, frame_step: int, size: int) -> torch.Tensor:
    """A scene as the pipeline's windows look: (3, frames, size, size) RGB in [-1, 1], drawn at
    2x and area-scaled, every `frame_step`-th frame."""
    images, _ = render_scene(scene, frames * frame_step, 2 * size)
    rgb = [
        cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1]
        for image in images[::frame_step]
    ]
    return torch.from_numpy(np.stack(rgb)).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def rendered_clips(cfg: ClassifierConfig) -> LabelledClips:
    """`cfg.rendered` shapes-world scenes (half single-object), rendered at 2x and area-scaled."""
    rng = np.random.default_rng(cfg.seed)
    # every colour and direction in turn, on other draws than the evaluation's own scenes
    singles = eval_scenes(cfg.rendered, cfg.seed * 1_000_003 + 1)
    videos, colours, shapes, single = [], [], [], []
    for k in range(cfg.rendered):
        if k % 2:
            scene = sample_scene(rng, int(rng.integers(1, 5)), cfg.seed * 1_000_003 + k)
        else:
            scene = singles[k // 2]
        videos.append(rendered_video(scene, cfg.frames, cfg.frame_step, cfg.size))
        c, s, one = labels_of({"scene": scene.to_dict()})
        colours.append(c)
        shapes.append(s)
        single.append(one)
    return LabelledClips(
        torch.stack(videos),
        torch.from_numpy(np.stack(colours)),
        torch.from_numpy(np.stack(shapes)),
        torch.tensor(single),
        [f"rendered-{k}" for k in range(cfg.rendered)],
    )


def joined(a: LabelledClips, b: LabelledClips) -> LabelledClips:
    return LabelledClips(
        torch.cat([a.videos, b.videos]),
        torch.cat([a.colours, b.colours]),
        torch.cat([a.shapes, b.shapes]),
        torch.cat([a.single, b.single]),
        a.clip_ids + b.clip_ids,
    )


def augment(video: torch.Tensor, generator: torch.Generator, frames: int) -> torch.Tensor:
    """A random run of `frames` frames, random flips and slight blur (generated clips are
    softer than the real ones).

    Colour and shape are in every frame and the network is convolutional and max-pooled, so
    it reads whole clips as it learnt from runs of them. On the demo 800 steps on runs of 5
    of the 9 frames (69 s) read shapes as well as 600 on whole clips (86 s)."""
    start = int(torch.randint(video.shape[2] - frames + 1, (1,), generator=generator))
    video = video[:, :, start : start + frames]
    if torch.rand(1, generator=generator) < 0.5:
        video = video.flip(-1)
    if torch.rand(1, generator=generator) < 0.5:
        b, c, t, h, w = video.shape
        flat = video.transpose(1, 2).reshape(b * t, c, h, w)
        flat = F.interpolate(F.avg_pool2d(flat, 2), size=(h, w), mode="bilinear")
        video = flat.view(b, t, c, h, w).transpose(1, 2)
    return video


def train_classifier(
    data: LabelledClips, cfg: ClassifierConfig, runtime: Runtime
) -> ShapesClassifier:
    """A few hundred steps on the runtime's device (the clips stay on the CPU: batches move)."""
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = runtime.to(ShapesClassifier(cfg.width))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=cfg.steps)
    scaler = runtime.grad_scaler()
    model.train()
    for _ in range(cfg.steps):
        rows = torch.randint(len(data.videos), (cfg.batch_size,), generator=generator)
        videos = runtime.to(augment(data.videos[rows], generator, cfg.train_frames))
        colours, shapes = runtime.to((data.colours[rows], data.shapes[rows]))
        with runtime.autocast():
            colour, shape = model(videos)
        loss = F.binary_cross_entropy_with_logits(
            colour.float(), colours
        ) + F.binary_cross_entropy_with_logits(shape.float(), shapes)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: ShapesClassifier, data: LabelledClips) -> dict:
    """Top-1 in the true set, over all clips and over single-object clips."""
    colour, shape = predict(model, data.videos)
    colour_hit = data.colours.gather(1, colour.argmax(1, keepdim=True))[:, 0].bool()
    shape_hit = data.shapes.gather(1, shape.argmax(1, keepdim=True))[:, 0].bool()
    single = data.single
    out = {
        "colour_top1": round(float(colour_hit.float().mean()), 4),
        "shape_top1": round(float(shape_hit.float().mean()), 4),
        "clips": len(data.videos),
    }
    if single.any():
        out["colour_top1_single"] = round(float(colour_hit[single].float().mean()), 4)
        out["shape_top1_single"] = round(float(shape_hit[single].float().mean()), 4)
    return out


@torch.no_grad()
def predict(
    model: ShapesClassifier, videos: torch.Tensor, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """(colour logits, shape logits) on the CPU; batches go to the model's device."""
    device = next(model.parameters()).device
    parts = [
        model(videos[i : i + batch_size].to(device)) for i in range(0, len(videos), batch_size)
    ]
    return (
        torch.cat([p[0].float().cpu() for p in parts]),
        torch.cat([p[1].float().cpu() for p in parts]),
    )


def save_classifier(path: Path, model: ShapesClassifier, cfg: ClassifierConfig) -> Path:
    weights = {k: v.cpu() for k, v in model.state_dict().items()}
    payload = {"width": model.width, "state_dict": weights, "config": cfg.model_dump()}
    return save_torch(path, payload)


def load_classifier(path: str | Path) -> ShapesClassifier:
    payload = load_payload(path, "no shapes classifier here (run `dvc repro classifier`)")
    model = ShapesClassifier(payload["width"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def classifier_stage(
    cfg: ClassifierConfig, shards: ShardConfig, manifest_path: str, runtime: Runtime
) -> dict:
    """Train on the training split's clips, report held-out accuracy, save the model."""
    manifest = pd.read_parquet(manifest_path)
    real = load_labelled(manifest, cfg, shards.holdout_share, holdout=False)
    rendered = rendered_clips(cfg)
    model = train_classifier(joined(rendered, real), cfg, runtime)
    save_classifier(Path(cfg.out_dir) / MODEL_FILE, model, cfg)
    try:
        held = accuracy(model, load_labelled(manifest, cfg, shards.holdout_share, holdout=True))
    except ValueError:  # a small corpus may hold out no shapes-world source at all
        held = {"clips": 0}
    return {
        "rendered_train": accuracy(model, rendered),
        "real_train": accuracy(model, real),
        "held_out": held,
    }
