#!/usr/bin/env bash
# Every benchmark's --quick mode (a smoke run, not a measurement), as CI runs it: `bash scripts/bench-smoke.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmarks mostly wait on child processes (agents, relays, Syncthing), so three lanes run
# side by side (about 1.2 cores busy with two); a lane's output is shown only when it fails.
bench_lane() {
  local log="$1"
  shift
  for b in "$@"; do
    local started=$SECONDS
    echo "== bench:$b --quick" >>"$log"
    if ! npm run "bench:$b" -- --quick >>"$log" 2>&1; then
      echo "bench:$b --quick failed" >>"$log"
      return 1
    fi
    echo "bench:$b --quick: $((SECONDS - started)) s" >>"$log"
  done
}
benches="$(mktemp -d)"
bench_lane "$benches/a.log" chunking index settle relay sync scale &
lane_a=$!
bench_lane "$benches/b.log" cli latency chaos &
lane_b=$!
bench_lane "$benches/c.log" delta crash idle strong &
lane_c=$!
lanes_ok=1
wait "$lane_a" || { cat "$benches/a.log"; lanes_ok=0; }
wait "$lane_b" || { cat "$benches/b.log"; lanes_ok=0; }
wait "$lane_c" || { cat "$benches/c.log"; lanes_ok=0; }
if [[ "$lanes_ok" != 1 ]]; then
  echo "a benchmark's --quick run failed"
  exit 1
fi
# Each one's time, so the lanes can be kept even.
grep -h -- "--quick: [0-9]* s$" "$benches"/?.log | tr '\n' ';' | sed 's/;$/\n/'
echo "bench --quick: all passed in $SECONDS s"

