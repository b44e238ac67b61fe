"""DVCLive metrics for training flows: `dvc plots show` reads what `log_metric` writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from dvclive import Live

from aiprod.train import distributed
from aiprod.train.loop import MetricLogger, MetricsOpener


def live_metrics(out_dir: str | Path) -> MetricsOpener:
    """An opener of `log_metric(name, value, step)` writing
    `<out_dir>/dvclive/plots/metrics/train/*.tsv`.

    The stage opens it once it knows whether it resumes its checkpoint: only then do the old
    curves continue; a fresh run starts them anew. Other DDP ranks get None.
    """

    @contextmanager
    def opened(resume: bool) -> Iterator[MetricLogger | None]:
        if not distributed.current().main:
            yield None
            return
        live_dir = Path(out_dir) / "dvclive"
        with Live(dir=str(live_dir), resume=resume, dvcyaml=False, save_dvc_exp=False) as live:

            def log_metric(name: str, value: float, step: int) -> None:
                live.step = step
                live.log_metric(f"train/{name}", value)

            yield log_metric

    def opener(resume: bool) -> AbstractContextManager[MetricLogger | None]:
        return opened(resume)

    return opener


def metrics_markdown(title: str, metrics: dict) -> str:
    rows = "".join(f"| {key} | {value} |\n" for key, value in metrics.items())
    return f"# {title}\n\n| metric | value |\n| --- | --- |\n{rows}"
