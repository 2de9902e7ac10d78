"""The OCI Distribution API (v1.1) under /v2/, with ECR's authentication and addressing.

Registry addressing: with a configured domain, the host `<account>.dkr.ecr.<region>.<domain>`
names the registry and the path is the repository (as in ECR). Without one, the registry is the
first two path segments: `/v2/<account>/<region>/<repository>/...`, so the repositoryUri
`host:port/<account>/<region>/<name>` works with stock clients and no DNS set-up.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Callable
from urllib.parse import quote, urlencode

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crossreg.app import Crossreg
from crossreg.auth.access import AccessDenied, Caller, require
from crossreg.auth.tokens import TokenExpired, TokenInvalid
from crossreg.domain.manifests import MAX_MANIFEST_SIZE
from crossreg.domain.names import is_valid_oci_name, is_valid_tag
from crossreg.oci import errors as oe
from crossreg.oci.errors import OciError
from crossreg.services import errors as e
from crossreg.services.models import Manifest, RepoKey, Repository
from crossreg.services.registry import UploadChunk
from crossreg.services.policies import policies_for, registry_policy
from crossreg.metadata.db import DatabaseUnavailable
from crossreg.storage.base import StorageUnavailable
from crossreg.storage.streaming import open_blob_stream

API_VERSION_HEADER = {"Docker-Distribution-Api-Version": "registry/2.0"}
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$|^[0-9a-z-]{2,25}$")
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_OPS = re.compile(
    r"^(?P<name>.+?)/(?:"
    r"(?P<kind_blob>blobs)/(?P<digest>[^/]+)"
    r"|(?P<kind_upload>blobs/uploads)/(?P<upload>[^/]*)"
    r"|(?P<kind_manifest>manifests)/(?P<reference>[^/]+)"
    r"|(?P<kind_tags>tags/list)"
    r"|(?P<kind_referrers>referrers)/(?P<subject>[^/]+)"
    r")$"
)
_MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])


def temporarily_unavailable(err: Exception) -> Response:
    """The metadata database or blob storage is down for a while: 503 with Retry-After, which
    clients (docker, containerd, skopeo) retry; nothing was changed."""
    seconds = getattr(err, "retry_after_seconds", 5)
    return _error(OciError("UNAVAILABLE", f"{err}; retry in a few seconds", status=503),
                  {"Retry-After": str(seconds)})


def _error(err: OciError, extra_headers: dict | None = None) -> Response:
    headers = dict(API_VERSION_HEADER)
    headers.update(extra_headers or {})
    return Response(err.body(), status_code=err.status, media_type="application/json", headers=headers)


class OciApi:
    def __init__(self, app: Crossreg):
        self.app = app
        self.reg = app.registry

    # -------------------------------------------------------------- entry point
    async def __call__(self, request: Request) -> Response:
        try:
            caller = await self._authenticate(request)
            url_path = _url_path(request)
            path = url_path[len("/v2/"):] if url_path.startswith("/v2/") else ""
            if path == "":
                return Response(b"{}", media_type="application/json", headers=API_VERSION_HEADER)
            return await self._dispatch(request, caller, path)
        except OciError as err:
            headers = {}
            if err.status == 401:
                headers["WWW-Authenticate"] = self._challenge(request)
            return _error(err, headers)
        except AccessDenied as err:
            return _error(OciError("DENIED", str(err), status=403))
        except e.RegistryError as err:
            return _error(_map_domain_error(err))
        except (DatabaseUnavailable, StorageUnavailable) as err:
            return temporarily_unavailable(err)

    def _challenge(self, request: Request) -> str:
        realm = f"{self.app.settings.public_scheme}://{request.headers.get('host', self.app.public_host())}/"
        return f'Basic realm="{realm}",service="ecr.amazonaws.com"'

    async def _authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("basic", "bearer") or not value:
            raise OciError("UNAUTHORIZED", "authentication required", status=401)
        password = value.strip()
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(password, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OciError("UNAUTHORIZED", "malformed credentials", status=401)
            if user != "AWS":
                raise OciError("DENIED", "Your authorization token is invalid.", status=403)
        try:
            token = self.app.tokens.verify(password)
        except TokenExpired:
            raise OciError("DENIED", "Your authorization token has expired. Reauthenticate and try again.",
                           status=403)
        except TokenInvalid:
            raise OciError("DENIED", "Your authorization token is invalid.", status=403)
        return Caller(token.account_id)

    # -------------------------------------------------------------- routing
    def _registry_for(self, request: Request, path: str) -> tuple[str, str, str]:
        """(account, region, rest-of-path) from the host name or the leading path segments."""
        host = request.headers.get("host", "").split(":", 1)[0]
        domain = self.app.settings.domain
        if domain and host.endswith("." + domain):
            labels = host[: -len(domain) - 1].split(".")
            if len(labels) == 4 and labels[1:3] == ["dkr", "ecr"] and _ACCOUNT.match(labels[0]):
                return labels[0], labels[3], path
        parts = path.split("/", 2)
        if len(parts) == 3 and _ACCOUNT.match(parts[0]) and _REGION.match(parts[1]):
            return parts[0], parts[1], parts[2]
        raise OciError("NAME_INVALID",
                       "repository must be addressed as <account-id>/<region>/<name>", status=404)

    async def _dispatch(self, request: Request, caller: Caller, path: str) -> Response:
        account, region, rest = self._registry_for(request, path)
        m = _OPS.match(rest)
        if not m:
            raise OciError("NAME_INVALID", "unknown endpoint", status=404)
        name = m.group("name")
        # The URL prefix of this repository as the client addressed it, for Location headers.
        request.state.repo_base = "/v2/" + path[: len(path) - len(rest)] + name
        if not is_valid_oci_name(name):
            raise OciError("NAME_INVALID", f"invalid repository name '{name}'", status=400)
        key = RepoKey(account, region, name)
        method = request.method
        if m.group("kind_manifest"):
            reference = m.group("reference")
            if method in ("GET", "HEAD"):
                return await self.get_manifest(request, caller, key, reference)
            if method == "PUT":
                return await self.put_manifest(request, caller, key, reference)
            if method == "DELETE":
                return await self.delete_manifest(caller, key, reference)
        elif m.group("kind_blob"):
            digest = m.group("digest")
            if method in ("GET", "HEAD"):
                return await self.get_blob(request, caller, key, digest)
            if method == "DELETE":
                return await self.delete_blob(caller, key, digest)
        elif m.group("kind_upload"):
            upload_id = m.group("upload")
            if upload_id == "" and method == "POST":
                return await self.start_upload(request, caller, key)
            if upload_id:
                if method == "PATCH":
                    return await self.patch_upload(request, caller, key, upload_id)
                if method == "PUT":
                    return await self.put_upload(request, caller, key, upload_id)
                if method == "GET":
                    return await self.upload_status(request, caller, key, upload_id)
                if method == "DELETE":
                    return await self.cancel_upload(caller, key, upload_id)
        elif m.group("kind_tags"):
            if method == "GET":
                return await self.list_tags(request, caller, key)
        elif m.group("kind_referrers"):
            if method == "GET":
                return await self.referrers(request, caller, key, m.group("subject"))
        raise OciError("UNSUPPORTED", f"{method} is not supported on this endpoint", status=405)

    async def _repo(self, caller: Caller, key: RepoKey, action: str) -> Repository:
        """The repository, once the caller may perform `action` on it (one thread hop)."""
        return await run_in_threadpool(self._authorize, caller, key, action)

    def _authorize(self, caller: Caller, key: RepoKey, action: str, conn: Connection | None = None) -> Repository:
        """Blocking: the repository, once the caller may perform `action` on it. A foreign caller
        without access learns nothing, not even whether the repository exists. Handlers call it
        in the same thread hop (and read transaction) as the work that follows, since every hop
        between the event loop and the thread pool costs a wake-up on each side."""
        if conn is None:
            with self.app.db.read() as c:
                return self._authorize(caller, key, action, c)
        repo = self.reg.find_repository(key, conn=conn)
        arn = f"arn:aws:ecr:{key.region}:{key.account_id}:repository/{key.name}"
        if caller.account_id != key.account_id:
            if repo is not None:
                policies = policies_for(self.app.db, repo, conn=conn)
            else:  # only the registry policy can speak for a repository that does not exist
                policy = registry_policy(self.app.db, key.account_id, key.region, conn=conn)
                policies = [policy] if policy else []
            require(caller, action, key.account_id, arn, policies)
        if repo is None:
            raise e.RepositoryNotFound(key.name, key.account_id)
        return repo

    @staticmethod
    def _location(request: Request, key: RepoKey, suffix: str) -> str:
        return f"{request.state.repo_base}/{suffix}"

    # -------------------------------------------------------------- manifests
    async def get_manifest(self, request: Request, caller: Caller, key: RepoKey, reference: str) -> Response:
        _check_reference(reference)

        def lookup() -> tuple[Repository, Manifest]:  # one hop, one read transaction
            with self.app.db.read() as c:
                repo = self._authorize(caller, key, "ecr:BatchGetImage", c)
                return repo, self.reg.get_manifest(repo, reference, conn=c)

        repo, manifest = await run_in_threadpool(lookup)
        headers = {**API_VERSION_HEADER, "Docker-Content-Digest": manifest.digest,
                   "Content-Length": str(manifest.manifest_size)}
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type=manifest.media_type)
        # lastRecordedPullTime moves at most hourly, so only a pull that will move it needs the
        # write transaction (and a thread hop): every other GET stays read-only.
        last = manifest.last_pulled_at
        if last is None or last < time.time() - 3600:
            await run_in_threadpool(self.reg.record_pull, repo, manifest.digest)
        return Response(manifest.content, headers=headers, media_type=manifest.media_type)

    async def put_manifest(self, request: Request, caller: Caller, key: RepoKey, reference: str) -> Response:
        _check_reference(reference)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_MANIFEST_SIZE:
            raise OciError("SIZE_INVALID", f"manifest exceeds {MAX_MANIFEST_SIZE} bytes", status=413)
        body = await _read_limited(request, MAX_MANIFEST_SIZE)
        repo = await self._repo(caller, key, "ecr:PutImage")
        is_digest = ":" in reference
        tags = [reference] if not is_digest else []
        tags += [t for t in request.query_params.getlist("tag") if t not in tags]
        for t in tags:
            if not is_valid_tag(t):
                raise OciError("TAG_INVALID", f"invalid tag '{t}'", status=400)
        pushed = None
        for i, tag in enumerate(tags or [None]):
            pushed = await run_in_threadpool(
                lambda tag=tag: self.reg.put_manifest(
                    repo.key, body, request.headers.get("content-type"), tag=tag,
                    expected_digest=reference if is_digest else None))
        headers = {**API_VERSION_HEADER, "Docker-Content-Digest": pushed.digest,
                   "Location": self._location(request, key, f"manifests/{pushed.digest}")}
        if pushed.subject_digest:
            headers["OCI-Subject"] = pushed.subject_digest
        if len(tags) > 1 or request.query_params.getlist("tag"):
            headers["OCI-Tag"] = ", ".join(tags)
        return Response(b"", status_code=201, headers=headers)

    async def delete_manifest(self, caller: Caller, key: RepoKey, reference: str) -> Response:
        _check_reference(reference)
        repo = await self._repo(caller, key, "ecr:BatchDeleteImage")
        if ":" in reference:
            await run_in_threadpool(self.reg.delete_manifest, repo, reference)
        else:
            await run_in_threadpool(self.reg.untag, repo, reference)
        return Response(b"", status_code=202, headers=API_VERSION_HEADER)

    # -------------------------------------------------------------- blobs
    async def get_blob(self, request: Request, caller: Caller, key: RepoKey, digest: str) -> Response:
        _check_digest(digest)
        repo = await self._repo(caller, key, "ecr:GetDownloadUrlForLayer")
        size = await run_in_threadpool(self.reg.blob_size, repo, digest)
        if request.method == "GET" and self.app.settings.s3_redirect:
            redirect = await self._blob_redirect(digest)
            if redirect is not None:
                return redirect
        headers = {**API_VERSION_HEADER, "Docker-Content-Digest": digest, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        start, end = 0, size - 1
        status = 200
        range_header = request.headers.get("range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{size}"
                return _error(OciError("RANGE_INVALID", "requested range not satisfiable", status=416), headers)
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers)
        body = await open_blob_stream(self.reg.read_blob, digest, start, length)
        return StreamingResponse(body, status_code=status, headers=headers)

    async def _blob_redirect(self, digest: str) -> Response | None:
        """With CROSSREG_S3_REDIRECT=1, as ECR and Distribution do: send the client to a
        pre-signed URL of the object store (clients re-send their Range header there) instead
        of streaming the bytes through this server. None when the store has no such URL."""
        location = await run_in_threadpool(self.app.store.locate_blob, digest)
        if location is None or not location.url:
            return None
        return Response(b"", status_code=307, headers={
            **API_VERSION_HEADER, "Docker-Content-Digest": digest, "Location": location.url})

    async def delete_blob(self, caller: Caller, key: RepoKey, digest: str) -> Response:
        _check_digest(digest)
        repo = await self._repo(caller, key, "ecr:BatchDeleteImage")
        await run_in_threadpool(self.reg.unlink_blob, repo, digest)
        return Response(b"", status_code=202, headers={**API_VERSION_HEADER, "Docker-Content-Digest": digest})

    # -------------------------------------------------------------- uploads
    async def start_upload(self, request: Request, caller: Caller, key: RepoKey) -> Response:
        q = request.query_params
        mount, source = q.get("mount"), q.get("from")
        if not mount and not q.get("digest"):  # the usual POST: authorize and start in one hop
            upload_id = await run_in_threadpool(
                lambda: self.reg.start_upload(self._authorize(caller, key, "ecr:InitiateLayerUpload")))
            return self._upload_started(request, key, upload_id)
        repo = await self._repo(caller, key, "ecr:InitiateLayerUpload")
        if mount:
            _check_digest(mount)
            if await self._try_mount(caller, repo, mount, source):
                return Response(b"", status_code=201, headers={
                    **API_VERSION_HEADER, "Docker-Content-Digest": mount,
                    "Location": self._location(request, key, f"blobs/{mount}")})
        digest = q.get("digest")
        if digest:  # monolithic upload: POST with the whole blob
            _check_digest(digest)
            upload_id = await run_in_threadpool(self.reg.start_upload, repo)
            try:
                chunk = await run_in_threadpool(
                    lambda: self.reg.open_upload_chunk(repo, upload_id, None, final=True))
                await receive_chunk(request, chunk, final_digest=digest,
                                    then=lambda _: self.reg.complete_upload(repo, upload_id, digest))
                return self._completed(request, key, digest)
            except BaseException:  # a refused (or broken) monolithic upload leaves no session behind
                await run_in_threadpool(self.reg.cancel_upload, repo, upload_id)
                raise
        upload_id = await run_in_threadpool(self.reg.start_upload, repo)
        return self._upload_started(request, key, upload_id)

    def _upload_started(self, request: Request, key: RepoKey, upload_id: str) -> Response:
        return Response(b"", status_code=202, headers={
            **API_VERSION_HEADER, "Location": self._location(request, key, f"blobs/uploads/{upload_id}"),
            "Range": "0-0", "Docker-Upload-UUID": upload_id, "OCI-Chunk-Min-Length": "0"})

    async def _try_mount(self, caller: Caller, repo: Repository, digest: str, source: str | None) -> bool:
        if source:  # the source must be readable by the caller, in the same registry or another
            parts = source.split("/", 2)
            if len(parts) == 3 and _ACCOUNT.match(parts[0]) and _REGION.match(parts[1]):
                src_key = RepoKey(parts[0], parts[1], parts[2])
            else:
                src_key = RepoKey(repo.account_id, repo.region, source)
            try:
                src = await self._repo(caller, src_key, "ecr:GetDownloadUrlForLayer")
                await run_in_threadpool(self.reg.blob_size, src, digest)
            except (e.RegistryError, AccessDenied, OciError):
                return False
            if src.region != repo.region:
                return False  # another region's storage: the client uploads instead
            return await run_in_threadpool(self.reg.link_blob, repo, digest)
        return False  # anonymous mount ("automatic content discovery") is not offered

    async def patch_upload(self, request: Request, caller: Caller, key: RepoKey, upload_id: str) -> Response:
        content_range = request.headers.get("content-range")

        def open_chunk() -> UploadChunk:  # one hop: authorize, check the offset, open
            repo = self._authorize(caller, key, "ecr:UploadLayerPart")
            offset = None
            if content_range:
                m = re.match(r"^(?:bytes[ =])?(\d+)-(\d+)$", content_range.strip())
                if not m:
                    raise OciError("BLOB_UPLOAD_INVALID", "malformed Content-Range", status=416)
                offset = int(m.group(1))
            return self.reg.open_upload_chunk(repo, upload_id, offset)

        size = await receive_chunk(request, await run_in_threadpool(open_chunk))
        return Response(b"", status_code=202, headers={
            **API_VERSION_HEADER, "Location": self._location(request, key, f"blobs/uploads/{upload_id}"),
            "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": upload_id})

    async def put_upload(self, request: Request, caller: Caller, key: RepoKey, upload_id: str) -> Response:
        digest = request.query_params.get("digest")

        def open_chunk() -> UploadChunk:  # one hop: authorize, check the digest, open
            repo = self._authorize(caller, key, "ecr:CompleteLayerUpload")
            if not digest:
                raise OciError("DIGEST_INVALID", "digest query parameter is required", status=400)
            _check_digest(digest)
            return self.reg.open_upload_chunk(repo, upload_id, None, final=True)

        chunk = await run_in_threadpool(open_chunk)
        # The chunk is recorded and the upload completed in one hop.
        await receive_chunk(request, chunk, final_digest=digest,
                            then=lambda _: self.reg.complete_upload(chunk.repo, upload_id, digest))
        return self._completed(request, key, digest)

    def _completed(self, request: Request, key: RepoKey, digest: str) -> Response:
        return Response(b"", status_code=201, headers={
            **API_VERSION_HEADER, "Docker-Content-Digest": digest,
            "Location": self._location(request, key, f"blobs/{digest}")})

    async def upload_status(self, request: Request, caller: Caller, key: RepoKey, upload_id: str) -> Response:
        repo = await self._repo(caller, key, "ecr:UploadLayerPart")
        size = await run_in_threadpool(self.reg.upload_size, repo, upload_id)
        return Response(b"", status_code=204, headers={
            **API_VERSION_HEADER, "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": upload_id,
            "Location": self._location(request, key, f"blobs/uploads/{upload_id}")})

    async def cancel_upload(self, caller: Caller, key: RepoKey, upload_id: str) -> Response:
        repo = await self._repo(caller, key, "ecr:UploadLayerPart")
        await run_in_threadpool(self.reg.cancel_upload, repo, upload_id)
        return Response(b"", status_code=204, headers=API_VERSION_HEADER)

    # -------------------------------------------------------------- discovery
    async def list_tags(self, request: Request, caller: Caller, key: RepoKey) -> Response:
        repo = await self._repo(caller, key, "ecr:ListImages")
        q = request.query_params
        n = q.get("n")
        if n is not None and (not n.isdigit()):
            raise OciError("PAGINATION_NUMBER_INVALID", "n must be a non-negative integer", status=400)
        limit = min(int(n), 1000) if n is not None else None
        last = q.get("last")
        if limit == 0:
            names: list[str] = []
        else:
            names = await run_in_threadpool(lambda: self.reg.list_tags(
                repo, last=last, n=(limit + 1) if limit is not None else None))
        headers = dict(API_VERSION_HEADER)
        if limit is not None and len(names) > limit:
            names = names[:limit]
            link = f"/v2/{request.url.path[len('/v2/'):]}?" + urlencode({"n": limit, "last": names[-1]})
            headers["Link"] = f'<{link}>; rel="next"'
        body = json.dumps({"name": key.name, "tags": names}).encode()
        return Response(body, media_type="application/json", headers=headers)

    async def referrers(self, request: Request, caller: Caller, key: RepoKey, subject: str) -> Response:
        _check_digest(subject)
        repo = await self._repo(caller, key, "ecr:BatchGetImage")
        artifact_type = request.query_params.get("artifactType")
        found = await run_in_threadpool(self.reg.referrers, repo, subject, artifact_type)
        descriptors = []
        for m in found:
            d = {"mediaType": m.media_type, "digest": m.digest, "size": m.manifest_size}
            if m.artifact_type:
                d["artifactType"] = m.artifact_type
            if m.annotations:
                d["annotations"] = m.annotations
            descriptors.append(d)
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": descriptors}).encode()
        headers = dict(API_VERSION_HEADER)
        if artifact_type:
            headers["OCI-Filters-Applied"] = "artifactType"
        return Response(body, media_type="application/vnd.oci.image.index.v1+json", headers=headers)


# ------------------------------------------------------------------ helpers
async def receive_upload_chunk(reg, request: Request, repo: Repository, upload_id: str,
                               offset: int | None, *, final_digest: str | None = None) -> int:
    """Stream a request body into an upload (see receive_chunk)."""
    chunk = await run_in_threadpool(lambda: reg.open_upload_chunk(repo, upload_id, offset,
                                                                  final=final_digest is not None))
    return await receive_chunk(request, chunk, final_digest=final_digest)


async def receive_chunk(request: Request, chunk: UploadChunk, *, final_digest: str | None = None,
                        then: Callable[[int], Any] | None = None) -> Any:
    """Stream a request body into an opened upload chunk. The chunk is recorded only once the
    whole body arrived (and matched its Content-Length), so a broken request changes nothing
    visible. With `final_digest` (the last chunk of an upload), a sha256 digest is checked
    before the chunk is recorded, so a completion refused for its digest leaves the upload as
    it was. `then(size)`, if given, runs right after the chunk is recorded, in the same thread
    hop (the completion of the upload); its result is returned instead of the size."""
    try:
        async for data in request.stream():
            if data:
                chunk.write(data)
    except BaseException:
        chunk.abort()
        raise
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != chunk.size - chunk.start:
        chunk.abort()
        raise OciError("BLOB_UPLOAD_INVALID", "body shorter than Content-Length", status=400)
    if (final_digest is not None and final_digest.startswith("sha256:") and chunk.size > chunk.start
            and chunk.hasher is not None):
        actual = "sha256:" + chunk.hasher.hexdigest()
        if actual != final_digest:
            chunk.abort()
            raise e.DigestMismatch(final_digest, actual)
        chunk.verified_digest = final_digest

    def record():
        size = chunk.commit()
        return then(size) if then is not None else size

    return await run_in_threadpool(record)


def _url_path(request: Request) -> str:
    """`request.url.path` without building the whole URL (host, scheme, query) for it."""
    path = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        return request.url.path
    return path


def _check_digest(digest: str) -> None:
    if not _DIGEST.match(digest):
        raise OciError("DIGEST_INVALID", f"invalid digest '{digest}'", status=400)


def _check_reference(reference: str) -> None:
    if ":" in reference:
        _check_digest(reference)
    elif not is_valid_tag(reference):
        raise OciError("TAG_INVALID", f"invalid tag '{reference}'", status=400)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    m = re.match(r"^bytes=(\d*)-(\d*)$", header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":  # suffix range: the last N bytes
        n = int(m.group(2))
        if n == 0:
            return None
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


async def _read_limited(request: Request, limit: int) -> bytes:
    parts, total = [], 0
    async for data in request.stream():
        total += len(data)
        if total > limit:
            raise OciError("SIZE_INVALID", f"manifest exceeds {limit} bytes", status=413)
        parts.append(data)
    return b"".join(parts)


def _map_domain_error(err: e.RegistryError) -> OciError:
    if isinstance(err, e.RepositoryNotFound):
        return OciError("NAME_UNKNOWN", str(err), status=404)
    if isinstance(err, e.ManifestNotFound):
        return OciError("MANIFEST_UNKNOWN", str(err), status=404)
    if isinstance(err, e.BlobNotFound):
        return OciError("BLOB_UNKNOWN", str(err), status=404)
    if isinstance(err, e.UploadNotFound):
        return OciError("BLOB_UPLOAD_UNKNOWN", str(err), status=404)
    if isinstance(err, e.UploadOffsetMismatch):
        return OciError("BLOB_UPLOAD_INVALID", str(err), status=416)
    if isinstance(err, e.DigestMismatch):
        return OciError("DIGEST_INVALID", str(err), status=400)
    if isinstance(err, e.InvalidManifest):
        return OciError(err.code, str(err), detail=err.detail, status=400)
    if isinstance(err, (e.ManifestBlobsMissing, e.ReferencedManifestsMissing)):
        return OciError("MANIFEST_BLOB_UNKNOWN", str(err), detail={"digests": err.digests}, status=400)
    if isinstance(err, e.ImmutableTag):
        return OciError("TAG_INVALID", str(err), status=400)
    if isinstance(err, e.ManifestReferencedByIndex):
        return OciError("DENIED", str(err), status=409)
    return OciError("UNSUPPORTED", str(err), status=400)
