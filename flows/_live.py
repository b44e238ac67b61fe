"""DVCLive metrics for training flows: `dvc plots show` reads what `log_metric` writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dvclive import Live

from aiprod.train import distributed

MetricLogger = Callable[[str, float, int], None]


@contextmanager
def live_metrics(out_dir: str | Path) -> Iterator[MetricLogger | None]:
    """A `log_metric(name, value, step)` writing `<out_dir>/dvclive/plots/metrics/train/*.tsv`.

    Resumes the existing logs (a resumed run continues its curves); other DDP ranks get None.
    """
    if not distributed.current().main:
        yield None
        return
    live_dir = Path(out_dir) / "dvclive"
    with Live(dir=str(live_dir), resume=True, dvcyaml=False, save_dvc_exp=False) as live:

        def log_metric(name: str, value: float, step: int) -> None:
            live.step = step
            live.log_metric(f"train/{name}", value)

        yield log_metric


def metrics_markdown(title: str, metrics: dict) -> str:
    rows = "".join(f"| {key} | {value} |\n" for key, value in metrics.items())
    return f"# {title}\n\n| metric | value |\n| --- | --- |\n{rows}"
