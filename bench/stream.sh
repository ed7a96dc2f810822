#!/usr/bin/env bash
# Streaming benchmarks (issue 5 (a) and (b)): time to first byte and to the first data event of a
# streamed queryPhotos, and the gateway's peak RSS while streaming 1,000, 100,000 and 1,000,000
# photos. The demo Immich (1,000,000 assets) runs as its own process, so only the gateway is
# measured; each size gets a fresh gateway so peaks do not carry over.
#
#   bash bench/stream.sh            # SIZES="1000 100000 1000000"
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 100000 1000000"}
source bench/lib.sh
start_demo 1000000
for size in $SIZES; do
  gw=$(port)
  printf '[server]\nthreads = 1\nupgrade_sock = "%s/up-%s.sock"\n[immich]\nbase_url = "%s"\napi_key = "demo-admin-key"\n[telemetry]\naccess_log = false\nlog_level = "warn"\n' \
    "$work" "$size" "$(cat "$work/demo.addr")" > "$work/gw-$size.toml"
  target/release/immich-mcp-gateway --config "$work/gw-$size.toml" --listen "127.0.0.1:$gw" 2> "$work/gw.log" & gpid=$!
  pids+=($gpid)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$gw/health" && break; sleep 0.1; done
  idle=$(awk '/VmRSS/ {print $2}' /proc/$gpid/status)
  result=$(python3 bench/stream_client.py 127.0.0.1 "$gw" "$size")
  peak=$(awk '/VmHWM/ {print $2}' /proc/$gpid/status)
  echo "$result  gateway RSS: idle ${idle} KiB, peak ${peak} KiB"
  kill $gpid; wait $gpid 2>/dev/null || true
done
