#!/usr/bin/env bash
# The coverage-guided campaign: each target under libFuzzer (cargo-fuzz, --sanitizer none, on the
# stable toolchain) until RUNS executions or SECONDS seconds, JOBS targets at a time; new inputs go
# to a scratch corpus (fuzz/corpus holds the committed seeds); a crash stops its target and leaves
# its input in fuzz/artifacts/<target>/. Prints one line per target: executions, seconds, exec/s.
#
#   cargo install cargo-fuzz --locked      # once (~40 s)
#   bash fuzz/run.sh                       # every target, 10 million executions or 20 minutes
#   RUNS=100000 SECONDS_EACH=60 bash fuzz/run.sh jsonrpc config
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
SECONDS_EACH=${SECONDS_EACH:-1200}
JOBS=${JOBS:-2}
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
work=${WORK:-/tmp/immich-mcp-gateway-fuzz}
mkdir -p "$work/bin"
# Built once, and run from a copy: editing the sources while it runs changes nothing.
cargo fuzz build --sanitizer none -O >/dev/null
for target in "${targets[@]}"; do
  cp "target/x86_64-unknown-linux-gnu/release/$target" "$work/bin/$target"
done

run_one() {
  local target=$1
  mkdir -p "$work/$target" "artifacts/$target"
  if "$work/bin/$target" "$work/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
      -runs="$RUNS" -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    outcome=ok
  else
    outcome="CRASH (see $work/$target.log and artifacts/$target/)"
  fi
  local runs secs
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/$target.log")
  secs=$(awk '/Done [0-9]+ runs in/ {print $(NF-1)}' "$work/$target.log")
  printf '%-14s %12s executions %6s s %10s exec/s  %s\n' "$target" "${runs:-?}" "${secs:-?}" \
    "$(awk '/stat::average_exec_per_sec/ {print $2}' "$work/$target.log")" "$outcome"
}

running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n
    running=$((running - 1))
  fi
done
wait
