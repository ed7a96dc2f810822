#!/usr/bin/env bash
# Re-framing throughput through the gateway (issue 5, benchmark c): a ~100 MB JSON array of
# Immich assets (real demo search items, ~1 KB each) served by a static nginx as
# /api/map/markers, fetched through the gateway's /api as plain JSON (passthrough, the baseline),
# as SSE, and as SSE compressed with gzip and zstd. Reports MB/s of input per second of gateway
# CPU (the scheduler's time on a CPU over all its threads, so it is per core), wall-clock MB/s, and MB/s per second of
# user-space CPU alone (the gateway's own work: on loopback the kernel's TCP work for the client's
# socket is done on the gateway's core and counted in its stime); medians of ROUNDS.
#
#   bash bench/reframe_e2e.sh                 # ~100 MB fetched 5 times per measurement, 3 rounds
#   PAGES=50 ROUNDS=5 REPEAT=3 bash bench/reframe_e2e.sh
#   BASELINE=/tmp/old-gateway bash bench/reframe_e2e.sh   # and an older build, side by side
#
# Needs: nginx, curl, python3. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PAGES=${PAGES:-62}    # pages of 1,000 demo assets (~1.6 KB each: 62 pages ≈ 100 MB)
ROUNDS=${ROUNDS:-3}
REPEAT=${REPEAT:-5}   # fetches per measurement
source bench/lib.sh
# On two cores the scheduler's placement moves the figures by up to ±30% from run to run: a
# gateway sharing a core with curl wakes it cheaply, one on the other core pays an interrupt per
# wake-up (dear on a VM). PIN=1 gives the gateway core 0 and nginx and curl core 1, as if they were
# other machines: steadier, and slower (every wake-up crosses cores). Default: the scheduler's way.
if [ "${PIN:-0}" = 1 ]; then
  others="taskset -c 1"
  pin_gateway() { taskset -a -pc 0 "$1" > /dev/null; }
else
  others=""
  pin_gateway() { :; }
fi

# The payload: PAGES search pages of the demo, joined into one top-level array.
start_demo $((PAGES * 1000))
mkdir -p "$work/www/api/map"
python3 - "$demo" "$PAGES" "$work/www/api/map/markers" <<'PY'
import json, sys, urllib.request
base, pages, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w") as f:
    f.write("[")
    first = True
    for page in range(1, pages + 1):
        req = urllib.request.Request(base + "/api/search/metadata", method="POST",
            data=json.dumps({"page": page, "size": 1000, "withExif": True, "withPeople": True}).encode(),
            headers={"content-type": "application/json", "x-api-key": "demo-admin-key"})
        for item in json.load(urllib.request.urlopen(req))["assets"]["items"]:
            f.write(("" if first else ",") + json.dumps(item, separators=(",", ":")))
            first = False
    f.write("]")
PY
size=$(wc -c < "$work/www/api/map/markers")
items=$(python3 -c "import json; print(len(json.load(open('$work/www/api/map/markers'))))")
echo "payload: $size bytes, $items assets ($((size / items)) bytes each)"

up=$(port); gw=$(port)
cat > "$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log $work/upstream.err;
events { worker_connections 1024; }
http { access_log off; default_type application/json; sendfile on;
  server { listen 127.0.0.1:$up; root $work/www; } }
CONF
$others nginx -c "$work/upstream.conf" -e "$work/upstream.err" & pids+=($!)
wait_port "$up" api/map/markers
start_gateway "$gw" 1 "[immich]\nbase_url = \"http://127.0.0.1:$up\""
gwpid=$gateway_pid; pin_gateway "$gwpid"
builds=(gateway)
if [ -n "${BASELINE:-}" ]; then
  base_port=$(port)
  GATEWAY_BIN=$BASELINE start_gateway "$base_port" 1 "[immich]\nbase_url = \"http://127.0.0.1:$up\""
  base_pid=$gateway_pid; pin_gateway "$base_pid"
  builds+=(baseline)
fi

hz=$(getconf CLK_TCK)
# The gateway's CPU time: nanoseconds on a CPU, summed over its threads, from the scheduler
# (schedstat), and user-space ticks from /proc/PID/stat. The tick counts alone (utime + stime)
# sample the running task every tick: over the ~0.5 s a measurement takes that is ±10% of noise.
cpu_sample() { echo "$(cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {print s}') $(awk '{print $14}' "/proc/$1/stat")"; }
run() { # build mode extra-curl-args... -> "mode build cpu_MBps wall_MBps out_bytes user_MBps"
  local build=$1 name=$2; shift 2
  local pid=$gwpid at=$gw before after start end out
  [ "$build" = baseline ] && { pid=$base_pid; at=$base_port; }
  before=$(cpu_sample "$pid"); start=$(date +%s.%N)
  for _ in $(seq "$REPEAT"); do
    out=$($others curl -s -o /dev/null -w '%{size_download}' "$@" "http://127.0.0.1:$at/api/map/markers")
  done
  end=$(date +%s.%N); after=$(cpu_sample "$pid")
  awk -v n="$name" -v b="$build" -v r="$REPEAT" -v s="$size" -v before="$before" -v after="$after" -v hz="$hz" \
      -v t0="$start" -v t1="$end" -v o="$out" 'BEGIN {
    split(before, x, " "); split(after, y, " ")
    cpu = (y[1] - x[1]) / 1e9; user = (y[2] - x[2]) / hz
    if (user <= 0) user = 1 / hz
    printf "%-6s %-8s %8.0f MB/s per gateway core   %6.0f MB/s wall   out %6.1f MB   cpu %.3f s (user %.2f)   %6.0f MB/s per user-space core\n",
      n, b, r * s / cpu / 1e6, r * s / (t1 - t0) / 1e6, o / 1e6, cpu, user, r * s / user / 1e6 }'
}
echo "$ROUNDS rounds, one gateway worker thread${BASELINE:+, the baseline build alternating with this one}"
[ -n "${HOLD:-}" ] && { echo "gw=$gw gwpid=$gwpid"; sleep "$HOLD"; }
for round in $(seq "$ROUNDS"); do
  for build in "${builds[@]}"; do
    run "$build" plain | tee -a "$work/results"
    run "$build" sse -H 'accept: text/event-stream' | tee -a "$work/results"
    run "$build" gzip -H 'accept: text/event-stream' -H 'accept-encoding: gzip' | tee -a "$work/results"
    run "$build" zstd -H 'accept: text/event-stream' -H 'accept-encoding: zstd' | tee -a "$work/results"
  done
done
echo
echo "medians (MB/s of input per second of gateway CPU; of user-space CPU alone):"
for mode in plain sse gzip zstd; do
  for build in "${builds[@]}"; do
    printf "%-6s %-8s %8.0f MB/s   user-space %8.0f MB/s\n" "$mode" "$build" \
      "$(median "^$mode *$build " 3)" "$(median "^$mode *$build " 19)"
  done
done
