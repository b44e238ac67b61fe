"""Shared fixtures: a small valid config, tiny videos made on the fly, a Prefect harness."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from aiprod.config import AiprodConfig, parse_config
from aiprod.shards.writer import Sample
from aiprod.synth.render import render_scene
from aiprod.synth.world import ObjectSpec, SceneSpec
from aiprod.video.ffmpeg import write_h264

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@pytest.fixture
def params() -> dict:
    """The project's params.yaml as a mutable dict."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


def small_params(base: dict, root: Path) -> dict:
    """A small corpus under `root`: a few videos, every level, two multi-scene, broken files."""
    data = copy.deepcopy(base)
    data["synth"].update(
        out_dir=str(root / "raw"),
        videos=4,
        multi_scene_videos=2,
        size=64,
        level_weights=[1, 1, 1, 1],
    )
    data["ingest"].update(
        sources=[str(root / "raw")],
        clips_dir=str(root / "clips"),
        manifest=str(root / "manifest" / "ingest.parquet"),
        quarantine=str(root / "manifest" / "quarantine.parquet"),
        concurrency=2,
    )
    data["ingest"]["target"].update(width=64, height=64)
    data["score"].update(
        output=str(root / "manifest" / "scores.parquet"),
        flow_dir=str(root / "flow"),
        metrics=str(root / "reports" / "score_metrics.json"),
    )
    data["caption"]["output"] = str(root / "manifest" / "captions.parquet")
    data["curriculum"].update(
        output=str(root / "manifest" / "curriculum.parquet"),
        metrics=str(root / "reports" / "curriculum_metrics.json"),
        report=str(root / "reports" / "curation.html"),
    )
    data["shards"].update(dir=str(root / "shards"), max_count=4, holdout_share=0.5)
    data["engine"]["cache_dir"] = str(root / "task-cache")
    small_training(data, root)
    return data


def small_training(data: dict, root: Path) -> None:
    """Training, mining and evaluation settings that run in seconds (paths under `root`)."""
    data["train_vae"].update(
        out_dir=str(root / "models" / "vae"),
        metrics=str(root / "reports" / "vae_metrics.json"),
        steps=4,
        batch_size=2,
        windows=1,
        checkpoint_every=2,
    )
    data["encode"].update(dir=str(root / "latents"), batch_size=8, max_count=8)
    data["train"].update(
        out_dir=str(root / "models"), metrics=str(root / "reports" / "train"), checkpoint_every=2
    )
    for k in range(1, 6):
        data["train"][f"phase{k}"] = {**data["train"][f"phase{k}"], "steps": 3, "batch_size": 2}
    data["mine"].update(out_dir=str(root / "mining"), seeds=1)
    data["classifier"].update(
        out_dir=str(root / "models" / "classifier"),
        metrics=str(root / "reports" / "classifier_metrics.json"),
        rendered=16,
        steps=5,
        batch_size=4,
    )
    data["evaluate"].update(
        metrics=str(root / "reports" / "metrics.json"),
        plots_dir=str(root / "reports" / "plots"),
        gallery=str(root / "reports" / "gallery.html"),
        media_dir=str(root / "reports" / "gallery"),
        checkpoint=str(root / "models" / "phase5" / "model.pt"),
        steps=2,
        prompts_per_language=2,
        languages=["en", "ja"],
        flow_videos=2,
        gallery_languages=["en", "ja"],
        sweep_steps=[1, 2],
        sweep_prompts=2,
    )
    data["finetune"].update(
        base_path=str(root / "models" / "phase5" / "model.pt"),
        hard_examples=str(root / "mining"),
        latents_dir=str(root / "lora_latents"),
        out_dir=str(root / "models" / "lora"),
        metrics=str(root / "reports" / "finetune.json"),
        phases=[1, 2, 3, 4, 5],  # a tiny corpus may hold out all of phase 5
        train={**data["finetune"]["train"], "steps": 3, "batch_size": 2},
    )


@pytest.fixture
def small_config(params: dict, tmp_path: Path) -> AiprodConfig:
    return parse_config(small_params(params, tmp_path))


def clip_sample(
    path: Path,
    clip_id: str,
    captions: dict,
    flow: np.ndarray,
    source: str,
    size: tuple[int, int] = (64, 64),
    frames: int = 24,
    seed: int = 0,
    **meta: object,
) -> Sample:
    """A pixel-shard sample as the shards stage writes one: a test clip rendered to `path`,
    its sidecar (id, captions, frame count, source hash: the held-out split's key) and flow."""
    clip = make_video(path, frames=frames, size=size, seed=seed)
    sidecar = {
        "clip_id": clip_id,
        "captions": captions,
        "clip": {"frames": frames},
        "lineage": {"source_sha256": source},
        **meta,
    }
    return Sample(clip_id, clip.read_bytes(), sidecar, flow)


def make_video(
    path: Path, frames: int = 24, size: tuple[int, int] = (64, 48), fps: float = 12, seed: int = 0
) -> Path:
    """A moving-gradient test video with a bright square in the top-left corner."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=3)
    images = []
    for k in range(frames):
        x = np.linspace(0, 255, width)[None, :] + 4 * k
        image = np.zeros((height, width, 3), np.uint8)
        image[...] = ((x % 256)[..., None] * 0.5 + base * 0.5).astype(np.uint8)
        image[: height // 4, : width // 4] = 255
        images.append(image)
    write_h264(path, images, fps)
    return path


class DvcProject:
    """A copy of the project's DAG and code in a fresh git + DVC repository (a first commit
    made, analytics off), whose commands run against the test's Prefect server."""

    def __init__(self, root: Path, prefect_url: str, params: dict) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dvc.yaml", root)
        for name in ("flows", "src"):  # the library parts are DVC deps too
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        self.write_params(params)
        self.env = {
            **os.environ,
            "PREFECT_API_URL": prefect_url,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PYTHONPATH": str(root),
        }
        self.sh("git", "init", "-q")
        self.commit("0", "--allow-empty")
        self.sh("dvc", "init", "-q")
        self.sh("dvc", "config", "core.analytics", "false")

    def write_params(self, params: dict) -> None:
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def sh(self, *args: str) -> subprocess.CompletedProcess:
        """Run a command in the project; a failure shows the ends of its output."""
        done = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"{args} failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
        return done

    def commit(self, message: str, *extra: str) -> None:
        self.sh(
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            *extra,
            "-m",
            message,
        )


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server for every flow test in the session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL for the service's tests (see serve_support.Postgres)."""
    from serve_support import Postgres

    server = Postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres) -> str:
    """This session's own database, migrated to head."""
    return postgres.create_database()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random text-to-video checkpoint (and its VAE beside it)."""
    from tiny_models import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny_t2v"))[0]


def moving_video(direction, size=32, frames=9, colour="red", seed=3):
    """A large square of one colour crossing a grey frame: (3, T, H, W) in [-1, 1], truth."""
    obj = ObjectSpec("square", colour, "large", "fast", direction)
    scene = SceneSpec((obj,), "plain", "grey", "static", "steady", False, seed)
    images, truth = render_scene(scene, frames, size)
    rgb = np.stack(images)[..., ::-1].copy()
    video = torch.from_numpy(rgb).permute(3, 0, 1, 2).float() / 127.5 - 1
    return video, truth
