#!/usr/bin/env bash
# The GPU check: on one CUDA GPU, the training half of the DAG (train_vae, encode, the five
# phases, mining) with model.preset small at 128 px, in bf16 and then in fp16, a few hundred
# steps a stage; then the backbone benchmark. Prints samples/s, peak GPU memory, TFLOP/s, MFU.
#
#   scripts/gpu_check.sh             # STEPS=200 a stage, on cuda
#   DEVICE=cpu STEPS=2 SIZE=32 PRECISIONS=bf16 scripts/gpu_check.sh   # the plumbing, no GPU
#     (~6 min on 2 cores once curated; at 128 px the small VAE takes ~100 s a bf16 step there,
#     and CPU fp16 convolutions ~430 s a step even at 32 px)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=${STEPS:-200}
device=${DEVICE:-cuda}
work=${WORK:-$root/.gpu_check}
precisions=${PRECISIONS:-bf16 fp16}
size=${SIZE:-128}
export PREFECT_HOME=$root/.prefect PREFECT_SERVER_ANALYTICS_ENABLED=false HF_HUB_OFFLINE=1
[ -x .venv/bin/aiprod ] || make setup >/dev/null
py=.venv/bin/python
mkdir -p "$work"
started=$(date +%s)
stage() {  # stage NAME ARGS... : run one flow, quietly, timed
  local t0=$(date +%s)
  "$py" -m "flows.$1" "${@:2}" >"$work/log-$1$(echo "${@:2}" | tr -c 'a-z0-9' '_').txt" 2>&1 \
    || { echo "FAILED: flows.$1 ${*:2} (see $work/log-*)"; tail -20 "$work"/log-"$1"*; exit 1; }
  printf '  %-22s %4ds\n' "$1 ${*:2:2}" $(( $(date +%s) - t0 ))
}
"$py" scripts/gpu_check_params.py "$work" bf16 "$steps" "$device" >"$work/curation.yaml"
if [ ! -f "$work/data/shards/phase5/index.parquet" ]; then
  echo "curation (CPU, once):"
  for s in synth ingest score caption curriculum; do stage "$s" --params "$work/curation.yaml"; done
  for k in 1 2 3 4 5; do stage shard --params "$work/curation.yaml" --phase "$k"; done
fi
for precision in $precisions; do
  params=$work/$precision.yaml
  "$py" scripts/gpu_check_params.py "$work" "$precision" "$steps" "$device" "$size" >"$params"
  echo "training half, preset small at ${size} px, $precision, $steps steps a stage, on $device:"
  stage train_vae --params "$params"
  stage encode --params "$params"
  for k in 1 2 3 4 5; do
    stage train_phase --params "$params" --phase "$k"
    [ "$k" -lt 5 ] && stage mine --params "$params" --phase "$k"
  done
  "$py" - "$work/$precision" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
rows = [("train_vae", json.loads((work / "vae_metrics.json").read_text()))]
rows += [(f"train_phase{k}", json.loads((work / "train" / f"phase{k}.json").read_text())) for k in range(1, 6)]
print(f"  {'stage':<14} {'samples/s':>10} {'peak GPU GB':>12} {'data wait':>10} {'loss':>8}")
for name, m in rows:
    wait = m.get("data_wait_share")
    print(f"  {name:<14} {m.get('samples_per_s') or 0:>10.1f} {m.get('peak_gpu_memory_gb') or 0:>12.2f} "
          f"{wait if wait is not None else float('nan'):>10.3f} {m.get('final_loss') or 0:>8.4f}")
PY
done
echo "backbone benchmark:"
if [ "$device" = cuda ]; then
  "$py" benchmarks/backbone_speed.py
else
  "$py" benchmarks/backbone_speed.py --small
fi
echo "gpu check: $(( $(date +%s) - started )) s"
