"""Several crossreg processes sharing one PostgreSQL database and one blob store, as in the
production layout (docs/deployment.md), plus a small OCI client that pushes with chunked
uploads -- each request to whichever process the test names -- and verifies pulls."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.images import BuiltImage
from tests.support.postgres import create_database
from tests.support.server import CROSSREG, REPO_ROOT, Account, Server, new_server

REGION = "us-east-1"


@dataclass
class Deployment:
    root: Path
    database_url: str
    storage_url: str
    servers: list[Server]
    workers: list[subprocess.Popen] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, admin_url: str, api_processes: int = 2, **env: str) -> "Deployment":
        database_url = create_database(admin_url)
        storage = root / "blobs"
        storage.mkdir(parents=True, exist_ok=True)
        storage_url = f"file://{storage}"
        servers = [new_server(root / f"api{i}", CROSSREG_DATABASE_URL=database_url,
                              CROSSREG_STORAGE_URL=storage_url, **env) for i in range(api_processes)]
        return cls(root, database_url, storage_url, servers)

    def create_account(self, name: str, account_id: str) -> Account:
        acct = self.servers[0].create_account(name, account_id)
        for srv in self.servers[1:]:
            srv.accounts[name] = acct
        self.accounts[name] = acct
        return acct

    def start(self) -> None:
        for srv in self.servers:
            srv.start()

    def start_worker(self, name: str, *args: str, log_level: str = "INFO") -> subprocess.Popen:
        """A `crossreg worker` process on the same database and storage."""
        log = open(self.root / f"{name}.log", "ab")
        env = {**self.servers[0].env, "CROSSREG_LOG_LEVEL": log_level}
        proc = subprocess.Popen([*CROSSREG, "worker", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT, start_new_session=True)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for srv in self.servers:
            srv.stop()
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def sql(self, query: str, params: dict | None = None) -> list[dict]:
        return self.servers[0].sql(query, params)


class OciClient:
    """Pushes and pulls over the OCI API with one registry password, request by request on the
    server the caller picks (the password is valid on every process)."""

    def __init__(self, password: str, timeout: float = 60):
        token = __import__("base64").b64encode(f"AWS:{password}".encode()).decode()
        self.http = httpx.Client(headers={"Authorization": f"Basic {token}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def base(server: Server, account: Account, repo: str) -> str:
        return f"{server.url}/v2/{account.account_id}/{REGION}/{repo}"

    def push_blob_chunked(self, servers: list[Server], account: Account, repo: str, data: bytes,
                          chunk: int = 64 * 1024) -> str:
        """POST on servers[0], PATCH chunk i on servers[(i + 1) % n], PUT on the next one."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        n = len(servers)
        r = self.http.post(f"{self.base(servers[0], account, repo)}/blobs/uploads/")
        r.raise_for_status()
        location = r.headers["Location"]
        offset, i = 0, 0
        while offset < len(data) or i == 0:
            part = data[offset:offset + chunk]
            if not part:
                break
            srv = servers[(i + 1) % n]
            r = self.http.patch(f"{srv.url}{location}", content=part, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(part) - 1}"})
            if r.status_code != 202:
                raise AssertionError(f"PATCH on {srv.port}: {r.status_code} {r.text}")
            assert r.headers["Range"] == f"0-{offset + len(part) - 1}", r.headers
            location = r.headers["Location"]
            offset += len(part)
            i += 1
        srv = servers[(i + 1) % n]
        r = self.http.put(f"{srv.url}{location}", params={"digest": digest})
        if r.status_code != 201:
            raise AssertionError(f"PUT on {srv.port}: {r.status_code} {r.text}")
        return digest

    def push_image(self, servers: list[Server], account: Account, repo: str, image: BuiltImage, tag: str,
                   chunk: int = 64 * 1024) -> httpx.Response:
        for blob in (image.config, *image.layers):
            self.push_blob_chunked(servers, account, repo, blob, chunk)
        return self.http.put(f"{self.base(servers[-1], account, repo)}/manifests/{tag}", content=image.manifest,
                             headers={"Content-Type": json.loads(image.manifest)["mediaType"]})

    def verify_image(self, server: Server, account: Account, repo: str, ref: str, image: BuiltImage) -> None:
        """The manifest and every blob pull with the right bytes (digests re-computed)."""
        base = self.base(server, account, repo)
        r = self.http.get(f"{base}/manifests/{ref}", headers={"Accept": json.loads(image.manifest)["mediaType"]})
        assert r.status_code == 200, (ref, r.status_code, r.text)
        assert r.content == image.manifest
        assert r.headers["Docker-Content-Digest"] == image.manifest_digest
        for digest, blob in image.blobs.items():
            r = self.http.get(f"{base}/blobs/{digest}")
            assert r.status_code == 200, (digest, r.status_code)
            assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
            assert r.content == blob
