#!/usr/bin/env bash
# Soak (issue 20 point 5): DURATION (default 30 min) of a mixed load at about half the gateway's
# capacity — MCP tool calls and /api requests (wrk, bench/soak/mix.lua) and streamed queryPhotos
# (examples/load, a few clients at a time, back to back) — against the demo Immich (10,000 photos) in its own
# process. The gateway's RSS is sampled every minute; the run passes when there are 0 errors and
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

# Capacity: the same mix as fast as it goes, 15 s.
wrk -t2 -c"$CONNECTIONS" -d15s -s bench/soak/mix.lua "$url" > "$work/capacity.txt"
capacity=$(awk '/Requests\/sec/ {print $2}' "$work/capacity.txt")
# Each connection waits DELAY ms between requests, so CONNECTIONS/DELAY ≈ half the capacity.
delay=$(python3 -c "print(max(1, round($CONNECTIONS * 1000 / ($capacity / 2))))")
echo "capacity ${capacity} req/s; soak at ${CONNECTIONS} connections with ${delay} ms between requests, ${DURATION} min"

idle_rss=$(rss)
SOAK_DELAY_MS=$delay wrk -t2 -c"$CONNECTIONS" -d"${DURATION}m" --timeout 10s --latency -s bench/soak/mix.lua "$url" \
  > "$work/soak.txt" & wrk_pid=$!; pids+=($wrk_pid)
# Streams: 4 clients × 5 streamed queryPhotos of 5,000 photos, back to back until wrk ends.
(
  while kill -0 "$wrk_pid" 2>/dev/null; do
    target/release/examples/load "$url" 4 5 5000 >> "$work/streams.jsonl" 2>> "$work/streams.err" || echo '{"errors":1}' >> "$work/streams.jsonl"
  done
) & pids+=($!)
: > "$work/rss"
for minute in $(seq "$DURATION"); do
  sleep 60
  echo "$minute $(rss)" | tee -a "$work/rss"
done
wait "$wrk_pid" || true
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
