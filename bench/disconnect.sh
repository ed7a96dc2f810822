#!/usr/bin/env bash
# Cancellation latency (issue 5, point 7): how long after a client hangs up mid-stream its
# streamed queryPhotos (1,000,000 photos asked) is gone from the gateway — call cancelled, Immich
# paging stopped. The demo Immich runs as its own process; one gateway worker thread.
#
#   bash bench/disconnect.sh          # ROUNDS=50
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-50}
source bench/lib.sh
start_demo 1000000
gw=$(port)
printf '[server]\nthreads = 1\nupgrade_sock = "%s/up.sock"\n[immich]\nbase_url = "%s"\napi_key = "demo-admin-key"\n[telemetry]\naccess_log = false\nlog_level = "warn"\n' \
  "$work" "$(cat "$work/demo.addr")" > "$work/gw.toml"
target/release/immich-mcp-gateway --config "$work/gw.toml" --listen "127.0.0.1:$gw" 2> "$work/gw.log" & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$gw/health" && break; sleep 0.1; done
python3 bench/disconnect_client.py 127.0.0.1 "$gw" "$ROUNDS"
