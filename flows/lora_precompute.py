"""Stage `lora_precompute`: the phases the short path trains on, through the base model's own
VAE and text encoder, into bucketed latent shards."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.finetune.checks import check_finetune
from aiprod.finetune.precompute import precompute_stage
from aiprod.runtime import resolve
from flows._common import run_stage


def summary_markdown(meta: dict) -> str:
    rows = "".join(
        f"| {phase} | {bucket} | {count} |\n"
        for phase, buckets in meta["windows"].items()
        for bucket, count in buckets.items()
    )
    header = "| phase | bucket (W x H x frames) | windows |\n| --- | --- | --- |\n"
    return f"# Short-path latents ({meta['base']})\n\n{header}{rows}"


@flow(name="lora_precompute")
def lora_precompute_flow(config: AiprodConfig) -> dict:
    meta = precompute_stage(config, resolve(config.runtime))
    get_run_logger().info("lora_precompute: %s", meta["windows"])
    create_markdown_artifact(key="lora-latents", markdown=summary_markdown(meta))
    return meta


def main(argv: list[str] | None = None) -> int:
    return run_stage("lora_precompute", lora_precompute_flow, argv, check=check_finetune)


if __name__ == "__main__":
    raise SystemExit(main())
