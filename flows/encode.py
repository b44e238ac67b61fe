"""Stage `encode`: every phase's windows through the trained VAE, once, into latent shards
(with the frozen text encoder's embeddings of every caption variant)."""

from __future__ import annotations

import threading

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from aiprod.config import AiprodConfig
from aiprod.latents.stage import Encoder, encode_one, encode_stage, load_encoder
from aiprod.runtime import resolve
from aiprod.train.phase_stage import PHASES
from flows._common import run_stage
from flows._engine import task_runner


def summary_markdown(metas: dict[int, dict]) -> str:
    rows = "".join(
        f"| {k} | {m['train_windows']} | {m['heldout_windows']} | {m['latent_shape']} |\n"
        for k, m in metas.items()
    )
    header = "| phase | training windows | held-out windows | latent |\n| --- | --- | --- | --- |\n"
    return f"# Latents\n\n{header}{rows}"


_LOADING = threading.Lock()
_ENCODERS: dict[str, Encoder] = {}  # per worker process: the VAE loads once for its phases


def _worker_encoder(config: AiprodConfig) -> Encoder:
    with _LOADING:
        key = config.model_dump_json(include={"train_vae", "model", "runtime"})
        if key not in _ENCODERS:
            _ENCODERS[key] = load_encoder(config, resolve(config.runtime))
        return _ENCODERS[key]


@task(cache_policy=NO_CACHE, task_run_name="encode phase {phase}")
def encode_phase_task(config: AiprodConfig, phase: int) -> dict:
    """One phase on a Dask worker, on the device `runtime` picks there."""
    return encode_one(config, phase, _worker_encoder(config))


@flow(name="encode")
def encode_flow(config: AiprodConfig) -> dict:
    """Locally, the five phases in this process with one VAE; with `engine.runner: dask`, one
    task per phase, so several workers (GPUs) encode at once."""
    if config.engine.runner == "local":
        metas = encode_stage(config, resolve(config.runtime))
    else:
        futures = {k: encode_phase_task.submit(config, k) for k in PHASES}
        metas = {k: future.result() for k, future in futures.items()}
    get_run_logger().info("encode: %s", metas)
    create_markdown_artifact(key="latents", markdown=summary_markdown(metas))
    return {str(k): m for k, m in metas.items()}


def run(config: AiprodConfig) -> dict:
    return encode_flow.with_options(task_runner=task_runner(config.engine, 1))(config)


def main(argv: list[str] | None = None) -> int:
    return run_stage("encode", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
