"""What users see of replication besides the API: EventBridge-shaped events delivered to a
webhook, Prometheus metrics, and the `crossreg replication status` view."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from tests.integration.test_replication_seed import REGION, aws_json, owner_policy, seed_rule, skopeo_copy, wait_status
from tests.support.images import build_image_layout
from tests.support.server import free_port, new_server

pytestmark = pytest.mark.integration


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    port = free_port()
    hook = HTTPServer(("127.0.0.1", port), _Collector)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    srv = new_server(tmp_path_factory.mktemp("observed"),
                     CROSSREG_EVENT_WEBHOOK_URL=f"http://127.0.0.1:{port}/events")
    provider = srv.create_account("provider", "111111111111")
    owner = srv.create_account("owner", "222222222222")
    srv.start()
    aws_json(srv, provider, "create-repository", "--repository-name", "breast-cancer-classifier")
    aws_json(srv, provider, "put-replication-configuration", "--replication-configuration", seed_rule(owner.account_id))
    aws_json(srv, owner, "put-registry-policy", "--policy-text", owner_policy(provider.account_id, owner.account_id))
    yield srv, provider, owner
    srv.stop()
    hook.shutdown()


def test_push_and_replication_events_reach_the_webhook(observed, tmp_path):
    srv, provider, owner = observed
    image = build_image_layout(tmp_path / "img", tag="latest_eif", seed=61)
    skopeo_copy(srv, provider, image.ref,
                f"docker://{srv.host}/{provider.account_id}/{REGION}/breast-cancer-classifier:latest_eif")
    wait_status(srv, provider, "breast-cancer-classifier", image.manifest_digest, want=("COMPLETE",))
    deadline = time.time() + 10
    while time.time() < deadline:
        kinds = {(e["detail-type"], e["account"]) for e in _Collector.received}
        if {("ECR Image Action", provider.account_id), ("ECR Replication Action", owner.account_id)} <= kinds:
            break
        time.sleep(0.2)
    push = next(e for e in _Collector.received if e["detail-type"] == "ECR Image Action")
    assert push["source"] == "aws.ecr" and push["region"] == REGION
    assert push["detail"] == {"result": "SUCCESS", "repository-name": "breast-cancer-classifier",
                              "image-digest": image.manifest_digest, "action-type": "PUSH",
                              "image-tag": "latest_eif"}
    replicated = next(e for e in _Collector.received if e["detail-type"] == "ECR Replication Action")
    assert replicated["account"] == owner.account_id
    assert replicated["detail"]["result"] == "SUCCESS"
    assert replicated["detail"]["source-account"] == provider.account_id
    assert replicated["detail"]["image-digest"] == image.manifest_digest


def test_metrics_count_replications(observed):
    srv, _, _ = observed
    text = httpx.get(f"{srv.url}/metrics").text
    assert 'crossreg_replication_results_total{failure_code="",status="COMPLETE"}' in text
    assert "crossreg_replication_latency_seconds_count" in text
    assert "crossreg_http_requests_total" in text


def test_status_cli_explains_a_failure(observed, tmp_path):
    srv, provider, owner = observed
    aws_json(srv, owner, "delete-registry-policy")
    image = build_image_layout(tmp_path / "img", tag="denied", seed=62)
    skopeo_copy(srv, provider, image.ref,
                f"docker://{srv.host}/{provider.account_id}/{REGION}/breast-cancer-classifier:denied")
    wait_status(srv, provider, "breast-cancer-classifier", image.manifest_digest)
    out = srv.cli("replication", "status", "--account", provider.account_id).stdout
    assert "COMPLETE" in out and "FAILED" in out
    assert "DESTINATION_REGISTRY_ACCESS_DENIED" in out
    assert "Generate statement" in out  # what to do about it
    data = json.loads(srv.cli("replication", "status", "--json").stdout)
    assert {t["status"] for t in data["tasks"]} == {"COMPLETE", "FAILED"}
