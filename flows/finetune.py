"""Stage `finetune`: LoRA adapters on the base model (`finetune.base`) trained through
`finetune.phases` on the precomputed latents (also `aiprod finetune`)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.finetune.checks import check_finetune
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from flows._common import run_stage
from flows._live import live_metrics, metrics_markdown


@flow(name="finetune")
def finetune_flow(config: AiprodConfig) -> dict:
    runtime = resolve(config.runtime)
    live = live_metrics(config.finetune.out_dir)  # <out_dir>/dvclive: `dvc plots show`
    if config.finetune.base == "aiprod":
        from aiprod.train.lora import finetune_stage

        metrics = finetune_stage(config, runtime, live)
    else:
        from aiprod.finetune.stage import finetune_diffusers

        metrics = finetune_diffusers(config, runtime, live)
    if runtime.ranks.main:
        write_json(config.finetune.metrics, metrics)
    get_run_logger().info("finetune: %s", metrics)
    summary = {k: v for k, v in metrics.items() if k != "validation"}
    create_markdown_artifact(key="lora-finetune", markdown=metrics_markdown("LoRA", summary))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("finetune", finetune_flow, argv, check=check_finetune)


if __name__ == "__main__":
    raise SystemExit(main())
