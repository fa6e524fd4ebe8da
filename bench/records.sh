#!/usr/bin/env bash
# Consent records benchmark: records written per second to SQLite and PostgreSQL,
# and the request path's cost with records on and off (benches/records.rs).
#
# Starts a throwaway PostgreSQL cluster (initdb, pg_ctl) in a temporary directory on
# a free port (as the postgres user when run as root), runs the criterion bench with
# CONSENTRY_BENCH_POSTGRES pointing at it, then stops and removes the cluster.
# Without PostgreSQL binaries only SQLite and the request path are measured.
#
#   bench/records.sh                      # all of it
#   bench/records.sh records_store        # only ids matching (criterion filter)
set -euo pipefail
cd "$(dirname "$0")/.."

filter="${1:-}"
bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
dir=""
stop() {
  if [ -n "$dir" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
trap stop EXIT

if [ -n "$bin" ] && [ -x "$bin/initdb" ]; then
  dir="$(mktemp -d /tmp/consentry-bench-pg.XXXXXX)"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U consentry -E UTF8 --no-sync >/dev/null
  # Durable commits, as in production (fsync on), so that the figure means something.
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  export CONSENTRY_BENCH_POSTGRES="postgres://consentry@127.0.0.1:$port/postgres"
  echo "--- PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port"
else
  echo "--- no PostgreSQL binaries: records_store/postgres is skipped"
fi

cargo bench -j1 --bench records -- --warm-up-time 1 --measurement-time 5 $filter
