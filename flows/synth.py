"""Stage `synth`: render the shapes-world demo corpus (videos + ground-truth sidecars)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from tqdm import tqdm

from aiprod.config import SynthConfig
from aiprod.synth.corpus import (
    VideoPlan,
    expected_files,
    plan_corpus,
    prune,
    render_video,
    write_broken_files,
)
from flows._common import as_completed_results, run_stage


@task(cache_policy=NO_CACHE)
def render(cfg: SynthConfig, plan: VideoPlan) -> str:
    """Render one video; a no-op when an identical one is already on disk."""
    return render_video(cfg, plan, Path(cfg.out_dir)).name


@flow(name="synth", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False)
def synth_flow(cfg: SynthConfig) -> int:
    """Write every planned video, the broken files, and remove anything stale."""
    logger = get_run_logger()
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.enabled:
        removed = prune(out_dir, set())
        logger.info("synth: disabled (synth.enabled: false); %d files removed", len(removed))
        return 0
    plans = plan_corpus(cfg)
    futures = [render.submit(cfg, plan) for plan in plans]
    for _ in tqdm(as_completed_results(futures), total=len(futures), desc="synth", unit="video"):
        pass
    if cfg.broken_files:
        write_broken_files(cfg, out_dir)
    removed = prune(out_dir, expected_files(plans, cfg.broken_files))
    logger.info(
        "synth: %d videos in %s (%d stale files removed)", len(plans), out_dir, len(removed)
    )
    create_markdown_artifact(
        key="synth-summary",
        markdown=f"# Synth\n\n{len(plans)} videos ({cfg.multi_scene_videos} with cuts) in "
        f"`{out_dir}`, seed {cfg.seed}, broken files: {cfg.broken_files}.\n",
    )
    return len(plans)


def main(argv: list[str] | None = None) -> int:
    return run_stage("synth", lambda config: synth_flow(config.synth), argv)


if __name__ == "__main__":
    raise SystemExit(main())
