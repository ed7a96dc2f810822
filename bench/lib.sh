# Shared by the benchmark scripts (source it from the repository root): a scratch directory
# removed on exit with every process listed in `pids`, a free loopback port, the release
# binaries, and the demo Immich with N assets started in the background (its address in
# "$work/demo.addr").
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cargo build --release --quiet --bin immich-mcp-gateway --example demo-immich
start_demo() { target/release/examples/demo-immich "$1" > "$work/demo.addr" & pids+=($!); sleep 0.5; }
