#!/usr/bin/env bash
# Durable POST /run: two instances over one PostgreSQL beside one server on SQLite, in
# one run, alternating (issue 15's target: >= 5,000 req/s at p99 < 20 ms with two
# instances), then the failover time (kill -9 of the leader until the other instance
# answers /run again).
#   crates/endpoint-server/bench/cluster-bench.sh BIN [rounds] [connections]
# BIN is a release endpoint-server. PostgreSQL is a throwaway cluster from Debian's
# packages (cargo xtask setup installs them) with its default durability (fsync on,
# synchronous_commit on: it survives an OS crash, which SQLite's WAL with
# synchronous=NORMAL does not), run as the `postgres` user when this runs as root.
# Each round drives `BIN load --connections N/2` against each instance at once (their
# req/s add up; each prints its own quantiles), and `--connections N` against SQLite;
# the PostgreSQL pair runs twice: with the default synchronous_commit (each commit
# waits for its WAL fsync) and with synchronous_commit=off on its database (a commit
# waits for PostgreSQL's WAL buffers only: it survives a crash of endpoint-server, not
# of PostgreSQL or the OS; SQLite's synchronous=NORMAL survives the first two).
set -euo pipefail
BIN=$(realpath "$1"); ROUNDS=${2:-3}; CONN=${3:-32}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d); chmod 755 "$DIR"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid postgres --regid postgres --init-groups); chown postgres: "$DIR"; fi
PGPORT=18432
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/pg" --auth=trust --username=endpoint >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w \
  -o "-p $PGPORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
wait_up() { for _ in $(seq 150); do curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/local/health" 2>/dev/null | grep -q 200 && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
n=0
pg_url() { echo "postgres://endpoint@127.0.0.1:$PGPORT/$1"; }
serve() { # PORT DB LOG
  "$BIN" serve --listen "127.0.0.1:$1" --db "$2" --no-rate-limits --max-workers 8 --cold-start-ms 10 >/dev/null 2>"$3" &
}
half=$((CONN / 2))
for r in $(seq "$ROUNDS"); do
  # SQLite, one server.
  rm -f "$DIR"/run.db*
  serve 18125 "$DIR/run.db" "$DIR/sqlite.err"; s=$!
  wait_up 18125
  echo "round $r sqlite: $("$BIN" load --url http://127.0.0.1:18125 --connections "$CONN" --duration 10s)"
  kill $s; wait $s 2>/dev/null || true
  for sync in on off; do
  # PostgreSQL, two instances on a fresh database.
  n=$((n + 1)); "${AS[@]}" "$PGBIN/createdb" -h "$DIR" -p $PGPORT -U endpoint "r$n"
  "${AS[@]}" "$PGBIN/psql" -q -h "$DIR" -p $PGPORT -U endpoint -d "r$n" \
    -c "ALTER DATABASE r$n SET synchronous_commit = $sync"
  serve 18126 "$(pg_url "r$n")" "$DIR/a.err"; a=$!
  wait_up 18126
  serve 18127 "$(pg_url "r$n")" "$DIR/b.err"; b=$!
  wait_up 18127
  "$BIN" load --url http://127.0.0.1:18126 --connections "$half" --duration 10s > "$DIR/la" &
  la=$!
  "$BIN" load --url http://127.0.0.1:18127 --connections "$half" --duration 10s > "$DIR/lb"
  wait $la
  echo "round $r postgres synchronous_commit=$sync, instance A (leader): $(cat "$DIR/la")"
  echo "round $r postgres synchronous_commit=$sync, instance B (forwards): $(cat "$DIR/lb")"
  # Failover: kill -9 the leader, time until B answers /run.
  kill -9 $a; wait $a 2>/dev/null || true
  t0=$(date +%s.%N)
  for _ in $(seq 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
      -d '{"input":{}}' http://127.0.0.1:18127/v2/local/run || true)
    [ "$code" = 200 ] && break
    sleep 0.05
  done
  echo "round $r failover: B answered /run $(awk "BEGIN {printf \"%.2f\", $(date +%s.%N) - $t0}") s after kill -9 of A (last code $code)"
  kill $b; wait $b 2>/dev/null || true
  done
done
