#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages the tests use (when run as root
# with apt available), then a virtualenv in .venv with crossreg and its test dependencies.
# Usage: scripts/setup.sh [runtime|test]
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"

need_apt=()
if [ "$mode" = "test" ]; then
  command -v skopeo >/dev/null || need_apt+=(skopeo)
  command -v chromium >/dev/null || need_apt+=(chromium)
  # A CJK font, so the Chinese console pages in the browser tests' screenshots are legible.
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
  command -v docker-registry >/dev/null || need_apt+=(docker-registry)
  # Ceph's radosgw (S3) on a one-node cluster that the S3 storage tests start themselves
  # (tests/support/s3server.py) in a directory of their own; the packaged services stay unused.
  for tool in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw ceph:ceph-common; do
    command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool##*:}")
  done
  # PostgreSQL: scripts/test.sh starts a throw-away server of its own (tests/support/postgres.py);
  # nginx: the load balancer of the production-layout test (deploy/nginx/crossreg.conf).
  [ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing ${need_apt[*]} (install them with apt-get as root); related tests will skip" >&2
  fi
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=".venv/.crossreg-$mode-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  if [ "$mode" = "test" ]; then
    .venv/bin/pip install -q -e ".[test]"
  else
    .venv/bin/pip install -q -e .
  fi
  touch "$stamp"
fi
