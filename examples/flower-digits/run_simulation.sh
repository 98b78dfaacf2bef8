#!/usr/bin/env bash
# One command: the digits app in Flower's simulation runtime, with secagg's secure aggregation.
#   examples/flower-digits/run_simulation.sh [NODES] [ROUNDS] [AGGREGATION]
# Starts its own SuperLink (simulation mode, loopback only), runs the app, stops everything.
source "$(dirname "$0")/_common.sh"
NODES="${1:-5}" ROUNDS="${2:-3}" AGGREGATION="${3:-secagg}" PORT="${PORT:-9390}"

start superlink "$BIN/flower-superlink" --simulation --insecure \
  --disable-runtime-dependency-installation --host 127.0.0.1 --port "$PORT"
wait_for_port "$PORT"
cat >"$FLWR_HOME/config.toml" <<TOML
[superlink]
default = "local-sim"

[superlink.local-sim]
address = "127.0.0.1:$PORT"
insecure = true
options.num-supernodes = $NODES
TOML
cd "$HERE"
"$BIN/flwr" run . local-sim --stream --run-config \
  "num-server-rounds=$ROUNDS num-nodes=$NODES aggregation='$AGGREGATION' ${RUN_CONFIG:-}"
