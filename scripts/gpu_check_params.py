"""Write the params of the GPU check: the project's params.yaml with every path under one work
folder, the `small` preset at 128 px (or SIZE), a precision, a device and a step budget per
stage.

    python scripts/gpu_check_params.py WORK PRECISION STEPS DEVICE [SIZE] > params.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def redirect(data: dict, work: Path, data_dir: Path) -> None:
    """Curation outputs under `data_dir` (shared by both precisions), the rest under `work`."""
    data["synth"]["out_dir"] = str(data_dir / "raw")
    data["ingest"].update(
        sources=[str(data_dir / "raw"), str(ROOT / "datasets" / "raw" / "footage")],
        clips_dir=str(data_dir / "clips"),
        manifest=str(data_dir / "manifest" / "ingest.parquet"),
        quarantine=str(data_dir / "manifest" / "quarantine.parquet"),
    )
    data["score"].update(
        output=str(data_dir / "manifest" / "scores.parquet"),
        flow_dir=str(data_dir / "flow"),
        metrics=str(data_dir / "reports" / "score_metrics.json"),
    )
    data["caption"]["output"] = str(data_dir / "manifest" / "captions.parquet")
    data["curriculum"].update(
        output=str(data_dir / "manifest" / "curriculum.parquet"),
        metrics=str(data_dir / "reports" / "curriculum_metrics.json"),
        report=str(data_dir / "reports" / "curation.html"),
    )
    data["shards"]["dir"] = str(data_dir / "shards")
    data["train_vae"].update(out_dir=str(work / "vae"), metrics=str(work / "vae_metrics.json"))
    data["encode"]["dir"] = str(work / "latents")
    data["train"].update(out_dir=str(work / "models"), metrics=str(work / "train"))
    data["mine"]["out_dir"] = str(work / "mining")


def main() -> None:
    work, precision, steps, device = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 128  # 32 makes the CPU plumbing run quick
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    redirect(data, work / precision, work / "data")
    data["model"]["preset"] = "small"
    data["runtime"].update(device=device, precision=precision, num_workers=2)
    data["train_vae"].update(size=size, steps=steps, warmup=20, checkpoint_every=steps)
    data["train"]["checkpoint_every"] = steps
    for k in range(1, 6):
        data["train"][f"phase{k}"] = {
            **data["train"][f"phase{k}"], "size": size, "steps": steps, "warmup": 20,
        }  # fmt: skip
    data["finetune"]["train"] = {**data["finetune"]["train"], "size": size}
    yaml.safe_dump(data, sys.stdout, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    main()
