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
start_gateway "$gw" 1 "[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
python3 bench/disconnect_client.py 127.0.0.1 "$gw" "$ROUNDS"
