#!/usr/bin/env bash
# Stops the broker started by kafka/start.sh (SIGTERM, then SIGKILL after 30 s). Keeps its data;
# `kafka/stop.sh --wipe` also deletes the data dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${SLUICE_KAFKA_DATA:-$HERE/data}"
PID_FILE="$DATA/broker.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  pid="$(cat "$PID_FILE")"
  kill "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  echo "[kafka] stopped (pid $pid)"
else
  echo "[kafka] not running"
fi
rm -f "$PID_FILE"
if [ "${1:-}" = "--wipe" ]; then rm -rf "$DATA"; echo "[kafka] wiped $DATA"; fi
