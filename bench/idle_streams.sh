#!/usr/bin/env bash
# Memory per idle stream: N (default 2,000) idle streams of each kind held open on one gateway —
# 2026-07-28 subscriptions/listen, a session's standalone GET stream, an idle MCP WebSocket —
# and the gateway's RSS growth divided by the streams. The stream caps are raised for the run.
#
#   bash bench/idle_streams.sh            # N=2000
#   N=10000 bash bench/idle_streams.sh
#
# Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"
for kind in listen get ws; do
  gw=$(port)
  start_gateway "$gw" 1 "max_connections = $((N * 2 + 100))\nmax_connections_per_client = 0\n[streaming]\nmax_concurrent_streams = $((N + 100))\nmax_total_streams = $((N + 100))" --demo
  python3 bench/idle_streams.py "http://127.0.0.1:$gw" "$gateway_pid" "$kind" "$N"
  kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
done
