#!/usr/bin/env bash
# Runs the whole test suite: sets up what it needs, then pytest (extra args are passed on).
#
# A throw-away PostgreSQL server (tests/support/postgres.py: initdb + pg_ctl in a temporary
# directory, no systemd) is started for the run and its URL exported as
# CROSSREG_TEST_POSTGRES_URL. Without arguments, the suite runs on the embedded SQLite default,
# then the integration tests run once more with every test server on a fresh PostgreSQL
# database (CROSSREG_TEST_DATABASE=postgresql). With arguments, pytest runs once with them
# (set CROSSREG_TEST_DATABASE=postgresql to run them on PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
mkdir -p artifacts

pg_dir="$(mktemp -d /tmp/crossreg-test-pg.XXXXXX)"
stop_postgres() {
  .venv/bin/python -m tests.support.postgres stop "$pg_dir" >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_postgres EXIT
if [ -z "${CROSSREG_TEST_POSTGRES_URL:-}" ]; then
  if pg_url="$(.venv/bin/python -m tests.support.postgres start "$pg_dir")"; then
    export CROSSREG_TEST_POSTGRES_URL="$pg_url"
  else
    echo "test: PostgreSQL could not be started; PostgreSQL tests will skip" >&2
  fi
fi

pytest=(.venv/bin/python -m pytest -q -p no:cacheprovider)
if [ "$#" -gt 0 ] || [ -n "${CROSSREG_TEST_DATABASE:-}" ]; then
  "${pytest[@]}" "$@"
  exit $?
fi
status=0
"${pytest[@]}" || status=$?
if [ -n "${CROSSREG_TEST_POSTGRES_URL:-}" ]; then
  echo "test: the integration tests once more, on PostgreSQL" >&2
  CROSSREG_TEST_DATABASE=postgresql "${pytest[@]}" -m "integration and not browser and not engine_specific" \
    tests/integration || status=$?
fi
exit "$status"
