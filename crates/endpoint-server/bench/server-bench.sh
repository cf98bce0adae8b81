#!/usr/bin/env bash
# Server benchmarks (run by `cargo xtask bench`): restart with N retained jobs (RSS,
# start-up), a 24 h window snapshot, and wrk on /run (durable) and /status.
#   crates/endpoint-server/bench/server-bench.sh BIN [JOBS]
set -euo pipefail
BIN=${1:?path to the release endpoint-server}
JOBS=${2:-1000000}
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

wait_up() { until curl -s -o /dev/null "http://127.0.0.1:$1/v2/local/health"; do sleep 0.05; done; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== retained jobs: $JOBS over 24 h"
"$BIN" seed --db "$DIR/seed.db" --jobs "$JOBS" --span 24h
t0=$(date +%s.%N)
"$BIN" serve --listen 127.0.0.1:18123 --db "$DIR/seed.db" --no-rate-limits >/dev/null 2>"$DIR/seed.err" &
SPID=$!
wait_up 18123
t1=$(date +%s.%N)
printf "start-up with %s stored jobs: %.2f s; RSS %s MB\n" "$JOBS" "$(echo "$t1 - $t0" | bc)" "$(rss_mb $SPID)"
T=$(for i in 1 2 3 4 5; do
  curl -s -o "$DIR/snap.bin" -w "%{time_total}\n" "http://127.0.0.1:18123/v2/local/metrics/snapshot"
done | median)
printf "24 h snapshot (EMC1): median %.3f s over 5, %.1f MB\n" "$T" "$(echo "$(stat -c %s "$DIR/snap.bin") / 1000000" | bc -l)"
echo "RSS after snapshots: $(rss_mb $SPID) MB"
kill $SPID; wait $SPID 2>/dev/null || true

echo "== wrk, 1 thread, 8 connections, 10 s (same machine: wrk shares the 2 cores)"
"$BIN" serve --listen 127.0.0.1:18124 --db "$DIR/wrk.db" --no-rate-limits --max-workers 8 --cold-start-ms 10 >/dev/null 2>"$DIR/wrk.err" &
SPID=$!
wait_up 18124
ID=$(curl -s -X POST -H 'content-type: application/json' -d '{"input":{"sleepMs":1}}' \
  http://127.0.0.1:18124/v2/local/run | sed 's/.*"id":"\([^"]*\)".*/\1/')
echo "-- POST /run (each answer after its SQLite commit)"
wrk -t1 -c8 -d10s --latency -s "$here/run.lua" http://127.0.0.1:18124/v2/local/run \
  | grep -E "Requests/sec|^ +(50|99)%|Non-2xx"
echo "-- POST /run, 32 connections, closed loop with exact latencies (endpoint-server load)"
"$BIN" load --url http://127.0.0.1:18124 --connections 32 --duration 10s
echo "-- GET /status/{id}"
wrk -t1 -c8 -d10s --latency "http://127.0.0.1:18124/v2/local/status/$ID" \
  | grep -E "Requests/sec|^ +(50|99)%|Non-2xx"
kill $SPID; wait $SPID 2>/dev/null || true
