#!/usr/bin/env bash
# Memory per idle stream: N (default 2,000) idle streams of each kind held open on one gateway —
# 2026-07-28 subscriptions/listen, a session's standalone GET stream, an idle MCP WebSocket, a
# stream parked for a Last-Event-ID (at most 1,000 a process), a stream whose client left after an
# event with a resume token (nothing should be kept) — and the gateway's RSS growth
# divided by the streams; then EXTRA (100) more, past the stream limits (set to N for the run).
#
#   bash bench/idle_streams.sh            # N=2000
#   N=10000 bash bench/idle_streams.sh
#   KINDS="ws listen" bash bench/idle_streams.sh   # some kinds only
#
# Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000} EXTRA=${EXTRA:-100}
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"
# Immich in its own process, so the gateway's RSS is the gateway's alone (a parked stream's call
# keeps reading from Immich).
start_demo 100000
for kind in ${KINDS:-listen get ws parked left}; do
  n=$N; [ "$kind" = parked ] || [ "$kind" = left ] && n=$(( N < 1000 ? N : 1000 ))
  gw=$(port)
  start_gateway "$gw" 1 "max_connections = $((n + EXTRA + 100))\nmax_connections_per_client = 0\n[streaming]\nmax_concurrent_streams = $n\nmax_total_streams = $n\n[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
  python3 bench/idle_streams.py "http://127.0.0.1:$gw" "$gateway_pid" "$kind" "$n" "$EXTRA"
  kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
done
