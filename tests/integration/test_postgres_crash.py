"""Crash safety with several processes on PostgreSQL: while clients push images with chunked
uploads spread over two API processes (and the pushes replicate to another account), one
process is killed with SIGKILL at random moments and restarted. Afterwards every acknowledged
push pulls intact from both processes (all digests re-computed), every replication task
finished COMPLETE exactly once, every stored blob matches its digest, every open upload still
holds the bytes it acknowledged, and nothing half-written is visible."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time

import httpx
import pytest

from crossreg.iam.statements import merge_statement, replication_statement
from tests.support.deployment import REGION, Deployment, OciClient
from tests.support.images import build_image

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]

CLIENTS = 6


def test_kill_9_during_pushes_and_chunked_uploads(tmp_path, postgres_admin_url):
    seed = int(os.environ.get("CROSSREG_CRASH_SEED", time.time()))
    rng = random.Random(seed)
    print(f"crash test seed {seed} (CROSSREG_CRASH_SEED reproduces the schedule)")
    dep = Deployment.create(tmp_path, postgres_admin_url, api_processes=2)
    provider = dep.create_account("provider", "111111111111")
    owner = dep.create_account("owner", "222222222222")
    dep.start()
    a, b = dep.servers
    try:
        ecr = b.boto3(provider)
        ecr.create_repository(repositoryName="app")
        ecr.put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [{"region": REGION, "registryId": owner.account_id}]}]})
        b.boto3(owner).put_registry_policy(policyText=merge_statement(None, replication_statement(
            "ReplicationAccessCrossAccount", provider.account_id, REGION, owner.account_id)))
        password = b.password(provider)

        acknowledged: list[tuple[str, object]] = []
        failures = [0]
        reasons: dict[str, int] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def pusher(n: int) -> None:
            client = OciClient(password, timeout=20)
            sizes = random.Random(seed + n)
            k = 0
            try:
                while not stop.is_set():
                    k += 1
                    image = build_image(layers=2, layer_size=sizes.randint(20_000, 120_000), seed=n * 10_000 + k)
                    order = [a, b] if (n + k) % 2 else [b, a]
                    tag = f"c{n}-{k}"
                    try:
                        r = client.push_image(order, provider, "app", image, tag, chunk=16 * 1024)
                    except (httpx.HTTPError, AssertionError) as exc:
                        failures[0] += 1
                        reasons[type(exc).__name__ + ": " + str(exc)[:60]] = 1 + reasons.get(
                            type(exc).__name__ + ": " + str(exc)[:60], 0)
                        if isinstance(exc, httpx.ConnectError):
                            time.sleep(0.05)  # that process is down: no busy loop
                        continue
                    if r.status_code == 201:
                        with lock:
                            acknowledged.append((tag, image))
                    else:
                        failures[0] += 1
                        reasons[f"manifest {r.status_code}"] = 1 + reasons.get(f"manifest {r.status_code}", 0)
            finally:
                client.close()

        threads = [threading.Thread(target=pusher, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        kills = 0
        try:
            for _ in range(3):
                time.sleep(rng.uniform(1.0, 3.0))
                a.kill()  # SIGKILL, mid-request for some of the clients
                kills += 1
                time.sleep(rng.uniform(0.2, 1.0))
                a.start()
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        assert kills == 3
        assert len(acknowledged) >= 10, (len(acknowledged), failures[0])
        print(f"{len(acknowledged)} pushes acknowledged, {failures[0]} interrupted, {kills} kills")
        print("interruptions:", reasons)
        assert all(("Connect" in k or "Read" in k or "Remote" in k or "503" in k or "404" in k
                    or "416" in k) for k in reasons), reasons

        client = OciClient(password)
        try:
            # every acknowledged push is intact, through both processes
            for tag, image in acknowledged:
                for srv in (a, b):
                    client.verify_image(srv, provider, "app", tag, image)
            # nothing half-written is visible: every tag leads to a complete image
            tags = client.http.get(f"{client.base(a, provider, 'app')}/tags/list").json()["tags"]
            assert {t for t, _ in acknowledged} <= set(tags)
            for tag in tags:
                r = client.http.get(f"{client.base(b, provider, 'app')}/manifests/{tag}",
                                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
                assert r.status_code == 200
                doc = json.loads(r.content)
                for d in [doc["config"], *doc["layers"]]:
                    blob = client.http.get(f"{client.base(a, provider, 'app')}/blobs/{d['digest']}")
                    assert blob.status_code == 200 and len(blob.content) == d["size"]
                    assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == d["digest"]
        finally:
            client.close()

        # every recorded blob is whole in storage; every open upload holds what it acknowledged
        from crossreg.storage.filesystem import FilesystemBlobStore

        store = FilesystemBlobStore(dep.storage_url[len("file://"):])
        for row in dep.sql("select digest, size from blobs"):
            data = b"".join(store.read_blob(row["digest"]))
            assert len(data) == row["size"]
            assert "sha256:" + hashlib.sha256(data).hexdigest() == row["digest"]
        finishable = []
        for row in dep.sql("select id, size, verified_digest from uploads"):
            if store.upload_size(row["id"]) >= row["size"]:
                continue
            # killed between moving the verified bytes into place and recording the blob: the
            # bytes are in place, and the client's retried PUT finishes the upload
            assert row["verified_digest"] and store.blob_size(row["verified_digest"]) == row["size"], row
            finishable.append(row)
        client = OciClient(password)
        try:
            base = client.base(a, provider, "app")
            for row in finishable:
                r = client.http.put(f"{base}/blobs/uploads/{row['id']}", params={"digest": row["verified_digest"]})
                assert r.status_code == 201, r.text
                blob = client.http.get(f"{base}/blobs/{row['verified_digest']}")
                assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == row["verified_digest"]
        finally:
            client.close()
        print(f"{len(finishable)} uploads were killed between storing and recording a blob; retries finished them")

        # replication: every task (including those leased by a killed process) ends COMPLETE once
        deadline = time.time() + 120
        while time.time() < deadline:
            rows = dep.sql("select id, status from replication_tasks")
            if rows and all(r["status"] == "COMPLETE" for r in rows):
                break
            time.sleep(1)
        assert rows and all(r["status"] == "COMPLETE" for r in rows), [r for r in rows if r["status"] != "COMPLETE"]
        outcomes = dep.sql("select body from events where detail_type = 'ECR Replication Action'")
        assert len(outcomes) == len(rows), (len(outcomes), len(rows))  # one outcome per task
        owner_client = OciClient(b.password(owner))
        try:
            for tag, image in acknowledged:
                owner_client.verify_image(a, owner, "app", tag, image)
        finally:
            owner_client.close()
    finally:
        dep.stop()
    for srv in (a, b):
        assert "Exception in ASGI application" not in srv.log_path.read_text()
