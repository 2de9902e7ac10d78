"""Several processes serve one registry (shared PostgreSQL + blob store): nothing a client
holds -- an upload session, a registry password, a pagination token -- is tied to the process
that issued it; replication leases and event delivery work across separate worker processes;
`serve --workers N` reports metrics summed over its processes and survives a worker crash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import httpx
import pytest

from crossreg.iam.statements import merge_statement, replication_statement
from tests.support.deployment import REGION, Deployment, OciClient
from tests.support.images import build_image
from tests.support.server import free_port, new_server

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_admin_url):
    dep = Deployment.create(tmp_path_factory.mktemp("pair"), postgres_admin_url, api_processes=2)
    dep.create_account("provider", "111111111111")
    dep.create_account("owner", "222222222222")
    dep.start()
    yield dep
    dep.stop()


def test_chunked_upload_alternating_between_processes(pair):
    a, b = pair.servers
    provider = pair.accounts["provider"]
    pair.servers[0].boto3(provider).create_repository(repositoryName="alternate")
    client = OciClient(a.password(provider))  # a password from one process, used on both
    try:
        data = os.urandom(1_000_003)
        # 16 PATCHes alternate a, b, a, b, ...; each process continues the hash the other left
        digest = client.push_blob_chunked([a, b], provider, "alternate", data, chunk=64 * 1024)
        for srv in (a, b):
            r = client.http.get(f"{client.base(srv, provider, 'alternate')}/blobs/{digest}")
            assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest[7:]

        # a process that saw an upload earlier must not reuse its stale hash state: a, b, a
        base_a, base_b = client.base(a, provider, "alternate"), client.base(b, provider, "alternate")
        parts = [os.urandom(1000), os.urandom(2000), os.urandom(3000)]
        location = client.http.post(f"{base_a}/blobs/uploads/").headers["Location"]
        offset = 0
        for srv, part in zip((a, b, a), parts):
            r = client.http.patch(f"{srv.url}{location}", content=part,
                                  headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"})
            assert r.status_code == 202, r.text
            offset += len(part)
        # the status, asked of the other process, agrees
        r = client.http.get(f"{b.url}{location}")
        assert r.status_code == 204 and r.headers["Range"] == f"0-{offset - 1}"
        # a stale offset is refused by either process, and changes nothing
        r = client.http.patch(f"{b.url}{location}", content=b"x", headers={"Content-Range": "10-10"})
        assert r.status_code == 416
        whole = b"".join(parts)
        wrong = "sha256:" + hashlib.sha256(whole + b"!").hexdigest()
        r = client.http.put(f"{b.url}{location}", params={"digest": wrong})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
        right = "sha256:" + hashlib.sha256(whole).hexdigest()
        r = client.http.put(f"{a.url}{location}", params={"digest": right})
        assert r.status_code == 201, r.text
        assert client.http.get(f"{base_b}/blobs/{right}").content == whole
    finally:
        client.close()


def test_ecr_layer_upload_alternating_between_processes(pair):
    a, b = pair.servers
    provider = pair.accounts["provider"]
    ecr_a, ecr_b = a.boto3(provider), b.boto3(provider)
    ecr_a.create_repository(repositoryName="ecr-alternate")
    data = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload_id = ecr_a.initiate_layer_upload(repositoryName="ecr-alternate")["uploadId"]
    for i, start in enumerate(range(0, len(data), 70_000)):
        part = data[start:start + 70_000]
        client = (ecr_b, ecr_a)[i % 2]
        out = client.upload_layer_part(repositoryName="ecr-alternate", uploadId=upload_id,
                                       partFirstByte=start, partLastByte=start + len(part) - 1,
                                       layerPartBlob=part)
        assert out["lastByteReceived"] == start + len(part) - 1
    done = ecr_b.complete_layer_upload(repositoryName="ecr-alternate", uploadId=upload_id,
                                       layerDigests=[digest])
    assert done["layerDigest"] == digest
    avail = ecr_a.batch_check_layer_availability(repositoryName="ecr-alternate", layerDigests=[digest])
    assert avail["layers"][0]["layerAvailability"] == "AVAILABLE"


def test_tokens_and_pagination_work_on_every_process(pair):
    a, b = pair.servers
    provider = pair.accounts["provider"]
    ecr_a, ecr_b = a.boto3(provider), b.boto3(provider)
    for i in range(5):
        ecr_a.create_repository(repositoryName=f"paged/r{i}")
    # ECR nextToken minted by one process, redeemed at the other
    page1 = ecr_a.describe_repositories(maxResults=2)
    seen = [r["repositoryName"] for r in page1["repositories"]]
    token = page1["nextToken"]
    while token:
        page = ecr_b.describe_repositories(maxResults=2, nextToken=token)
        seen += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
        ecr_a, ecr_b = ecr_b, ecr_a
    assert [n for n in seen if n.startswith("paged/")] == [f"paged/r{i}" for i in range(5)]
    assert len(seen) == len(set(seen))

    # OCI tag list pages, and a password issued by the other process
    client = OciClient(b.password(provider))
    try:
        image = build_image(layers=1, layer_size=512, seed=7)
        for tag in ("t1", "t2", "t3", "t4", "t5"):
            r = client.push_image([a, b], provider, "paged/r0", image, tag)
            assert r.status_code == 201, r.text
        url = f"{client.base(a, provider, 'paged/r0')}/tags/list?n=2"
        tags, servers = [], [b, a]
        while url:
            r = client.http.get(url)
            assert r.status_code == 200
            tags += r.json()["tags"]
            link = r.headers.get("Link")
            nxt = servers[len(tags) % 2]
            url = f"{nxt.url}{re.match(r'<([^>]+)>', link).group(1)}" if link else None
        assert tags == ["t1", "t2", "t3", "t4", "t5"]
    finally:
        client.close()


def test_replication_with_separate_worker_processes_runs_each_task_once(tmp_path, postgres_admin_url):
    dep = Deployment.create(tmp_path, postgres_admin_url, api_processes=2, CROSSREG_EMBEDDED_WORKERS="0")
    provider = dep.create_account("provider", "111111111111")
    owner = dep.create_account("owner", "222222222222")
    dep.start()
    try:
        a, b = dep.servers
        ecr_p, ecr_o = a.boto3(provider), b.boto3(owner)
        ecr_p.create_repository(repositoryName="model")
        ecr_p.put_replication_configuration(replicationConfiguration={"rules": [
            {"destinations": [{"region": REGION, "registryId": owner.account_id}]}]})
        ecr_o.put_registry_policy(policyText=merge_statement(None, replication_statement(
            "ReplicationAccessCrossAccount", provider.account_id, REGION, owner.account_id)))
        client = OciClient(a.password(provider))
        images = [build_image(layers=2, layer_size=2048, seed=100 + i) for i in range(8)]
        try:
            for i, image in enumerate(images):  # pushes alternate between the API processes
                r = client.push_image([(a, b)[i % 2], (b, a)[i % 2]], provider, "model", image, f"v{i}")
                assert r.status_code == 201, r.text
            # no worker yet: the API processes do not replicate (embedded workers are off)
            time.sleep(1)
            assert {t["status"] for t in dep.sql("select status from replication_tasks")} == {"PENDING"}
            metrics_ports = [free_port() for _ in range(3)]
            for name, port in zip(("worker1", "worker2", "worker3"), metrics_ports):
                dep.start_worker(name, "--concurrency", "4", "--metrics-port", str(port))
            deadline = time.time() + 90
            while time.time() < deadline:
                rows = dep.sql("select status, attempts, lease_owner from replication_tasks order by id")
                if rows and all(r["status"] == "COMPLETE" for r in rows):
                    break
                time.sleep(0.5)
            assert len(rows) == 8 and all(r["status"] == "COMPLETE" for r in rows), rows
            assert [r["attempts"] for r in rows] == [1] * 8  # claimed once: SKIP LOCKED leases
            # every image is in the owner's registry, pullable through either process
            owner_client = OciClient(b.password(owner))
            try:
                for i, image in enumerate(images):
                    owner_client.verify_image((a, b)[i % 2], owner, "model", f"v{i}", image)
            finally:
                owner_client.close()
            # the workers report what they did on their own metrics endpoints
            completed = sum(_metric(httpx.get(f"http://127.0.0.1:{port}/metrics").text,
                                    "crossreg_replication_results_total", 'status="COMPLETE"')
                            for port in metrics_ports)
            assert completed == 8
            # each event was delivered (logged) by exactly one process
            time.sleep(2.5)
            undelivered = dep.sql("select count(*) as n from events where delivered_at is null")[0]["n"]
            assert undelivered == 0
            ids = []
            for log in [dep.root / f"worker{i}.log" for i in (1, 2, 3)]:
                for line in log.read_text().splitlines():
                    if " crossreg.events event " in line:
                        ids.append(json.loads(line.split(" crossreg.events event ", 1)[1])["id"])
            events = dep.sql("select body from events")
            assert sorted(ids) == sorted(json.loads(e["body"])["id"] for e in events)
        finally:
            client.close()
    finally:
        dep.stop()


def _metric(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_serve_workers_share_metrics_and_survive_a_worker_crash(tmp_path, postgres_admin_url):
    from tests.support.postgres import create_database

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    srv = new_server(tmp_path, CROSSREG_DATABASE_URL=create_database(postgres_admin_url),
                     PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    srv.serve_args = ["--workers", "2"]
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    try:
        deadline = time.time() + 30
        while len([p for p in _children(srv.process.pid) if _is_python(p)]) < 2 and time.time() < deadline:
            time.sleep(0.2)
        workers = [p for p in _children(srv.process.pid) if _is_python(p)]
        assert len(workers) == 2, workers
        n = 60
        for _ in range(n):  # new connections, spread over both processes by the kernel
            assert httpx.get(f"{srv.url}/v2/").status_code == 401
        files = {f.name for f in metrics_dir.iterdir()}
        assert {f"counter_{p}.db" for p in workers} <= files, files  # both processes counted
        for _ in range(6):  # whichever process answers, it reports the sum
            text = httpx.get(f"{srv.url}/metrics").text
            assert _metric(text, "crossreg_http_requests_total", 'api="oci",method="GET",status="401"') == n

        # kill -9 one API process: the others keep serving, the supervisor starts a new one
        os.kill(workers[0], signal.SIGKILL)
        ecr = srv.boto3(provider)
        for i in range(20):
            ecr.create_repository(repositoryName=f"after-crash/{i}")
        deadline = time.time() + 30
        while time.time() < deadline:
            now = [p for p in _children(srv.process.pid) if _is_python(p)]
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and workers[0] not in now, now
        assert len(ecr.describe_repositories(maxResults=100)["repositories"]) == 20
        # the dead process's counts still count (counters never go backwards)
        text = httpx.get(f"{srv.url}/metrics").text
        assert _metric(text, "crossreg_http_requests_total", 'api="oci",method="GET",status="401"') == n
    finally:
        srv.stop()


def _is_python(pid: int) -> bool:
    """An API process of uvicorn's supervisor (not, e.g., multiprocessing's resource tracker)."""
    try:
        return "spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
    except OSError:
        return False


def test_an_upload_spread_over_processes_is_read_back_once(tmp_path, postgres_admin_url):
    """Chunks landing on alternating processes are not re-hashed from storage each time (that
    would be quadratic in the upload's size): the digest is computed from storage once, at
    completion. Two service instances on one database and store stand for two processes."""
    from crossreg.metadata.db import Database
    from crossreg.services.models import RepoKey
    from crossreg.services.registry import RegistryService
    from crossreg.storage.filesystem import FilesystemBlobStore
    from tests.support.postgres import create_database

    class CountingStore(FilesystemBlobStore):
        read = 0

        def read_upload(self, upload_id, chunk_size=1 << 20):
            for data in super().read_upload(upload_id, chunk_size):
                CountingStore.read += len(data)
                yield data

    db = Database(create_database(postgres_admin_url))
    db.migrate()
    try:
        with db.write() as c:
            c.exec_driver_sql("insert into accounts values ('111111111111', 'a', 'AKIA1', 's', 0)")
        p1, p2 = (RegistryService(db, CountingStore(tmp_path / "blobs")) for _ in range(2))
        repo = p1.create_repository(RepoKey("111111111111", REGION, "spread"))
        upload = p1.start_upload(repo)
        parts = [os.urandom(256 * 1024) for _ in range(16)]
        for i, part in enumerate(parts):
            chunk = (p1, p2)[i % 2].open_upload_chunk(repo, upload, i * len(part))
            chunk.write(part)
            chunk.commit()
        whole = b"".join(parts)
        digest = "sha256:" + hashlib.sha256(whole).hexdigest()
        assert CountingStore.read == 0
        assert p2.complete_upload(repo, upload, digest) == len(whole)
        assert CountingStore.read == len(whole)  # once, not once per chunk
        assert b"".join(p1.read_blob(digest)) == whole
        # a wrong digest is still refused
        other = p1.start_upload(repo)
        for i, part in enumerate(parts[:2]):
            chunk = (p2, p1)[i % 2].open_upload_chunk(repo, other, i * len(part))
            chunk.write(part)
            chunk.commit()
        with pytest.raises(Exception) as info:
            p1.complete_upload(repo, other, digest)
        assert type(info.value).__name__ == "DigestMismatch"
    finally:
        db.dispose()
