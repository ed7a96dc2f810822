#!/usr/bin/env bash
# Soak (issue 20 point 5): DURATION (default 30 min) of a mixed load at about half the gateway's
# capacity — MCP tool calls and /api requests (wrk, bench/soak/mix.lua) and streamed queryPhotos
# (examples/load, a few clients at a time) — against the demo Immich (10,000 photos) in its own
# process. Capacity is the whole mix at full speed; the soak runs wrk at half its rate there
# (calibrated, since a connection's pace includes the answers' latency) and the streams half the
# time (resting after each batch as long as a batch took at full load). The gateway's RSS is sampled every minute; the run passes when there are 0 errors and
# RSS is flat over the last 10 minutes (max - min within 5% of the mean). Not in CI.
#
#   bash bench/soak.sh                      # DURATION=30 (minutes), CONNECTIONS=64
#   DURATION=12 bash bench/soak.sh          # a shorter look
#
# Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30} CONNECTIONS=${CONNECTIONS:-64}
source bench/lib.sh
cargo build --release --quiet --example load
start_demo 10000
gw=$(port)
start_gateway "$gw" 2 "[immich]\nbase_url = \"$demo\"\napi_key = \"demo-admin-key\""
url="http://127.0.0.1:$gw"
rss() { awk '/VmRSS/ {print $2}' "/proc/$gateway_pid/status"; }

# Streams: 4 clients × 5 streamed queryPhotos of 5,000 photos per batch, until $work/stop exists,
# resting PAUSE seconds after each batch. Each batch's JSON line goes to FILE.
streams() {  # FILE PAUSE
  while [ ! -e "$work/stop" ]; do
    target/release/examples/load "$url" 4 5 5000 >> "$1" 2>> "$work/streams.err" || echo '{"errors":1}' >> "$1"
    sleep "$2"
  done
}
# rate FILE: wrk's requests/s in FILE.
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }

# Capacity: the whole mix as fast as it goes — wrk and the streams back to back — 20 s.
rm -f "$work/stop"; streams "$work/capacity-streams.jsonl" 0 & streams_pid=$!
wrk -t2 -c"$CONNECTIONS" -d20s -s bench/soak/mix.lua "$url" > "$work/capacity.txt"
touch "$work/stop"; wait "$streams_pid"
capacity=$(rate "$work/capacity.txt")
# A batch's time at full load: resting as long after each one halves the streams' share.
batch=$(python3 -c "import json; b=[json.loads(l)['seconds'] for l in open('$work/capacity-streams.jsonl') if 'seconds' in l]; print(round(sum(b)/len(b), 2))")
# Half the capacity for wrk too: a connection's pace is its delay plus the answer's latency, so
# the delay is calibrated against the real load (10 s runs, streams at half) until wrk's rate is
# within 10% of half the capacity.
target=$(python3 -c "print($capacity / 2)")
delay=$(python3 -c "print(max(1, round($CONNECTIONS * 1000 / $target)))")
rm -f "$work/stop"; streams "$work/calibration-streams.jsonl" "$batch" & streams_pid=$!
for round in 1 2 3 4; do
  SOAK_DELAY_MS=$delay wrk -t2 -c"$CONNECTIONS" -d10s -s bench/soak/mix.lua "$url" > "$work/calibrate.txt"
  got=$(rate "$work/calibrate.txt")
  echo "calibration $round: delay $delay ms -> $got req/s (target $target)"
  delay=$(python3 -c "
c, d, got, want = $CONNECTIONS * 1000, $delay, $got, $target
print(d if abs(got - want) <= 0.1 * want else max(0, round(d - (c / got - c / want))))")
done
touch "$work/stop"; wait "$streams_pid"
echo "capacity ${capacity} req/s with streams back to back (a batch of streams: ${batch} s); soak at ${CONNECTIONS} connections, ${delay} ms between requests, streams resting ${batch} s after each batch, ${DURATION} min"

idle_rss=$(rss)
rm -f "$work/stop"
SOAK_DELAY_MS=$delay wrk -t2 -c"$CONNECTIONS" -d"${DURATION}m" --timeout 10s --latency -s bench/soak/mix.lua "$url" \
  > "$work/soak.txt" & wrk_pid=$!; pids+=($wrk_pid)
streams "$work/streams.jsonl" "$batch" & pids+=($!)
: > "$work/rss"
for minute in $(seq "$DURATION"); do
  sleep 60
  echo "$minute $(rss)" | tee -a "$work/rss"
done
wait "$wrk_pid" || true
touch "$work/stop"
sleep 2
cat "$work/soak.txt"
python3 - "$work" "$capacity" "$idle_rss" "$DURATION" <<'PY'
import json, re, sys
work, capacity, idle, minutes = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
soak = open(f"{work}/soak.txt").read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", soak).group(1))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", soak)) else 0
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", soak)
socket_errors = sum(map(int, sock.groups())) if sock else 0
streams = [json.loads(l) for l in open(f"{work}/streams.jsonl") if l.strip()]
stream_requests = sum(s.get("requests", 0) for s in streams)
stream_errors = sum(s.get("errors", 0) for s in streams)
samples = [int(l.split()[1]) / 1024 for l in open(f"{work}/rss")]
last = samples[-10:]
spread = (max(last) - min(last)) / (sum(last) / len(last))
print(f"wrk: {rate:.0f} req/s = {rate / capacity:.2f}x capacity; non-2xx {non2xx}, socket errors {socket_errors}")
print(f"streams: {stream_requests} streamed queryPhotos of 5,000 photos, {stream_errors} errors")
print(f"RSS MB idle {idle / 1024:.1f}, per minute: " + " ".join(f"{s:.1f}" for s in samples))
print(f"last 10 minutes: min {min(last):.1f} max {max(last):.1f} MB, spread {spread * 100:.1f}% of the mean")
ok = non2xx == 0 and socket_errors == 0 and stream_errors == 0 and spread <= 0.05
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
