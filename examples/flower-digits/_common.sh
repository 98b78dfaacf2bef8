# Shared by run_simulation.sh and run_deployment.sh: environment and process cleanup.
# Every process is started with setsid (its own process group), recorded in $PGIDS, and its
# whole group is killed on exit, so the flower-superexec children go too.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${SECAGG_BIN:-$ROOT/.venv/bin}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/secagg-flower.XXXXXX")"
export PATH="$BIN:$PATH"
export FLWR_HOME="$WORK/flwr-home" FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1
mkdir -p "$FLWR_HOME"
PGIDS=()

start() {  # start NAME CMD...: run CMD in its own process group, output to $WORK/NAME.log
  local name="$1"; shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  PGIDS+=("$!")
}

descendants() {  # descendants PID...: every process below these, found before any is killed
  local p c
  for p in "$@"; do
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do echo "$c"; descendants "$c"; done
  done
}

cleanup() {
  # flower-superexec starts in a session of its own, so a process-group kill misses it:
  # collect the whole tree first, then stop groups and stragglers alike.
  local pg pids
  pids="$(descendants "${PGIDS[@]}")"
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for pg in $pids; do kill -TERM "$pg" 2>/dev/null || true; done
  sleep 1
  for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
  for pg in $pids; do kill -KILL "$pg" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

wait_for_port() {  # wait_for_port PORT: until something listens on 127.0.0.1:PORT (30 s)
  local i
  for i in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing listens on port $1; see $WORK" >&2; KEEP_WORK=1; return 1
}
