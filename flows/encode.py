"""Stage `encode`: every phase's windows through the trained VAE, once, into latent shards
(with the frozen text encoder's embeddings of every caption variant)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.latents.stage import encode_stage
from aiprod.runtime import resolve
from flows._common import run_stage


def summary_markdown(metas: dict[int, dict]) -> str:
    rows = "".join(
        f"| {k} | {m['train_windows']} | {m['heldout_windows']} | {m['latent_shape']} |\n"
        for k, m in metas.items()
    )
    header = "| phase | training windows | held-out windows | latent |\n| --- | --- | --- | --- |\n"
    return f"# Latents\n\n{header}{rows}"


@flow(name="encode")
def encode_flow(config: AiprodConfig) -> dict:
    metas = encode_stage(config, resolve(config.runtime))
    get_run_logger().info("encode: %s", metas)
    create_markdown_artifact(key="latents", markdown=summary_markdown(metas))
    return {str(k): m for k, m in metas.items()}


def main(argv: list[str] | None = None) -> int:
    return run_stage("encode", encode_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
