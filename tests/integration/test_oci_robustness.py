"""Large blobs stream in constant memory; interrupted uploads and crashes leave nothing
half-written visible; acknowledged data survives a kill -9."""

from __future__ import annotations

import hashlib
import socket
import time

import httpx
import pytest

from tests.support.server import new_server

pytestmark = pytest.mark.integration
REGION = "us-east-1"
GiB = 1 << 30


def peak_rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_one_gib_blob_push_and_pull_with_bounded_server_memory(server, provider):
    server.boto3(provider).create_repository(repositoryName="big")
    base = f"{server.url}/v2/{provider.account_id}/{REGION}/big"
    chunk = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB of non-repeating-looking bytes
    count = GiB // len(chunk)
    digest_state = hashlib.sha256()
    for _ in range(count):
        digest_state.update(chunk)
    digest = "sha256:" + digest_state.hexdigest()

    pid = server.process.pid
    before = rss_kib(pid)
    with httpx.Client(headers=server.basic_auth(provider), timeout=300) as client:
        location = client.post(f"{base}/blobs/uploads/").headers["Location"]
        r = client.put(f"{server.url}{location}", params={"digest": digest},
                       content=(chunk for _ in range(count)),
                       headers={"Content-Type": "application/octet-stream", "Content-Length": str(GiB)})
        assert r.status_code == 201, r.text
        pulled = hashlib.sha256()
        size = 0
        with client.stream("GET", f"{base}/blobs/{digest}") as response:
            assert response.status_code == 200
            for data in response.iter_bytes(1 << 20):
                pulled.update(data)
                size += len(data)
    assert size == GiB and "sha256:" + pulled.hexdigest() == digest
    grown_mib = (peak_rss_kib(pid) - before) / 1024
    print(f"server peak RSS grew by {grown_mib:.1f} MiB for a 1 GiB push and pull")
    assert grown_mib < 128, f"server memory grew by {grown_mib:.0f} MiB for a 1 GiB blob"


def test_client_disconnect_mid_chunk_leaves_upload_unchanged(server, provider):
    server.boto3(provider).create_repository(repositoryName="interrupted")
    path = f"/v2/{provider.account_id}/{REGION}/interrupted"
    auth = server.basic_auth(provider)
    with httpx.Client(base_url=server.url, headers=auth) as client:
        location = client.post(f"{path}/blobs/uploads/").headers["Location"]
        first = b"x" * 1000
        r = client.patch(location, content=first, headers={"Content-Type": "application/octet-stream"})
        assert r.headers["Range"] == "0-999"
        location = r.headers["Location"]
    # A PATCH that promises 1 MiB, sends 10 KiB and hangs up.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\n"
                      f"Authorization: {auth['Authorization']}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {1 << 20}\r\n\r\n").encode() + b"y" * 10240)
        time.sleep(0.3)
    time.sleep(0.3)
    with httpx.Client(base_url=server.url, headers=auth) as client:
        status = client.get(location)
        assert status.status_code == 204 and status.headers["Range"] == "0-999"  # nothing of the broken chunk
        rest = b"z" * 500
        r = client.put(location, params={"digest": "sha256:" + hashlib.sha256(first + rest).hexdigest()},
                       content=rest, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text


def test_kill_9_mid_upload_keeps_acknowledged_data_and_shows_no_partial_blob(tmp_path):
    srv = new_server(tmp_path)
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    base = f"/v2/{provider.account_id}/{REGION}/crash"
    try:
        srv.boto3(provider).create_repository(repositoryName="crash")
        auth = srv.basic_auth(provider)
        done = b"acknowledged blob" * 1000
        done_digest = "sha256:" + hashlib.sha256(done).hexdigest()
        with httpx.Client(base_url=srv.url, headers=auth) as client:
            assert client.post(f"{base}/blobs/uploads/", params={"digest": done_digest}, content=done).status_code == 201
            location = client.post(f"{base}/blobs/uploads/").headers["Location"]
            client.patch(location, content=b"a" * 5000, headers={"Content-Type": "application/octet-stream"})
        # a chunk in flight when the server dies
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {srv.host}\r\nAuthorization: {auth['Authorization']}\r\n"
                      f"Content-Length: {1 << 20}\r\n\r\n").encode() + b"b" * 4096)
        time.sleep(0.3)
        srv.kill()
        sock.close()
        srv.start()
        with httpx.Client(base_url=srv.url, headers=srv.basic_auth(provider)) as client:
            r = client.get(f"{base}/blobs/{done_digest}")
            assert r.status_code == 200 and r.content == done
            status = client.get(location)
            assert status.status_code == 204 and status.headers["Range"] == "0-4999"
            # the upload continues after the restart and completes with the right digest
            full = b"a" * 5000 + b"c" * 100
            r = client.put(location, params={"digest": "sha256:" + hashlib.sha256(full).hexdigest()},
                           content=b"c" * 100, headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
    finally:
        srv.stop()


def test_blob_recorded_but_lost_from_storage_is_unknown_not_a_cut_short_200(server, provider):
    """Bytes gone from under the registry (a disk restored from an older backup, an operator's
    rm): the registry answers 404 BLOB_UNKNOWN before it starts a response, never a 200 whose
    body ends early."""
    server.boto3(provider).create_repository(repositoryName="lost")
    base = f"/v2/{provider.account_id}/{REGION}/lost"
    data = b"soon lost" * 5000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=server.url, headers=server.basic_auth(provider)) as client:
        assert client.post(f"{base}/blobs/uploads/", params={"digest": digest}, content=data).status_code == 201
        [stored] = [p for p in server.data_dir.rglob(digest.split(":")[1]) if p.is_file()]
        stored.unlink()
        r = client.get(f"{base}/blobs/{digest}")
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
