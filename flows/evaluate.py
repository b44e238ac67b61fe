"""Stage `evaluate`: FVD, flow agreement, prompt adherence per language, VAE, gallery."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from aiprod.config import AiprodConfig
from aiprod.evaluate.stage import evaluate_stage
from aiprod.fsutil import write_json
from aiprod.runtime import resolve
from flows._common import run_stage


def summary_markdown(metrics: dict) -> str:
    fvd = metrics["fvd"]
    lines = ["# Evaluation", ""]
    if "skipped" in fvd:
        lines += [f"FVD skipped: {fvd['skipped']}", ""]
    else:
        lines += [f"FVD ({fvd['extractor']}): {fvd['fvd']}", ""]
    if "skipped" in metrics["adherence"]:
        lines += [f"Prompt adherence skipped: {metrics['adherence']['skipped']}"]
    else:
        lines += ["| language | colour | shape | direction |", "| --- | --- | --- | --- |"]
        for language, row in metrics["adherence"].items():
            lines.append(f"| {language} | {row['colour']} | {row['shape']} | {row['direction']} |")
    lines += ["", "| guidance | flow agreement (all) | (moving) |", "| --- | --- | --- |"]
    for strength, row in metrics["flow_agreement"].items():
        lines.append(f"| {strength} | {row['all_pixels']} | {row['moving_pixels']} |")
    return "\n".join(lines)


@flow(name="evaluate")
def evaluate_flow(config: AiprodConfig) -> dict:
    metrics = evaluate_stage(config, resolve(config.runtime))
    write_json(config.evaluate.metrics, metrics)
    get_run_logger().info("evaluate: %s", metrics)
    create_markdown_artifact(key="evaluation", markdown=summary_markdown(metrics))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return run_stage("evaluate", evaluate_flow, argv)


if __name__ == "__main__":
    raise SystemExit(main())
