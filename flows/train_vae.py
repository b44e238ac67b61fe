"""Stage `train_vae`: pre-train the video VAE on the phase shards (DVCLive metrics)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.train.vae_stage import train_vae_stage
from flows._common import run_stage
from flows._live import live_metrics, metrics_markdown


@flow(name="train_vae")
def train_vae_flow(config: AiprodConfig) -> dict:
    cfg = config.train_vae
    with live_metrics(cfg.out_dir) as log_metric:
        metrics = train_vae_stage(cfg, config.model, config.shards, log_metric)
    write_json(cfg.metrics, metrics)
    get_run_logger().info("train_vae: %s", metrics)
    create_markdown_artifact(key="vae-metrics", markdown=metrics_markdown("VAE", metrics))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("train_vae", train_vae_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
