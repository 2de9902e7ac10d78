"""Cross-region replication between separate crossreg servers (one per region, each with its own
metadata and storage), over HTTP.

The source server drives the copy: it asks the destination to authorise the replication and say
which blobs it lacks (`prepare`), streams only those blobs, then puts the manifests (children
first) and tags. The destination applies the same rules as a local replication — its own
registry policy, creation templates, immutable tags — so the outcome does not depend on where
a region lives. Servers authenticate each other with a shared secret (CROSSREG_PEER_SECRET):
an HMAC over the method, path, query and a timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crossreg.app import Crossreg
from crossreg.domain.manifests import parse_manifest
from crossreg.oci.api import receive_upload_chunk
from crossreg.replication.copier import LocalReplicator, Outcome
from crossreg.replication.failures import ReplicationFailure
from crossreg.replication.tasks import Task
from crossreg.services import errors as e
from crossreg.services.models import RepoKey

PREFIX = "/_crossreg/peer/v1"
SIGNATURE_HEADER = "X-Crossreg-Peer-Signature"
MAX_SKEW_SECONDS = 300


def sign(secret: str, method: str, path: str, query: str, timestamp: int) -> str:
    message = f"{method}\n{path}\n{query}\n{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _signature_header(secret: str, method: str, path: str, query: str) -> str:
    ts = int(time.time())
    return f"t={ts},s={sign(secret, method, path, query, ts)}"


def verify(secret: str | None, request: Request) -> bool:
    if not secret:
        return False
    try:
        parts = dict(p.split("=", 1) for p in request.headers.get(SIGNATURE_HEADER, "").split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - ts) > MAX_SKEW_SECONDS:
        return False
    expected = sign(secret, request.method, request.url.path, request.url.query, ts)
    return hmac.compare_digest(expected, parts.get("s", ""))


def _task_from(data: dict) -> Task:
    return Task(id=0, kind=data["kind"], source_account=data["source_account"],
                source_region=data["source_region"], repository_name=data["repository_name"],
                manifest_digest=data["manifest_digest"], tags=tuple(data.get("tags", [])),
                dest_account=data["dest_account"], dest_region=data["dest_region"], attempts=0,
                created_at=0.0, backfill_id=None)


# ---------------------------------------------------------------------- destination side
def peer_routes(core: Crossreg) -> list[Route]:
    local = LocalReplicator(core)
    reg = core.registry

    def guard(handler):
        async def endpoint(request: Request) -> Response:
            if not verify(core.settings.peer_secret, request):
                return JSONResponse({"code": "ACCESS_DENIED", "reason": "bad peer signature"}, status_code=403)
            try:
                return await handler(request)
            except ReplicationFailure as failure:
                return JSONResponse({"code": failure.code, "reason": failure.reason}, status_code=409)
            except e.RegistryError as err:
                return JSONResponse({"code": type(err).__name__, "reason": str(err)}, status_code=400)
        return endpoint

    async def prepare(request: Request) -> Response:
        body = await request.json()
        task = _task_from(body["task"])
        if not core.settings.serves_region(task.dest_region):
            raise ReplicationFailure("DESTINATION_REGION_UNAVAILABLE",
                                     f"this server does not host region {task.dest_region}")
        if task.kind != "PUSH":
            await run_in_threadpool(local._replicate_deletion, task)
            return JSONResponse({"missingBlobs": [], "presentManifests": []})
        dest = await run_in_threadpool(local._destination_repository, task)
        present = await run_in_threadpool(reg.blob_sizes, dest, body.get("blobs", []))
        missing = []
        for digest in body.get("blobs", []):
            if digest in present:
                continue
            if await run_in_threadpool(reg.link_blob, dest, digest):
                continue  # stored for another repository here: link, don't copy
            missing.append(digest)
        manifests = [d for d in body.get("manifests", []) if await run_in_threadpool(reg.resolve, dest, d)]
        return JSONResponse({"missingBlobs": missing, "presentManifests": manifests})

    async def put_blob(request: Request) -> Response:
        key = RepoKey(request.path_params["account"], request.path_params["region"], request.path_params["name"])
        digest = request.query_params["digest"]
        repo = await run_in_threadpool(reg.get_repository, key)
        upload_id = await run_in_threadpool(reg.start_upload, repo)
        await receive_upload_chunk(reg, request, repo, upload_id, 0)
        size = await run_in_threadpool(reg.complete_upload, repo, upload_id, digest)
        return JSONResponse({"digest": digest, "size": size})

    async def put_manifest(request: Request) -> Response:
        key = RepoKey(request.path_params["account"], request.path_params["region"], request.path_params["name"])
        q = request.query_params
        body = await request.body()
        try:
            await run_in_threadpool(lambda: reg.put_manifest(
                key, body, request.headers.get("content-type"), tag=q.get("tag"),
                expected_digest=q["digest"], replicated=True, require_children=False))
        except e.ImmutableTag:
            return JSONResponse({"skippedTag": q.get("tag")})
        return JSONResponse({"digest": q["digest"]})

    return [
        Route(f"{PREFIX}/prepare", guard(prepare), methods=["POST"]),
        Route(PREFIX + "/blobs/{account}/{region}/{name:path}", guard(put_blob), methods=["PUT"]),
        Route(PREFIX + "/manifests/{account}/{region}/{name:path}", guard(put_manifest), methods=["PUT"]),
    ]


# ---------------------------------------------------------------------- source side
class RemoteReplicator:
    """Copies to a region hosted by another crossreg server: only the blobs it lacks, streamed,
    several blobs of one image in parallel."""

    def __init__(self, core: Crossreg, endpoint: str, parallel_blobs: int = 4):
        self.core = core
        self.reg = core.registry
        self.endpoint = endpoint
        self.secret = core.settings.peer_secret or ""
        self.parallel_blobs = parallel_blobs
        import httpx  # only processes that replicate to a peer region load it

        self.client = httpx.Client(timeout=httpx.Timeout(30.0, read=300.0))

    def _call(self, method: str, path: str, *, params: dict | None = None, **kwargs) -> dict:
        request = self.client.build_request(method, self.endpoint + path, params=params, **kwargs)
        request.headers[SIGNATURE_HEADER] = _signature_header(
            self.secret, method, request.url.path, request.url.query.decode(), )
        response = self.client.send(request)
        data = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code == 409:
            raise ReplicationFailure(data.get("code", "INTERNAL_ERROR"), data.get("reason", ""))
        if response.status_code >= 400:
            raise RuntimeError(f"peer answered {response.status_code}: {data or response.text[:200]}")
        return data

    def replicate(self, task: Task, keep_lease: Callable[[], None]) -> Outcome:
        payload = {k: getattr(task, k) for k in ("kind", "source_account", "source_region", "repository_name",
                                                 "manifest_digest", "dest_account", "dest_region")}
        payload["tags"] = list(task.tags)
        outcome = Outcome()
        if task.kind != "PUSH":
            self._call("POST", f"{PREFIX}/prepare", json={"task": payload})
            return outcome
        source = self.reg.find_repository(RepoKey(task.source_account, task.source_region, task.repository_name))
        if source is None or self.reg.resolve(source, task.manifest_digest) is None:
            raise ReplicationFailure("SOURCE_IMAGE_NOT_FOUND",
                                     f"{task.repository_name}@{task.manifest_digest} is no longer in the source")
        manifests = self._manifest_tree(source, task.manifest_digest)  # children first
        blob_sizes: dict[str, int] = {}
        for m in manifests:
            blob_sizes.update(m["blobs"])
        plan = self._call("POST", f"{PREFIX}/prepare", json={
            "task": payload, "blobs": sorted(blob_sizes), "manifests": [m["digest"] for m in manifests]})
        base = f"{task.dest_account}/{task.dest_region}/{task.repository_name}"

        def send_blob(digest: str) -> int:
            keep_lease()
            self._call("PUT", f"{PREFIX}/blobs/{base}", params={"digest": digest},
                       content=_stream(self.reg.read_blob(digest)),
                       headers={"Content-Length": str(blob_sizes[digest])})
            return blob_sizes[digest]

        missing = plan.get("missingBlobs", [])
        with ThreadPoolExecutor(max_workers=self.parallel_blobs) as pool:
            for size in pool.map(send_blob, missing):
                outcome.bytes_copied += size
                outcome.blobs_copied += 1
        present = set(plan.get("presentManifests", []))
        for m in manifests:
            if m["digest"] not in present:
                self._put_manifest(base, m, None)
                outcome.manifests_written += 1
        top = manifests[-1]
        for tag in task.tags:
            if self.reg.resolve(source, tag) != task.manifest_digest:
                continue  # moved on since; the later push's task applies it
            result = self._put_manifest(base, top, tag)
            if result.get("skippedTag"):
                outcome.skipped_tags.append(tag)
        return outcome

    def _put_manifest(self, base: str, m: dict, tag: str | None) -> dict:
        params = {"digest": m["digest"], **({"tag": tag} if tag else {})}
        return self._call("PUT", f"{PREFIX}/manifests/{base}", params=params, content=m["content"],
                          headers={"Content-Type": m["media_type"]})

    def _manifest_tree(self, source, digest: str, seen: set | None = None) -> list[dict]:
        seen = seen if seen is not None else set()
        if digest in seen:
            return []
        seen.add(digest)
        manifest = self.reg.get_manifest(source, digest)
        parsed = parse_manifest(manifest.content, manifest.media_type)
        out: list[dict] = []
        for child in parsed.manifests:
            if self.reg.resolve(source, str(child.digest)) is not None:
                out += self._manifest_tree(source, str(child.digest), seen)
        blobs = self.reg.blob_sizes(source, [str(b.digest) for b in parsed.blobs])
        out.append({"digest": digest, "content": manifest.content, "media_type": manifest.media_type,
                    "blobs": blobs})
        return out


def _stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield from chunks
