#!/usr/bin/env bash
# The gateway's CPU per streamed photo: a fast client (bench/slow_clients.py --fast) streams FAST
# photos through queryPhotos from a demo Immich of 1,000,000 assets, ROUNDS times; prints the
# gateway's CPU ticks (utime + stime from /proc, 1/100 s) and the client's seconds per stream.
# With BASELINE=<another build> both gateways run against the same demo and take turns, so the two
# builds see the same machine (this VM's speed drifts by ±20% over minutes).
#
#   bash bench/stream_cpu.sh                                 # FAST=100000 ROUNDS=5
#   BASELINE=/tmp/old-gateway ROUNDS=6 bash bench/stream_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=${FAST:-100000} ROUNDS=${ROUNDS:-5}
source bench/lib.sh
start_demo 1000000
config="[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
builds=()
if [ -n "${BASELINE:-}" ]; then
  base_port=$(port); GATEWAY_BIN=$BASELINE start_gateway "$base_port" 1 "$config"
  builds+=("baseline $base_port $gateway_pid")
fi
this_port=$(port); start_gateway "$this_port" 1 "$config"
builds+=("gateway $this_port $gateway_pid")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for build in "${builds[@]}"; do  # warm-up: pages, pools, allocator
  set -- $build; python3 bench/slow_clients.py --fast 127.0.0.1 "$2" "$FAST" > /dev/null
done
for round in $(seq "$ROUNDS"); do
  for build in "${builds[@]}"; do
    set -- $build
    before=$(ticks "$3")
    read -r seconds bytes < <(python3 bench/slow_clients.py --fast 127.0.0.1 "$2" "$FAST")
    echo "$1 $(( $(ticks "$3") - before )) ticks  $seconds s  $bytes bytes" | tee -a "$work/results"
  done
done
echo "medians of $ROUNDS (gateway CPU ticks per $FAST-photo stream):"
for build in "${builds[@]}"; do set -- $build; echo "  $1 $(median "^$1 " 2)"; done
