"""Plan and write the shapes-world corpus: mp4 videos, JSON sidecars, and deliberately broken files.

Every video is a pure function of (seed, index), so videos can be written in any order, in
parallel, and a re-run skips the ones already on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aiprod.config import SynthConfig
from aiprod.fsutil import atomic_write, write_json
from aiprod.synth.captions import captions
from aiprod.synth.render import render_scene
from aiprod.synth.world import LEVELS, SceneSpec, difficulty_level, sample_scene
from aiprod.video.ffmpeg import H264Writer, write_h264

log = logging.getLogger(__name__)

GENERATOR = "aiprod.synth/1"  # bump when rendering changes, so stale videos are re-rendered
BROKEN_FILES = (
    "broken_truncated.mp4",
    "broken_empty.mp4",
    "broken_not_video.mp4",
    "broken_audio_only.mp4",
)


@dataclass(frozen=True)
class VideoPlan:
    """One video to render: its name and the scenes it joins with hard cuts."""

    name: str
    scenes: tuple[SceneSpec, ...]
    frames: tuple[int, ...]


def plan_corpus(cfg: SynthConfig) -> list[VideoPlan]:
    """All videos of the corpus; levels cycle through 1-4 in the shares of `level_weights`."""
    cycle = [
        level
        for level, weight in zip(LEVELS, cfg.level_weights, strict=True)
        for _ in range(weight)
    ]
    plans = []
    total = cfg.videos + cfg.multi_scene_videos
    for index in range(total):
        rng = np.random.default_rng([cfg.seed, index])
        count = 1 if index < cfg.videos else cfg.scenes_per_multi
        scenes: list[SceneSpec] = []
        while len(scenes) < count:
            level = cycle[(index + len(scenes)) % len(cycle)]
            scene = sample_scene(rng, level, seed=int(rng.integers(1 << 31)))
            if scenes and scene.background_colour == scenes[-1].background_colour:
                continue  # a cut must change the picture, not only the shapes
            scenes.append(scene)
        frames = tuple(
            int(round(rng.uniform(cfg.scene_seconds.min, cfg.scene_seconds.max) * cfg.fps))
            for _ in scenes
        )
        kind = "single" if count == 1 else "multi"
        plans.append(VideoPlan(f"shapes_{kind}_{index:05d}", tuple(scenes), frames))
    return plans


def _fingerprint(cfg: SynthConfig, plan: VideoPlan) -> str:
    """What the video's bytes depend on; a sidecar with another fingerprint is re-rendered."""
    key = json.dumps(
        [
            GENERATOR,
            cfg.size,
            cfg.fps,
            cfg.crf,
            plan.frames,
            [scene.to_dict() for scene in plan.scenes],
        ],
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _segment(scene: SceneSpec, truth: object, start: int, frames: int) -> dict:
    return {
        "start_frame": start,
        "end_frame": start + frames,
        "difficulty": difficulty_level(scene),
        "captions": captions(scene),
        "scene": scene.to_dict(),
        "truth": {
            "positions": np.round(truth.positions, 2).tolist(),
            "velocities": np.round(truth.velocities, 3).tolist(),
            "camera": np.round(truth.camera, 4).tolist(),
            "gains": np.round(truth.gains, 4).tolist(),
        },
    }


def render_video(cfg: SynthConfig, plan: VideoPlan, out_dir: Path) -> Path:
    """Render one planned video and its sidecar; skip it if an identical one exists."""
    video = out_dir / f"{plan.name}.mp4"
    sidecar = video.with_suffix(".json")
    fingerprint = _fingerprint(cfg, plan)
    if video.exists() and sidecar.exists():
        if json.loads(sidecar.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
            return video
    segments, cuts, start = [], [], 0
    with H264Writer(video, cfg.size, cfg.size, cfg.fps, crf=cfg.crf, preset="medium") as writer:
        for scene, frames in zip(plan.scenes, plan.frames, strict=True):
            images, truth = render_scene(scene, frames, cfg.size)
            writer.write_all(images)
            if start:
                cuts.append(start)
            segments.append(_segment(scene, truth, start, frames))
            start += frames
    write_json(
        sidecar,
        {
            "source": "shapes-world",
            "generator": GENERATOR,
            "fingerprint": fingerprint,
            "fps": cfg.fps,
            "width": cfg.size,
            "height": cfg.size,
            "frames": start,
            "cuts": cuts,
            "segments": segments,
        },
    )
    return video


def write_broken_files(cfg: SynthConfig, out_dir: Path) -> list[Path]:
    """Files that must be quarantined by ingest, one per failure kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truncated, empty, not_video, audio_only = (out_dir / name for name in BROKEN_FILES)
    rng = np.random.default_rng([cfg.seed, 1 << 20])
    images, _ = render_scene(sample_scene(rng, 1, seed=cfg.seed), 4 * cfg.fps, cfg.size)
    whole = out_dir / ".whole.mp4"
    write_h264(whole, images, cfg.fps, crf=cfg.crf)
    data = whole.read_bytes()
    whole.unlink()
    atomic_write(truncated, lambda tmp: tmp.write_bytes(data[: len(data) * 2 // 5]))
    atomic_write(empty, lambda tmp: tmp.write_bytes(b""))
    atomic_write(not_video, lambda tmp: tmp.write_text("this is a text file, not a video\n"))
    atomic_write(audio_only, _write_tone)
    return [truncated, empty, not_video, audio_only]


def _write_tone(path: Path, seconds: float = 1.0, rate: int = 16_000) -> None:
    """An mp4 holding only an AAC sine tone: a container with no video stream."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
        chunk = 1024
        for offset in range(0, len(samples), chunk):
            block = samples[offset : offset + chunk].astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = offset
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def prune(out_dir: Path, keep: set[str]) -> list[Path]:
    """Remove files a previous configuration left that the current plan does not make."""
    removed = []
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and path.name not in keep:
            path.unlink()
            removed.append(path)
    return removed


def expected_files(plans: list[VideoPlan], broken: bool) -> set[str]:
    """Names the corpus folder should hold once complete."""
    names = {f"{plan.name}{ext}" for plan in plans for ext in (".mp4", ".json")}
    return names | (set(BROKEN_FILES) if broken else set())
