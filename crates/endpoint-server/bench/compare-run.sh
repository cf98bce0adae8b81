#!/usr/bin/env bash
# /run latency of two endpoint-server builds side by side, alternating, in one run:
#   crates/endpoint-server/bench/compare-run.sh BIN_A BIN_B [rounds] [connections] [wrk]
# Each round starts each binary on a fresh SQLite database and drives durable POST /run
# for 10 s with `endpoint-server load --connections N` (BIN_B's; one thread, exact
# latencies, Little's-law check printed as "in flight"). With a fifth argument `wrk`,
# wrk -t1 drives a second pass of each round for comparison.
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-2}; CONN=${4:-32}; WRK=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/v2/local/health" && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
one() { # BIN GENERATOR
  rm -f "$DIR"/run.db*
  "$1" serve --listen 127.0.0.1:18125 --db "$DIR/run.db" --no-rate-limits --max-workers 8 --cold-start-ms 10 >/dev/null 2>"$DIR/err" &
  local spid=$!
  wait_up 18125
  if [ "$2" = wrk ]; then
    wrk -t1 -c"$CONN" -d10s --latency -s "$here/run.lua" http://127.0.0.1:18125/v2/local/run \
      | awk '/Requests\/sec/ {r=$2} $1 == "50%" {p50=$2} $1 == "99%" {p99=$2} END {printf "wrk: %s req/s, p50 %s, p99 %s\n", r, p50, p99}'
  else
    "$B" load --url http://127.0.0.1:18125 --connections "$CONN" --duration 10s
  fi
  kill $spid; wait $spid 2>/dev/null || true
}
for r in $(seq "$ROUNDS"); do
  for which in A B; do
    BIN=$A; [ "$which" = B ] && BIN=$B
    echo "round $r $which: $(one "$BIN" load)"
    [ -n "$WRK" ] && echo "round $r $which: $(one "$BIN" wrk)"
  done
done
