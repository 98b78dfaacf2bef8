#!/usr/bin/env bash
# One command: the digits app in Flower's deployment runtime over TLS on loopback.
#   [SECURITY=malicious] examples/flower-digits/run_deployment.sh [NODES] [ROUNDS] [AGGREGATION]
# Makes a throwaway CA and server certificate, starts a SuperLink and NODES SuperNodes as
# separate OS processes (127.0.0.1 only), runs the app, and stops every process it started.
# SECURITY=malicious (secagg only) also writes a signing key per node and the roster, and
# gives each SuperNode its own key and the roster in its node config.
source "$(dirname "$0")/_common.sh"
NODES="${1:-3}" ROUNDS="${2:-2}" AGGREGATION="${3:-secagg}" PORT="${PORT:-9490}"
SECURITY="${SECURITY:-semi_honest}"
CERTS="$WORK/certs" KEYS="$WORK/keys"
"$BIN/python" "$HERE/make_certs.py" "$CERTS"
SECURITY_RUN_CONFIG="security='$SECURITY'"
if [ "$SECURITY" = malicious ]; then
  "$BIN/python" -m secagg.integrations.flower.keys "$KEYS" "$NODES"
  SECURITY_RUN_CONFIG+=" roster-path='$KEYS/roster.json'"
fi
node_keys() {  # node_keys I: the node config entries of node I's own key and the roster
  [ "$SECURITY" = malicious ] || return 0
  echo " secagg-signing-key='$KEYS/node-$1.key' secagg-roster='$KEYS/roster.json'"
}

start superlink "$BIN/flower-superlink" --ssl-ca-certfile "$CERTS/ca.crt" \
  --ssl-certfile "$CERTS/server.pem" --ssl-keyfile "$CERTS/server.key" \
  --isolation subprocess --disable-runtime-dependency-installation \
  --host 127.0.0.1 --port "$PORT"
wait_for_port "$PORT"
for i in $(seq 0 $((NODES - 1))); do
  start "supernode-$i" "$BIN/flower-supernode" --root-certificates "$CERTS/ca.crt" \
    --superlink "127.0.0.1:$PORT" --host 127.0.0.1 --port $((PORT + 1 + i)) \
    --node-config "partition-id=$i num-partitions=$NODES$(node_keys "$i")"
done
cat >"$FLWR_HOME/config.toml" <<TOML
[superlink]
default = "local-tls"

[superlink.local-tls]
address = "127.0.0.1:$PORT"
root-certificates = "$CERTS/ca.crt"
TOML
cd "$HERE"
"$BIN/flwr" run . local-tls --stream --run-config \
  "num-server-rounds=$ROUNDS num-nodes=$NODES aggregation='$AGGREGATION' $SECURITY_RUN_CONFIG ${RUN_CONFIG:-}"
