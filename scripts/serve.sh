#!/usr/bin/env bash
# Runs crossreg on the embedded default (SQLite + files in ./.data) at http://127.0.0.1:5000.
# On first start it creates an account and prints its credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh runtime
export CROSSREG_DATA_DIR="${CROSSREG_DATA_DIR:-$PWD/.data}"
if [ "$(.venv/bin/crossreg --log-level WARNING accounts list)" = "[]" ]; then
  echo "First start: created this account (keep the secret; list accounts with 'crossreg accounts list'):" >&2
  .venv/bin/crossreg --log-level WARNING accounts create --name default >&2
fi
exec .venv/bin/crossreg serve "$@"
