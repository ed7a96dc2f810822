#!/usr/bin/env bash
# Slowloris, measured (issue 20 point 2): DRIBBLERS connections dribbling a request head a byte a
# second and SLOW_BODIES dribbling a declared body, against the gateway on its embedded demo, while
# a normal client keeps asking /api/server/ping; the per-address connection cap is lifted so that
# the attackers (all on 127.0.0.1) are held to the deadlines alone. bench/dribblers.py prints the
# normal client's p50/p99 idle and amid the attack, and when the gateway cut each kind.
#
#   bash bench/dribblers.sh      # DRIBBLERS=1000 SLOW_BODIES=500 SECONDS_EACH=40 GATEWAY_BIN=target/release/immich-mcp-gateway
set -euo pipefail
cd "$(dirname "$0")/.."
DRIBBLERS=${DRIBBLERS:-1000} SLOW_BODIES=${SLOW_BODIES:-500} SECONDS_EACH=${SECONDS_EACH:-40}
bin=${GATEWAY_BIN:-target/release/immich-mcp-gateway}
[ -x "$bin" ] || cargo build --release --quiet --bin immich-mcp-gateway
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[server]\nmax_connections_per_client = 0\n[telemetry]\naccess_log = false\nlog_level = "warn"\n' > "$work/gw.toml"
"$bin" --demo --config "$work/gw.toml" --listen "127.0.0.1:$port" 2> "$work/gw.log" & pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
ulimit -n "$(ulimit -Hn)"
python3 bench/dribblers.py 127.0.0.1 "$port" "$DRIBBLERS" "$SLOW_BODIES" "$SECONDS_EACH"
echo "gateway RSS after: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB"
