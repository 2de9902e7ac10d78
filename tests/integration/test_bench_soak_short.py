"""The soak (bench/soak.py --short) runs so it cannot rot, and proves what it measures on the
production layout -- `serve --workers N` + a separate worker on PostgreSQL and S3, 64 clients
pushing, pulling and listing --: no error, every replication COMPLETE exactly once, every image
pulls back with verified digests, and the JSON carries the curve."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.support.server import REPO_ROOT

# Starts its own servers on PostgreSQL: nothing to gain from scripts/test.sh's PostgreSQL pass.
pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]


def test_short_soak_has_no_errors_and_replicates_every_image(tmp_path, postgres_admin_url, request):
    pytest.importorskip("boto3")
    try:  # the session's S3 server; without Ceph the soak uses a shared directory and says so
        storage = ["--s3-endpoint", request.getfixturevalue("s3_server").endpoint_url]
    except pytest.skip.Exception:
        storage = ["--no-s3"]
    out = tmp_path / "soak.json"
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "bench/soak.py", "--short", "--json", str(out), "--workdir", str(tmp_path),
                          "--postgres-url", postgres_admin_url, *storage],
                         capture_output=True, text=True, timeout=170, cwd=REPO_ROOT)
    elapsed = time.monotonic() - t0
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    data = json.loads(out.read_text())
    assert data["ok"] is True and data["plan"]["name"] == "short" and data["plan"]["clients"] == 64
    assert data["machine"]["cores"] >= 1
    assert [r["processes"] for r in data["runs"]] == [1, 2]
    for r in data["runs"]:
        assert r["errors"] == 0 and r["error_samples"] == [], r["error_samples"]
        assert not r["server_5xx"] and r["server_log_problems"] == 0, r["server_log_samples"]
        # Throughput inside the measured window: requests and bytes (on a loaded machine 64 clients
        # may finish few whole images in 15 s, each push queueing for the write lock).
        assert r["requests_per_second"] > 0 and r["mb_per_second"]["pushed"] > 0, r
        assert "total" in r["ops_per_second"] and r["images_pushed_total"] > 0
        assert {"push", "pull", "pull_replica", "list_tags", "login"} <= set(r["latency"])
        measured = [v for v in r["latency"].values() if v["count"]]
        assert measured and all(v["p99_ms"] >= v["p50_ms"] > 0 for v in measured), r["latency"]
        assert set(r["cpu"]["cpu_seconds"]) == {"api", "worker", "postgres", "s3", "client"}
        assert len(r["cpu"]["api_process_seconds"]) == r["processes"]
        rep = r["replication"]
        assert rep["ok"] and rep["images_replicated_repos"] > 0, rep
        assert rep["complete_exactly_once"] == rep["images_replicated_repos"] == rep["tasks"], rep
        assert rep["failed"] == rep["not_finished"] == rep["unexpected_tasks"] == 0, rep
        assert rep["describe_checked"] == rep["describe_complete"] == rep["images_replicated_repos"], rep
        ver = r["verification"]
        assert ver["ok"] and ver["verified"] == ver["images"] == r["images_pushed_total"] > 0, ver
        assert ver["replicas_verified"] == ver["replicas"] == rep["images_replicated_repos"], ver
    curve = data["curve"]
    assert [c["processes"] for c in curve] == [1, 2]
    assert all(c["requests_per_second"] > 0 for c in curve)
    assert "| API processes |" in run.stdout
    print(f"short soak: {elapsed:.0f} s, curve {curve}")
