#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian + Python 3.11 machine, start a
# private PostgreSQL server for the Postgres store tests, and run the whole suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# 1. System packages: PostgreSQL (store tests), poppler (pdftotext/pdftoppm), chromium (index
#    page test), systemd (systemd-analyze verify), fonts for PDFs.
APT_PACKAGES=(postgresql poppler-utils chromium chromium-driver systemd fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "== not root: cannot install ${missing[*]}; tests needing them will say so" >&2
  fi
fi

# 2. Python environment.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]'

# 3. A throwaway PostgreSQL cluster on a unix socket, owned by an unprivileged user.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
run_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
trap cleanup EXIT
if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then
  PG_DIR=$(mktemp -d /tmp/autoflow-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  run_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U autoflow --auth=trust >/dev/null
  run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-k $PG_DIR -c listen_addresses='' -c fsync=off -c full_page_writes=off" start >/dev/null
  run_pg "$PG_BIN/createdb" -h "$PG_DIR" -U autoflow autoflow_test
  export AUTOFLOW_TEST_POSTGRES_URL="postgresql+psycopg://autoflow@/autoflow_test?host=$PG_DIR"
  echo "== PostgreSQL running for the tests on socket $PG_DIR"
fi
export AUTOFLOW_TEST_REQUIRE_SERVICES=1

# 4. The suite, across the cores (pytest-xdist; AUTOFLOW_TEST_WORKERS=0 for no worker processes;
#    a -n of yours wins). Each worker has a database of its own on the server above (tests/shared_postgres.py);
#    tests sharing a costly session fixture run on one worker (--dist loadgroup, tests/conftest.py).
#    pytest exits 5 when it collected nothing: that is a failure here.
WORKERS=${AUTOFLOW_TEST_WORKERS:-$(nproc)}
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider -n "$WORKERS" --dist loadgroup "$@"
code=$?
set -e
if [ $code -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit $code
