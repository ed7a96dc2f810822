#!/usr/bin/env bash
# The streaming guide's load test (issue 5, benchmark e): 100 clients × 10 streamed queryPhotos × 1,000
# photos each, against the demo Immich (its own process, 100,000 photos). Zero errors expected;
# prints requests/s, photos/s, latency percentiles and the gateway's CPU time and peak RSS.
#
#   bash bench/load.sh                # CLIENTS=100 REQUESTS=10 ITEMS=1000 THREADS=1
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-100} REQUESTS=${REQUESTS:-10} ITEMS=${ITEMS:-1000} THREADS=${THREADS:-1}
source bench/lib.sh
cargo build --release --quiet --example load
start_demo 100000
gw=$(port)
start_gateway "$gw" "$THREADS" "[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
cpu() { awk '{print $14 + $15}' "/proc/$gateway_pid/stat"; }
before=$(cpu)
target/release/examples/load "http://127.0.0.1:$gw" "$CLIENTS" "$REQUESTS" "$ITEMS" | tee "$work/load.json"
after=$(cpu)
ticks=$(getconf CLK_TCK)
python3 - "$work/load.json" "$before" "$after" "$ticks" "$gateway_pid" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
peak = next(l for l in open(f"/proc/{sys.argv[5]}/status") if l.startswith("VmHWM")).split()[1]
print(f"gateway CPU {cpu:.1f} s over {summary['seconds']} s; peak RSS {int(peak)/1024:.1f} MB; "
      f"{summary['requests'] / max(cpu, 1e-9):.0f} requests per gateway CPU-second")
PY
