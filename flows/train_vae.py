"""Stage `train_vae`: pre-train the video VAE on the phase shards (DVCLive metrics).

`torchrun --nproc_per_node N -m flows.train_vae` runs the same stage on N ranks.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from aiprod.train.vae_stage import train_vae_stage
from flows._common import run_stage
from flows._live import live_metrics, metrics_markdown


@flow(name="train_vae")
def train_vae_flow(config: AiprodConfig) -> dict:
    runtime = resolve(config.runtime)
    metrics = train_vae_stage(config, runtime, live_metrics(config.train_vae.out_dir))
    if runtime.ranks.main:
        write_json(config.train_vae.metrics, metrics)
        create_markdown_artifact(key="vae-metrics", markdown=metrics_markdown("VAE", metrics))
    get_run_logger().info("train_vae (rank %d): %s", runtime.ranks.rank, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("train_vae", train_vae_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
