"""`crossreg demo` end to end, non-interactively, on a fresh data dir: the replicated image in
the owner's registry is byte-identical to the provider's, and the owner's run of the model on a
CSV gives predictions with the accuracy recorded at build time."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.server import REPO_ROOT, free_port

pytestmark = pytest.mark.integration
pytest.importorskip("sklearn", reason="the demo trains its model with scikit-learn (extra 'demo')")
boto3 = pytest.importorskip("boto3")

REPO, TAG, REGION = "breast-cancer-classifier", "latest_eif", "us-east-1"
CLI = [sys.executable, "-m", "crossreg.cli.main", "--log-level", "WARNING"]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CROSSREG_"))}
    return {**env, "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    summary_path = data_dir.parent / "summary.json"
    out = subprocess.run([*CLI, "demo", "--yes", "--keep-running", "--port", str(free_port()),
                          "--data-dir", str(data_dir), "--summary-json", str(summary_path)],
                         capture_output=True, text=True, timeout=240, cwd=REPO_ROOT, env=_env(),
                         stdin=subprocess.DEVNULL)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    pid = summary.get("server", {}).get("pid")
    try:
        assert out.returncode == 0, f"demo failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
        yield {"data_dir": data_dir, "summary": summary, "stdout": out.stdout,
               "creds": json.loads((data_dir / "demo" / "credentials.json").read_text())}
    finally:
        if pid:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _ecr(summary, creds):
    return boto3.client("ecr", endpoint_url=summary["server"]["endpoint"], region_name=REGION,
                        aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=creds["secretAccessKey"])


def _run_model(demo_run, *args, stdin=None):
    summary = demo_run["summary"]
    out = subprocess.run([*CLI, "demo", "run-model", "--as", "owner", "--json",
                          "--endpoint", summary["server"]["endpoint"], "--data-dir", str(demo_run["data_dir"]),
                          *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=_env(),
                         input=stdin)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_demo_prints_every_step_and_the_equivalent_commands(demo_run):
    text = demo_run["stdout"]
    for n in range(1, 11):
        assert f"[{n}/10]" in text
    for command in ("aws ecr create-repository --repository-name breast-cancer-classifier",
                    "aws ecr put-replication-configuration", "aws ecr put-registry-policy",
                    "aws ecr describe-image-replication-status", "skopeo copy", "skopeo login",
                    "crossreg demo run-model"):
        assert command in text, command
    assert "COMPLETE" in text


def test_replicated_digest_in_owner_registry_equals_providers(demo_run):
    summary, creds = demo_run["summary"], demo_run["creds"]
    provider, owner = creds["model-provider"], creds["data-owner"]
    assert provider["accountId"] != owner["accountId"]
    assert summary["replication"]["statuses"] == [
        {"region": REGION, "registryId": owner["accountId"], "status": "COMPLETE"}]
    # Checked again here, independently of the demo's own check, through the public API.
    p_digest = _ecr(summary, provider).describe_images(
        repositoryName=REPO, imageIds=[{"imageTag": TAG}])["imageDetails"][0]["imageDigest"]
    o_ecr = _ecr(summary, owner)
    o_digest = o_ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": TAG}])["imageDetails"][0]["imageDigest"]
    assert p_digest == o_digest == summary["manifest_digest"] == summary["owner_digest"]
    # ...and over the OCI API with the owner's own registry password: same manifest bytes.
    token = o_ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    r = httpx.get(f"{summary['server']['endpoint']}/v2/{owner['accountId']}/{REGION}/{REPO}/manifests/{TAG}",
                  headers={"Authorization": f"Basic {token}",
                           "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200
    import hashlib

    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == p_digest
    # The image is the model image: entrypoint, port and the recorded accuracy in its config.
    manifest = json.loads(r.content)
    cfg = httpx.get(f"{summary['server']['endpoint']}/v2/{owner['accountId']}/{REGION}/{REPO}/blobs/"
                    f"{manifest['config']['digest']}", headers={"Authorization": f"Basic {token}"}).json()
    assert cfg["config"]["Entrypoint"] == ["python3", "/opt/model/serve.py"]
    assert "8080/tcp" in cfg["config"]["ExposedPorts"]
    assert float(cfg["config"]["Labels"]["io.crossreg.demo.model.accuracy"]) == pytest.approx(
        summary["accuracy_at_build"], abs=1e-6)


def test_demo_owner_run_reproduces_build_time_accuracy(demo_run):
    summary = demo_run["summary"]
    run = summary["run"]
    assert run["manifest_digest"] == summary["manifest_digest"]
    assert run["predictions"] == run["evaluation"]["rows"] > 100
    assert run["accuracy_at_build"] == summary["accuracy_at_build"] > 0.9
    # The owner's CSV holds the held-out patients: the model's accuracy on it is the one
    # measured when the image was built.
    assert run["evaluation"]["accuracy"] == pytest.approx(summary["accuracy_at_build"], abs=1e-6)


def test_owner_runs_model_on_a_sample_csv(demo_run, tmp_path):
    full = (demo_run["data_dir"] / "demo" / "owner-data.csv").read_text().splitlines()
    header = full[0].split(",")
    assert header[-1] == "diagnosis"
    sample = tmp_path / "sample.csv"
    # The owner's own CSV, without the diagnosis column: predictions only.
    rows = list(csv.reader(io.StringIO("\n".join(full[:21]))))
    sample.write_text("\n".join(",".join(r[:-1]) for r in rows) + "\n")
    result = _run_model(demo_run, "--csv", str(sample))
    assert len(result["predictions"]) == 20
    assert {p["label"] for p in result["predictions"]} <= {"malignant", "benign"}
    for p in result["predictions"]:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["model"]["accuracy_at_build"] == demo_run["summary"]["accuracy_at_build"]
    assert result["image"]["metadata"]["evaluation"]["accuracy"] == demo_run["summary"]["accuracy_at_build"]
    assert result["image"]["manifest_digest"] == demo_run["summary"]["manifest_digest"]
    assert result["run"]["mode"] == "http" and result["run"]["listen"].startswith("http://127.0.0.1:")
    assert "evaluation" not in result
    # The same rows through the batch mode, CSV on stdin, give the same predictions.
    batch = _run_model(demo_run, "--csv", "-", "--mode", "stdin", stdin=sample.read_text())
    assert batch["predictions"] == result["predictions"]


def test_demo_is_rerunnable_against_a_running_server(demo_run):
    """--endpoint: the demo uses the running server, reuses its accounts and converges."""
    summary = demo_run["summary"]
    out = subprocess.run([*CLI, "demo", "--yes", "--endpoint", summary["server"]["endpoint"],
                          "--data-dir", str(demo_run["data_dir"]), "--summary-json",
                          str(demo_run["data_dir"] / "again.json")],
                         capture_output=True, text=True, timeout=240, cwd=REPO_ROOT, env=_env(),
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    again = json.loads((demo_run["data_dir"] / "again.json").read_text())
    assert again["owner_account"] == summary["owner_account"]
    assert again["owner_digest"] == summary["manifest_digest"]
    assert "already" in out.stdout
    # Still one rule and one policy statement: nothing was added twice.
    owner = demo_run["creds"]["data-owner"]
    provider = demo_run["creds"]["model-provider"]
    assert len(_ecr(summary, provider).describe_registry()["replicationConfiguration"]["rules"]) == 1
    policy = json.loads(_ecr(summary, owner).get_registry_policy()["policyText"])
    assert len(policy["Statement"]) == 1
