"""Client workloads, the same code against every registry (httpx over loopback; bounded in
count and time)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

CHUNK = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MB = 1_000_000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ large blobs
def make_blob_file(path: Path, size: int) -> str:
    """`size` random bytes in `path`; returns the digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            data = os.urandom(min(CHUNK * 4, left))
            f.write(data)
            h.update(data)
            left -= len(data)
    return "sha256:" + h.hexdigest()


def _location(r: httpx.Response) -> str:
    return r.headers["location"]


def _with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def client(target, timeout: float = 300) -> httpx.Client:
    return httpx.Client(base_url=target.url, headers=target.headers, timeout=timeout)


# Large blobs go through a lean client (http.client, the body sent with sendfile and read with
# readinto into one buffer): httpx's streaming tops out well below what loopback allows
# (about 400 MB/s received here against several GB/s), and the benchmark is about the servers.
class Lean:
    def __init__(self, url: str, headers: dict | None = None):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.headers = dict(headers or {})

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def _path(location: str) -> str:
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, path: str, headers: dict | None = None,
                file: Path | None = None, offset: int = 0, length: int = 0) -> http.client.HTTPResponse:
        c = self.conn
        c.putrequest(method, self._path(path), skip_accept_encoding=True)
        for k, v in {**self.headers, **(headers or {}), "Content-Length": str(length)}.items():
            c.putheader(k, v)
        c.endheaders()
        if file is not None and length:
            with open(file, "rb") as f:
                sent = c.sock.sendfile(f, offset, length)
            assert sent == length, (sent, length)
        r = c.getresponse()
        return r

    def call(self, method: str, path: str, expect: int, **kw) -> http.client.HTTPResponse:
        r = self.request(method, path, **kw)
        body = r.read()
        assert r.status == expect, (method, path, r.status, body[:300])
        return r

    def download(self, path: str) -> int:
        self.conn.putrequest("GET", self._path(path), skip_accept_encoding=True)
        for k, v in self.headers.items():
            self.conn.putheader(k, v)
        self.conn.endheaders()
        r = self.conn.getresponse()
        assert r.status == 200, r.status
        buf = bytearray(4 * CHUNK)
        received = 0
        while n := r.readinto(buf):
            received += n
        return received


def push_monolithic(target, repo: str, path: Path, digest: str) -> float:
    """POST, then one PUT with the whole blob (sent from the file). Returns seconds."""
    size = os.path.getsize(path)
    c = Lean(target.url, target.headers)
    try:
        t0 = time.perf_counter()
        r = c.call("POST", f"/v2/{target.repo(repo)}/blobs/uploads/", 202)
        c.call("PUT", _with_digest(r.headers["location"], digest), 201, file=path, length=size,
               headers={"Content-Type": "application/octet-stream"})
        return time.perf_counter() - t0
    finally:
        c.close()


def push_chunked(target, repo: str, path: Path, digest: str, chunk_size: int) -> float:
    """POST, PATCH per chunk (Content-Range), then PUT ?digest= with no body."""
    size = os.path.getsize(path)
    c = Lean(target.url, target.headers)
    try:
        t0 = time.perf_counter()
        r = c.call("POST", f"/v2/{target.repo(repo)}/blobs/uploads/", 202)
        location = r.headers["location"]
        for offset in range(0, size, chunk_size):
            n = min(chunk_size, size - offset)
            r = c.call("PATCH", location, 202, file=path, offset=offset, length=n,
                       headers={"Content-Type": "application/octet-stream",
                                "Content-Range": f"{offset}-{offset + n - 1}"})
            location = r.headers["location"]
        c.call("PUT", _with_digest(location, digest), 201)
        return time.perf_counter() - t0
    finally:
        c.close()


def pull_blob(target, repo: str, digest: str, expected_size: int, url: str | None = None) -> float:
    """GET the blob (bytes are counted, not kept). Returns seconds."""
    c = Lean(url or target.url, target.headers if url is None else {})
    try:
        t0 = time.perf_counter()
        received = c.download(url or f"/v2/{target.repo(repo)}/blobs/{digest}")
        elapsed = time.perf_counter() - t0
    finally:
        c.close()
    assert received == expected_size, (received, expected_size)
    return elapsed


def upload_to(url: str, path: Path) -> float:
    size = os.path.getsize(path)
    c = Lean(url)
    try:
        t0 = time.perf_counter()
        c.call("PUT", url, 201, file=path, length=size)
        return time.perf_counter() - t0
    finally:
        c.close()


def file_copy(src: Path, dst: Path) -> float:
    """A plain user-space copy, 1 MiB at a time, made durable (fsync) like a committed blob."""
    t0 = time.perf_counter()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while data := fi.read(CHUNK):
            fo.write(data)
        fo.flush()
        os.fsync(fo.fileno())
    return time.perf_counter() - t0


