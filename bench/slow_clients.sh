#!/usr/bin/env bash
# Flow control under slow clients (issue 5, benchmark d): 100 streamed queryPhotos to clients
# reading 100 KB/s each, and one fast client streaming 100,000 photos alone and then amid them
# (ROUNDS such pairs, after a warm-up stream); and two controls for what the shared two-core
# machine takes from anyone: the same photos read straight from the demo Immich alone and amid the
# slow streams, and the fast client on this gateway while the slow streams go through another.
# The gateway's RSS must stay under its configured buffer budget (max_buffer_size, 50 MiB, on top
# of its idle footprint) and the fast client must keep its speed.
#
# The gateways run THREADS worker threads: by default one per core, the gateway's own default
# (THREADS=1 puts the fast stream and the hundred slow ones on one thread).
#
#   bash bench/slow_clients.sh        # SLOW=100 RATE=100000 DURATION=20 FAST=100000 THREADS=$(nproc) ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
SLOW=${SLOW:-100} RATE=${RATE:-100000} DURATION=${DURATION:-20} FAST=${FAST:-100000} THREADS=${THREADS:-$(nproc)} ROUNDS=${ROUNDS:-3}
source bench/lib.sh
start_demo 1000000
config="[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\"\n[streaming]\nmax_concurrent_streams = 110"
other=$(port)
start_gateway "$other" "$THREADS" "$config"  # the control where the slow streams go elsewhere
gw=$(port)
start_gateway "$gw" "$THREADS" "$config"
echo "gateway idle RSS: $(awk '/VmRSS/ {print $2}' /proc/$gateway_pid/status) KiB"
python3 bench/slow_clients.py 127.0.0.1 "$gw" "$gateway_pid" "$SLOW" "$RATE" "$DURATION" "$FAST" "$ROUNDS" "$demo" "$other"
