#!/usr/bin/env bash
# The gateway's added latency on a tool call: queryPhotos (50 photos with EXIF and people) through
# MCP, against the same POST /api/search/metadata sent straight to the demo Immich, alternating in
# one run. One connection at a time (-c1) measures latency, not saturation.
#
#   bash bench/tools.sh                     # DURATION=10s ROUNDS=3 CONNECTIONS=1
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}; ROUNDS=${ROUNDS:-3}; CONNECTIONS=${CONNECTIONS:-1}
source bench/lib.sh
start_demo 10000
gw=$(port)
start_gateway "$gw" 1 "[immich]\nbase_url = \"$demo\""

run() { # name url mode
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/query.lua "$2" -- "$3" > "$work/wrk.out"
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 } /bad reply/ { bad++ }
    END { printf "%-22s %8.0f req/s   p50 %7.3f ms   p99 %7.3f ms%s\n", name, rps, p50, p99, bad ? "  BAD REPLIES: " bad : "" }' "$work/wrk.out"
}
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS alternating rounds"
for round in $(seq "$ROUNDS"); do
  run "direct #$round" "$demo/api/search/metadata" direct
  run "queryPhotos #$round" "http://127.0.0.1:$gw/mcp" mcp
done | tee "$work/results"
d50=$(median "^direct " 6); d99=$(median "^direct " 9); g50=$(median "^queryPhotos " 6); g99=$(median "^queryPhotos " 9)
awk -v d50="$d50" -v d99="$d99" -v g50="$g50" -v g99="$g99" 'BEGIN {
  printf "\nmedians: direct p50 %.3f / p99 %.3f ms; queryPhotos p50 %.3f / p99 %.3f ms; added p50 %.3f ms, p99 %.3f ms\n", d50, d99, g50, g99, g50 - d50, g99 - d99 }'
