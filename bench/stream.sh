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
  start_gateway "$gw" 1 "[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
  gpid=$gateway_pid
  idle=$(awk '/VmRSS/ {print $2}' /proc/$gpid/status)
  result=$(python3 bench/stream_client.py 127.0.0.1 "$gw" "$size")
  peak=$(awk '/VmHWM/ {print $2}' /proc/$gpid/status)
  echo "$result  gateway RSS: idle ${idle} KiB, peak ${peak} KiB"
  kill $gpid; wait $gpid 2>/dev/null || true
done
