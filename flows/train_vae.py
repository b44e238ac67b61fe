"""Stage `train_vae`: pre-train the video VAE on the phase shards (DVCLive metrics)."""

from __future__ import annotations

from pathlib import Path

from dvclive import Live
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.train.vae_stage import train_vae_stage
from flows._common import run_stage


@flow(name="train_vae")
def train_vae_flow(config: AiprodConfig) -> dict:
    logger = get_run_logger()
    cfg = config.train_vae
    live_dir = Path(cfg.out_dir) / "dvclive"
    with Live(dir=str(live_dir), resume=True, dvcyaml=False, save_dvc_exp=False) as live:

        def log_metric(name: str, value: float, step: int) -> None:
            live.step = step
            live.log_metric(f"train/{name}", value)

        metrics = train_vae_stage(cfg, config.model, config.shards, log_metric)
    write_json(cfg.metrics, metrics)
    logger.info("train_vae: %s", metrics)
    create_markdown_artifact(
        key="vae-metrics",
        markdown="# VAE\n\n| metric | value |\n| --- | --- |\n"
        + "".join(f"| {k} | {v} |\n" for k, v in metrics.items()),
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("train_vae", train_vae_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
