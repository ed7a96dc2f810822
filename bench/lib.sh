# Shared by the benchmark scripts (source it from the repository root): a scratch directory
# removed on exit with every process listed in `pids`, free loopback ports, the release
# binaries, the demo Immich and the gateway.
work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as www-data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# median REGEX FIELD: the median of column FIELD over the lines of $work/results matching REGEX.
median() { grep "$1" "$work/results" | awk -v f="$2" '{print $f}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT [PATH]: until http://127.0.0.1:PORT/PATH answers (10 s at most).
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/${2:-}" && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
cargo build --release --quiet --bin immich-mcp-gateway --example demo-immich
# start_demo ASSETS: the demo Immich in the background; its base URL in $demo.
start_demo() {
  target/release/examples/demo-immich "$1" > "$work/demo.addr" & pids+=($!)
  sleep 0.5; demo=$(cat "$work/demo.addr")
}
# start_gateway PORT THREADS TOML [ARGS...]: the gateway with access logs off and TOML (further
# sections) added to its config, listening on PORT when this returns; its pid in $gateway_pid.
# GATEWAY_BIN runs another build (a baseline) instead of target/release's.
start_gateway() {
  local gw=$1 threads=$2 extra=$3; shift 3
  printf '[server]\nthreads = %s\nupgrade_sock = "%s/upgrade-%s.sock"\n%b\n[telemetry]\naccess_log = false\nlog_level = "warn"\n' \
    "$threads" "$work" "$gw" "$extra" > "$work/gateway-$gw.toml"
  "${GATEWAY_BIN:-target/release/immich-mcp-gateway}" "$@" --config "$work/gateway-$gw.toml" --listen "127.0.0.1:$gw" 2>> "$work/gateway.log" &
  gateway_pid=$!; pids+=($gateway_pid)
  wait_port "$gw" health
}
