#!/usr/bin/env bash
# Zero-downtime upgrade under load: wrk keeps 32 connections busy on /api/server/ping (through the
# gateway to the demo Immich) while a second gateway process starts with -u and the first gets
# SIGQUIT, handing the listening socket over. Reports wrk's totals and its errors (connect, read,
# write, timeout, non-2xx); the goal is none. Each run is bounded (DURATION).
#
#   bash bench/upgrade.sh                 # DURATION=12s CONNECTIONS=32 ROUNDS=3
#
# Needs wrk (Debian: apt-get install -y wrk). Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-12s}; CONNECTIONS=${CONNECTIONS:-32}; ROUNDS=${ROUNDS:-3}
source bench/lib.sh

for round in $(seq "$ROUNDS"); do
  gw=$(port)
  start_gateway "$gw" 1 "" --demo
  old=$gateway_pid
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$gw/api/server/ping" > "$work/wrk.out" &
  load=$!
  sleep 3
  # The new process takes the listener over on SIGQUIT to the old one.
  "${GATEWAY_BIN:-target/release/immich-mcp-gateway}" -u --demo --config "$work/gateway-$gw.toml" \
    --listen "127.0.0.1:$gw" 2>> "$work/gateway.log" & pids+=($!)
  new=$!
  sleep 1
  kill -QUIT "$old"
  wait "$load"
  # Both processes accept for a few seconds (Pingora's hand-over window), then only the new one.
  for _ in $(seq 100); do
    served_by=$(curl -s "http://127.0.0.1:$gw/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    kill -0 "$old" 2>/dev/null || [ "$served_by" != "$new" ] || break
    sleep 0.1
  done
  [ "$served_by" = "$new" ] || { echo "round $round: the new process ($new) is not serving ($served_by)" >&2; exit 1; }
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  errors=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10} /Non-2xx/ {print $NF}' "$work/wrk.out" | paste -sd+ | bc)
  echo "round $round: $requests requests, ${errors:-0} errors; handed over from pid $old to $new"
  grep -E "Socket errors|Non-2xx" "$work/wrk.out" || true
  kill "$new" 2>/dev/null || true; wait "$new" 2>/dev/null || true
done
