#!/usr/bin/env bash
# /run latency of two endpoint-server builds side by side, alternating, in one run:
#   crates/endpoint-server/bench/compare-run.sh BIN_A BIN_B [rounds] [connections]
# Each round starts each binary on a fresh SQLite database and drives durable POST /run
# with wrk (1 thread, 10 s), printing requests/s, p50 and p99.
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-2}; CONN=${4:-32}
here=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; curl -s "http://127.0.0.1:$1/" >/dev/null 2>&1 && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
  for which in A B; do
    BIN=$A; [ "$which" = B ] && BIN=$B
    rm -f "$DIR"/run.db*
    "$BIN" serve --listen 127.0.0.1:18125 --db "$DIR/run.db" --no-rate-limits --max-workers 8 --cold-start-ms 10 >/dev/null 2>"$DIR/err" &
    SPID=$!
    wait_up 18125
    out=$(wrk -t1 -c"$CONN" -d10s --latency -s "$here/run.lua" http://127.0.0.1:18125/v2/local/run)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "round $r $which: $rps req/s, p50 $p50, p99 $p99"
    kill $SPID; wait $SPID 2>/dev/null || true
  done
done
