"""The benchmark runs (short mode) so it cannot rot: every row is there, with numbers for both
registries where both are measured."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import require_tool
from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.integration


def test_short_benchmark_writes_every_row(tmp_path):
    require_tool("skopeo")
    require_tool("docker-registry")
    pytest.importorskip("boto3")
    sys.path.insert(0, str(REPO_ROOT))
    from bench.run import ROW_IDS

    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "bench/run.py", "--short", "--json", str(out), "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=280, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["plan"]["name"] == "short"
    assert data["machine"]["cores"] >= 1 and data["machine"]["distribution"]
    rows = {r["id"]: r for r in data["rows"]}
    assert sorted(rows) == sorted(ROW_IDS)
    for row_id, row in rows.items():
        if row_id == "blob_rss_growth":  # may be zero: memory flat in blob size
            assert row["crossreg"] >= 0 and row["distribution"] >= 0
            continue
        assert isinstance(row["crossreg"], (int, float)) and math.isfinite(row["crossreg"]) and row["crossreg"] > 0, row
        if row_id.startswith(("replication_", "limit_")):
            assert row["distribution"] is None
        else:
            assert row["distribution"] > 0 and row["ratio"] == pytest.approx(row["crossreg"] / row["distribution"])
    for row_id in ("small_blob_push_c1", "manifest_get_c64", "manifest_head_c8"):
        for name, r in rows[row_id]["details"]["runs"].items():
            assert r["errors"] == 0, (row_id, name, r)
    assert rows["replication_drain_rate"]["details"]["completed"] == data["plan"]["drain_tasks"]
    assert rows["replication_latency_p50"]["details"]["errors"] == []
    assert "| measure" in run.stdout and "crossreg/Dist." in run.stdout
