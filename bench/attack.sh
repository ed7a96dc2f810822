#!/usr/bin/env bash
# The attacker's heavy suite (issue 20 points 2, 3 and 7), each against a fresh release gateway on
# its embedded demo, all on 127.0.0.1; the fast attacks are tests (tests/attacks.rs,
# tests/faults.rs). docs/faults.md lists every attack with its outcome.
#
#   bash bench/attack.sh              # all four
#   bash bench/attack.sh idle         # 20,000 idle connections, then the cap held
#   bash bench/attack.sh streams      # 10,000 idle streams of each kind, and the stream caps
#   bash bench/attack.sh batches      # 8,000-request JSON-RPC batches
#   bash bench/attack.sh slowloris    # bench/dribblers.sh
#
# IDLE=20000 EXTRA=1000 STREAMS=10000 BATCH=8000 CAP=19900 change the sizes. Each side needs a
# descriptor per connection: the clients spread theirs over helper processes, and the gateway's
# max_connections (CAP) stays below its own open-file limit (20,000 a process on these machines,
# which not even root may raise here).
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${IDLE:-20000} EXTRA=${EXTRA:-1000} STREAMS=${STREAMS:-10000} BATCH=${BATCH:-8000} CAP=${CAP:-19900}
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"
what=${1:-all}
# What the gateway logged (warnings and errors), each message once with its count.
log_summary() { sed -E 's/^[0-9TZ:.-]+ +//' "$work/gateway.log" | cut -c1-160 | sort | uniq -c | sort -rn | head -8; : > "$work/gateway.log"; }

if [[ $what == all || $what == idle ]]; then
  echo "== $IDLE idle connections (max_connections = $CAP), then $EXTRA more; then the cap held by half-sent heads"
  gw=$(port) admin=$(port)
  start_gateway "$gw" 2 "admin_listen = \"127.0.0.1:$admin\"\nmax_connections = $CAP\nmax_connections_per_client = 0\nrequest_header_timeout = \"60s\"" --demo
  python3 bench/attack.py idle 127.0.0.1 "$gw" "$admin" "$gateway_pid" "$IDLE" "$EXTRA"
  log_summary
  kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
fi

if [[ $what == all || $what == streams ]]; then
  echo "== $STREAMS idle streams of each kind, then more past the stream caps"
  N=$STREAMS bash bench/idle_streams.sh
fi

if [[ $what == all || $what == batches ]]; then
  echo "== $BATCH-request batches: refused whole at the default max_batch_size, then answered with max_batch_size = $BATCH"
  for extra in "" "[mcp]\nmax_batch_size = $BATCH"; do
    gw=$(port)
    start_gateway "$gw" 2 "$extra" --demo
    python3 bench/attack.py batches 127.0.0.1 "$gw" "$gateway_pid" "$BATCH"
    log_summary
    kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true
  done
fi

if [[ $what == all || $what == slowloris ]]; then
  echo "== slowloris"
  bash bench/dribblers.sh
fi
