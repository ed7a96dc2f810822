#!/usr/bin/env bash
# Proxy benchmark: the gateway vs nginx configured as a reverse proxy, side by side in one run,
# against the same upstream. The upstream is a static nginx (so it costs almost nothing and
# the proxies are what is measured) answering /api/server/ping (15 B JSON) and /api/big
# (~100 KB JSON captured from the demo Immich's /api/search/metadata). A bare Pingora proxy
# (examples/bare-proxy.rs: no filters, same Pingora, allocator and settings) runs beside them as
# the floor: the gap between it and the gateway is the gateway's own per-request work.
#
#   bash bench/passthrough.sh            # defaults: 10 s per run, 32 connections, 1 worker each
#   DURATION=20s CONNECTIONS=64 WORKERS=2 ROUNDS=3 bash bench/passthrough.sh
#   BASELINE=/tmp/old-gateway bash bench/passthrough.sh   # and an older build, side by side
#
# Needs: wrk, nginx (Debian: apt-get install -y wrk nginx-light). Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
ROUNDS=${ROUNDS:-3}
source bench/lib.sh
cargo build --release --quiet --example bare-proxy

# A ~100 KB Immich-shaped JSON body, from the demo.
start_demo 10000
curl -s -X POST -H 'x-api-key: demo-admin-key' -H 'content-type: application/json' \
  -d '{"size":115}' "$demo/api/search/metadata" > "$work/big.json"
echo "payload: $(wc -c < "$work/big.json") bytes"

up=$(port); nx=$(port); gw=$(port); bp=$(port)
mkdir -p "$work/www/api/server"
printf '{"res":"pong"}' > "$work/www/api/server/ping"
cp "$work/big.json" "$work/www/api/big"
cat > "$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log $work/upstream.err;
events { worker_connections 4096; }
http { access_log off; default_type application/json; keepalive_requests 1000000;
  server { listen 127.0.0.1:$up; root $work/www; } }
CONF
cat > "$work/proxy.conf" <<CONF
worker_processes $WORKERS; daemon off; pid $work/proxy.pid; error_log $work/proxy.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream immich { server 127.0.0.1:$up; keepalive 128; }
  server { listen 127.0.0.1:$nx;
    location /api/ { proxy_pass http://immich; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme; proxy_buffering on; } } }
CONF
nginx -c "$work/upstream.conf" -e "$work/upstream.err" & pids+=($!)
nginx -c "$work/proxy.conf" -e "$work/proxy.err" & pids+=($!)
target/release/examples/bare-proxy "127.0.0.1:$bp" "127.0.0.1:$up" "$WORKERS" 2>> "$work/bare.log" & pids+=($!)
wait_port "$up" api/server/ping; wait_port "$nx" api/server/ping; wait_port "$bp" api/server/ping
start_gateway "$gw" "$WORKERS" "[immich]\nbase_url = \"http://127.0.0.1:$up\""
if [ -n "${BASELINE:-}" ]; then
  bl=$(port)
  GATEWAY_BIN=$BASELINE start_gateway "$bl" "$WORKERS" "[immich]\nbase_url = \"http://127.0.0.1:$up\""
fi

run() { # name url -> "req/s p50 p99"
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$2" > "$work/wrk.out"
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /Non-2xx|Socket errors/ { errors = errors " " $0 }
    END { printf "%-28s %10.0f req/s   p50 %6.3f ms   p99 %6.3f ms%s\n", name, rps, p50, p99, errors }' "$work/wrk.out"
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $WORKERS worker(s) per proxy, $ROUNDS alternating rounds"
for path in api/server/ping api/big; do
  for round in $(seq "$ROUNDS"); do
    run "nginx   /$path #$round" "http://127.0.0.1:$nx/$path" | tee -a "$work/results"
    run "gateway /$path #$round" "http://127.0.0.1:$gw/$path" | tee -a "$work/results"
    run "pingora /$path #$round" "http://127.0.0.1:$bp/$path" | tee -a "$work/results"
    if [ -n "${BASELINE:-}" ]; then run "baseline /$path #$round" "http://127.0.0.1:$bl/$path" | tee -a "$work/results"; fi
  done
done
echo
echo "medians (pingora = the bare Pingora proxy):"
for path in api/server/ping api/big; do
  # stats WHO: the medians of WHO's req/s, p50 and p99 on this path.
  stats() { echo "$(median "^$1 */$path " 4) $(median "^$1 */$path " 7) $(median "^$1 */$path " 10)"; }
  awk -v p="/$path" -v n="$(stats nginx)" -v g="$(stats gateway)" -v b="$(stats pingora)" 'BEGIN {
    split(n, N, " "); split(g, G, " "); split(b, B, " ")
    printf "%-18s nginx %8.0f req/s (p50 %.3f, p99 %.3f ms)   gateway %8.0f req/s (p50 %.3f, p99 %.3f ms)   ratio %.2fx\n", p, N[1], N[2], N[3], G[1], G[2], G[3], G[1] / N[1]
    printf "%-18s bare Pingora %8.0f req/s (p50 %.3f, p99 %.3f ms) = %.2fx nginx; the gateway does %.2fx of it\n", "", B[1], B[2], B[3], B[1] / N[1], G[1] / B[1] }'
done
if [ -n "${BASELINE:-}" ]; then
  for path in api/server/ping api/big; do
    g=$(median "^gateway */$path " 4); b=$(median "^baseline */$path " 4)
    printf "%-18s this build %8.0f req/s (p99 %s ms) | baseline %8.0f req/s (p99 %s ms) | this/baseline %.2fx\n" "/$path" \
      "$g" "$(median "^gateway */$path " 10)" "$b" "$(median "^baseline */$path " 10)" "$(awk -v a="$g" -v b="$b" 'BEGIN {print a/b}')"
  done
fi
