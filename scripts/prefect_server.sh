#!/usr/bin/env bash
# Start or stop one local Prefect server on 127.0.0.1 (offline; state in $PREFECT_HOME).
set -euo pipefail
action=${1:?start|stop}
port=${2:-4200}
root=$(cd "$(dirname "$0")/.." && pwd)
export PREFECT_HOME=${PREFECT_HOME:-$root/.prefect}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# The UI needs the event persister and the task-run recorder; the DAG needs no automations,
# schedules, late-run or cancellation sweeps. Off, they stop competing with the stages for the
# two cores (the triggers service evaluates every one of the curation tasks' events).
for service in TRIGGERS SCHEDULER LATE_RUNS FOREMAN PAUSE_EXPIRATIONS CANCELLATION_CLEANUP \
  REPOSSESSOR CLEANUP_RECONCILER; do
  export "PREFECT_SERVER_SERVICES_${service}_ENABLED=false"
done
pidfile=$PREFECT_HOME/server-$port.pid
mkdir -p "$PREFECT_HOME"
healthy() { curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; }

case $action in
  start)
    if healthy; then echo "Prefect server already up on http://127.0.0.1:$port"; exit 0; fi
    nohup "$root/.venv/bin/prefect" server start --host 127.0.0.1 --port "$port" \
      >"$PREFECT_HOME/server-$port.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      if healthy; then echo "Prefect server up on http://127.0.0.1:$port"; exit 0; fi
      sleep 1
    done
    echo "Prefect server did not start; see $PREFECT_HOME/server-$port.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f $pidfile ]]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      echo "Prefect server on port $port stopped"
    fi
    ;;
  *) echo "usage: $0 start|stop [port]" >&2; exit 2 ;;
esac
