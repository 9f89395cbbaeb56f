#!/usr/bin/env bash
# Run one command with a private, throwaway PostgreSQL server (unix socket, no TCP port), as
# scripts/test.sh does for the whole suite: handy for one test folder or a benchmark.
# Usage: bash scripts/with-test-postgres.sh .venv/bin/python -m pytest tests/store -q
set -euo pipefail
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "PostgreSQL is not installed: apt-get install postgresql (scripts/test.sh does)" >&2
  exit 2
fi
run_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
PG_DIR=$(mktemp -d /tmp/autoflow-pg.XXXXXX)
cleanup() {
  run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
run_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U autoflow --auth=trust >/dev/null
run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-k $PG_DIR -c listen_addresses='' -c fsync=off -c full_page_writes=off" start >/dev/null
run_pg "$PG_BIN/createdb" -h "$PG_DIR" -U autoflow autoflow_test
export AUTOFLOW_TEST_POSTGRES_URL="postgresql+psycopg://autoflow@/autoflow_test?host=$PG_DIR"
export AUTOFLOW_TEST_REQUIRE_SERVICES=1
set +e
"$@"
code=$?
set -e
exit $code
