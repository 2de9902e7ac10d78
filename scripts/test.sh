#!/usr/bin/env bash
# Runs the whole test suite: sets up what it needs, then pytest (extra args are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
mkdir -p artifacts
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
