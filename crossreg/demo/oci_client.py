"""A small OCI Distribution client (push and verified pull) over httpx, as the demo's stand-in
for skopeo: the same requests a stock client sends, with a progress callback."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import httpx

ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])
CHUNK = 1 << 20

Progress = Callable[[str, int, int], None]  # (label, done bytes, total bytes)


class VerificationError(Exception):
    """A pulled object's bytes do not match the digest that names it."""


def basic_auth(password: str) -> dict:
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class OciClient:
    def __init__(self, endpoint: str, password: str, timeout: float = 60.0):
        self.endpoint = endpoint.rstrip("/")
        self.http = httpx.Client(base_url=self.endpoint, headers=basic_auth(password), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ push
    def blob_exists(self, repo: str, digest: str) -> bool:
        r = self.http.head(f"/v2/{repo}/blobs/{digest}")
        return r.status_code == 200

    def push_blob(self, repo: str, digest: str, data: bytes, label: str = "",
                  progress: Progress | None = None) -> bool:
        """Upload one blob (POST, then a monolithic PUT). Returns False when it was already there."""
        if self.blob_exists(repo, digest):
            if progress:
                progress(label, len(data), len(data))
            return False
        r = self.http.post(f"/v2/{repo}/blobs/uploads/")
        _check(r, 202)
        location = r.headers["location"]
        sep = "&" if "?" in location else "?"

        def body() -> Iterator[bytes]:
            for i in range(0, len(data), CHUNK):
                yield data[i:i + CHUNK]
                if progress:
                    progress(label, min(i + CHUNK, len(data)), len(data))

        if progress:
            progress(label, 0, len(data))
        r = self.http.put(f"{location}{sep}digest={digest}", content=body(),
                          headers={"Content-Type": "application/octet-stream",
                                   "Content-Length": str(len(data))})
        _check(r, 201)
        return True

    def push_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str) -> str:
        r = self.http.put(f"/v2/{repo}/manifests/{reference}", content=manifest,
                          headers={"Content-Type": media_type})
        _check(r, 201)
        return r.headers.get("docker-content-digest", "")

    # ------------------------------------------------------------------ pull
    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) — the digest is computed from the bytes and checked
        against the server's header and, for a digest reference, against the reference."""
        r = self.http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
        _check(r, 200)
        body = r.content
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = r.headers.get("docker-content-digest")
        if claimed and claimed != actual:
            raise VerificationError(f"manifest digest {actual} != Docker-Content-Digest {claimed}")
        if reference.startswith("sha256:") and reference != actual:
            raise VerificationError(f"manifest digest {actual} != requested {reference}")
        return body, r.headers.get("content-type", "").split(";")[0], actual

    def fetch_blob(self, repo: str, digest: str, dest: Path, size: int | None = None, label: str = "",
                   progress: Progress | None = None) -> Path:
        """Stream a blob to `dest`, verifying its sha256 (and size) before keeping it."""
        if not digest.startswith("sha256:"):
            raise VerificationError(f"unsupported digest algorithm in {digest}")
        h = hashlib.sha256()
        done = 0
        tmp = dest.with_name(dest.name + ".part")
        with self.http.stream("GET", f"/v2/{repo}/blobs/{digest}") as r:
            _check(r, 200)
            total = size or int(r.headers.get("content-length") or 0)
            with open(tmp, "wb") as f:
                for chunk in r.iter_bytes(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(label, done, total)
        actual = "sha256:" + h.hexdigest()
        if actual != digest or (size is not None and done != size):
            tmp.unlink(missing_ok=True)
            raise VerificationError(f"blob {digest}: received {done} bytes hashing to {actual}")
        tmp.replace(dest)
        return dest


def _check(r: httpx.Response, expected: int) -> None:
    if r.status_code != expected:
        try:
            r.read()
            detail = r.text[:500]
        except httpx.HTTPError:
            detail = ""
        raise httpx.HTTPStatusError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code} {detail}",
                                    request=r.request, response=r)


def push_image(client: OciClient, repo: str, image, progress: Progress | None = None) -> str:
    """Push a built ModelImage (blobs first, then the manifest under its tag)."""
    descriptors = image.blob_descriptors()
    names = ["config"] + [d.get("annotations", {}).get("io.crossreg.demo.layer", f"layer {i}")
                          for i, d in enumerate(descriptors[1:], 1)]
    for desc, name in zip(descriptors, names):
        client.push_blob(repo, desc["digest"], image.blob_bytes(desc["digest"]),
                         label=f"{name} {desc['digest'][7:19]}", progress=progress)
    return client.push_manifest(repo, image.tag, image.manifest, json.loads(image.manifest)["mediaType"])


def pull_image(client: OciClient, repo: str, reference: str, dest: Path,
               progress: Progress | None = None) -> dict:
    """Pull an image manifest, its config and layers into `dest`, verifying every digest.
    Returns {"manifest_digest", "manifest", "config", "layers": [Path], "verified": [digests]}."""
    dest.mkdir(parents=True, exist_ok=True)
    body, media_type, digest = client.get_manifest(repo, reference)
    manifest = json.loads(body)
    if "manifests" in manifest:  # an index: take linux/amd64 (or the first)
        choices = manifest["manifests"]
        chosen = next((m for m in choices if m.get("platform", {}).get("architecture") == "amd64"), choices[0])
        body, media_type, digest = client.get_manifest(repo, chosen["digest"])
        manifest = json.loads(body)
    verified = [digest]
    cfg_desc = manifest["config"]
    cfg_path = client.fetch_blob(repo, cfg_desc["digest"], dest / "config.json", cfg_desc.get("size"),
                                 "config", progress)
    verified.append(cfg_desc["digest"])
    layers = []
    for i, layer in enumerate(manifest["layers"]):
        path = client.fetch_blob(repo, layer["digest"], dest / f"layer-{i}", layer.get("size"),
                                 f"layer {i}", progress)
        layers.append(path)
        verified.append(layer["digest"])
    return {"manifest_digest": digest, "manifest": manifest, "manifest_media_type": media_type,
            "config": json.loads(cfg_path.read_bytes()), "layers": layers, "verified": verified}


def temp_dir(prefix: str = "crossreg-demo-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
