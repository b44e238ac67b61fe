"""Stages `encode@1` .. `encode@5`: phase K's windows through the trained VAE, once, into
latent shards (with the frozen text encoder's embeddings of every caption variant)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.latents.stage import encode_stage
from aiprod.runtime import resolve
from flows._common import phase_stage_main
from flows._live import metrics_markdown


@flow(name="encode", flow_run_name="encode-phase{phase}")
def encode_flow(config: AiprodConfig, phase: int) -> dict:
    runtime = resolve(config.runtime)
    meta = encode_stage(config, phase, runtime)
    get_run_logger().info("encode phase %d: %s", phase, meta)
    create_markdown_artifact(
        key=f"encode-phase{phase}", markdown=metrics_markdown(f"Latents, phase {phase}", meta)
    )
    return meta


def main(argv: list[str] | None = None) -> int:
    return phase_stage_main("encode", encode_flow, argv, phases=range(1, 6))


if __name__ == "__main__":
    raise SystemExit(main())