def file_read(src: Path) -> float:
    t0 = time.perf_counter()
    with open(src, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        while f.readinto(buf):
            pass
    return time.perf_counter() - t0


# ------------------------------------------------------------------ small requests
async def _run_pool(target, concurrency: int, jobs, work, time_limit: float) -> tuple[int, int, float]:
    """`concurrency` workers, each an independent client with its own keep-alive connection
    (one shared httpx pool of 64 connections costs more client CPU than the servers spend).
    Clients are made before the clock starts (plain HTTP: no TLS context to load)."""
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    counts = {"done": 0, "errors": 0, "first_error": None}
    clients = [httpx.AsyncClient(base_url=target.url, headers=target.headers, timeout=60, verify=False)
               for _ in range(concurrency)]
    deadline = time.perf_counter() + time_limit

    async def worker(c: httpx.AsyncClient):
        while time.perf_counter() < deadline:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await work(c, job)
                counts["done"] += 1
            except (AssertionError, httpx.HTTPError) as exc:
                counts["errors"] += 1
                counts["first_error"] = counts["first_error"] or repr(exc)[:300]

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in clients))
        elapsed = time.perf_counter() - t0
    finally:
        for c in clients:
            await c.aclose()
    if counts["errors"]:
        print(f"    ! {target.name}: {counts['errors']} errors, first: {counts['first_error']}")
    return counts["done"], counts["errors"], elapsed


def small_blob_pushes(target, repo: str, count: int, concurrency: int, size: int = 1024,
                      time_limit: float = 60) -> dict:
    blobs = [os.urandom(size) for _ in range(count)]

    async def push(c: httpx.AsyncClient, data: bytes):
        r = await c.post(f"/v2/{target.repo(repo)}/blobs/uploads/")
        assert r.status_code == 202, r.status_code
        r = await c.put(_with_digest(r.headers["location"], sha256(data)), content=data,
                        headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.status_code

    done, errors, elapsed = asyncio.run(_run_pool(target, concurrency, blobs, push, time_limit))
    return {"count": done, "errors": errors, "seconds": elapsed, "per_second": done / elapsed}


def manifest_requests(target, repo: str, reference: str, method: str, count: int, concurrency: int,
                      time_limit: float = 20) -> dict:
    async def request(c: httpx.AsyncClient, _):
        r = await c.request(method, f"/v2/{target.repo(repo)}/manifests/{reference}",
                            headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200, r.status_code

    done, errors, elapsed = asyncio.run(_run_pool(target, concurrency, range(count), request, time_limit))
    return {"count": done, "errors": errors, "seconds": elapsed, "per_second": done / elapsed}


# ------------------------------------------------------------------ images
def small_image(seed: bytes, layer: bytes | None = None) -> tuple[bytes, dict[str, bytes]]:
    """A tiny image: one (shared or unique) layer and a unique config. Returns (manifest, blobs)."""
    layer = layer if layer is not None else gzip.compress(seed * 64, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed.hex()}},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(gzip.decompress(layer))]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(layer),
                                       "size": len(layer)}]}).encode()
    return manifest, {sha256(config): config, sha256(layer): layer}


def push_small_image(c: httpx.Client, target, repo: str, tag: str, manifest: bytes, blobs: dict[str, bytes]) -> None:
    for digest, data in blobs.items():
        if c.head(f"/v2/{target.repo(repo)}/blobs/{digest}").status_code == 200:
            continue
        r = c.post(f"/v2/{target.repo(repo)}/blobs/uploads/")
        assert r.status_code == 202, r.text
        r = c.put(_with_digest(r.headers["location"], digest), content=data)
        assert r.status_code == 201, r.text
    r = c.put(f"/v2/{target.repo(repo)}/manifests/{tag}", content=manifest,
              headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text


def write_layout(path: Path, layers: int, layer_size: int, tag: str = "bench") -> int:
    """An OCI image layout with `layers` uncompressed tar layers of random content (random
    bytes do not compress, so they are stored as plain tar). Returns the image size."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> dict:
        d = sha256(data)
        (blobs / d[7:]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    descs, diff_ids = [], []
    for i in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            payload = os.urandom(layer_size)
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        data = raw.getvalue()
        descs.append({"mediaType": OCI_LAYER, **put(data)})
        diff_ids.append(sha256(data))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, **put(config)}, "layers": descs}).encode()
    m = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, **m, "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return sum(d["size"] for d in descs) + len(config)


def skopeo(*args: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)}: {out.stderr[-1500:]}")
    return elapsed


def skopeo_push(target, layout: Path, repo: str, tag: str = "bench") -> float:
    creds = ["--dest-creds", ":".join(target.skopeo_creds)] if target.skopeo_creds else ["--dest-no-creds"]
    return skopeo("copy", "--quiet", "--dest-tls-verify=false", *creds, f"oci:{layout}:bench",
                  f"docker://{target.host}/{target.repo(repo)}:{tag}")


def skopeo_pull(target, repo: str, out: Path, tag: str = "bench") -> float:
    shutil.rmtree(out, ignore_errors=True)
    creds = ["--src-creds", ":".join(target.skopeo_creds)] if target.skopeo_creds else ["--src-no-creds"]
    return skopeo("copy", "--quiet", "--src-tls-verify=false", *creds,
                  f"docker://{target.host}/{target.repo(repo)}:{tag}", f"oci:{out}:bench")
