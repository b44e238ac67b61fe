"""`aiprod finetune`: LoRA adapters on a pretrained checkpoint (not part of `dvc repro`)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from aiprod.train.lora import finetune_stage
from flows._common import run_stage
from flows._live import metrics_markdown


@flow(name="finetune")
def finetune_flow(config: AiprodConfig) -> dict:
    runtime = resolve(config.runtime)
    metrics = finetune_stage(config, runtime)
    if runtime.ranks.main:
        write_json(f"{config.finetune.out_dir}/metrics.json", metrics)
    get_run_logger().info("finetune: %s", metrics)
    create_markdown_artifact(key="lora-finetune", markdown=metrics_markdown("LoRA", metrics))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("finetune", finetune_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
