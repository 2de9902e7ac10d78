"""The registry service: repositories, blobs, uploads, manifests and tags.

Both the OCI Distribution API and the ECR API (and the console) go through this one class, so
every rule (links, immutability, atomic pushes, replication triggers) is enforced once.
All methods are synchronous; the async HTTP layers call them in a thread pool.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import threading
import time
import uuid
from typing import Callable, Iterable, Iterator

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from crossreg.domain.manifests import ManifestError, parse_manifest
from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.services import errors as e
from crossreg.services.models import (
    DeletedImage,
    ImageRecord,
    Manifest,
    PushedImage,
    RepoKey,
    Repository,
    RepositorySettings,
)
from crossreg.storage.base import BlobNotFound as StoreBlobNotFound
from crossreg.storage.base import BlobStore
from crossreg.storage.base import UploadNotFound as StoreUploadNotFound

PushHook = Callable[[Connection, PushedImage], None]
DeleteHook = Callable[[Connection, DeletedImage], None]

# Media types of layers that clients fetch from elsewhere (foreign layers): never required locally.
_NON_DISTRIBUTABLE = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                      "application/vnd.oci.image.layer.nondistributable.v1.tar",
                      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")


def is_tag_immutable(repo: Repository, tag: str) -> bool:
    """ECR's tag mutability modes, exclusion filters being WILDCARD patterns on tags."""
    mode = repo.tag_mutability
    if mode == "MUTABLE":
        return False
    if mode == "IMMUTABLE":
        return True
    matches = any(fnmatch.fnmatchcase(tag, f["filter"]) for f in repo.tag_mutability_exclusions)
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not matches  # excluded tags stay mutable
    if mode == "MUTABLE_WITH_EXCLUSION":
        return matches  # excluded tags are immutable
    return False


# The statements of the hot paths (manifest pulls, blob uploads), built once: constructing a
# SQLAlchemy statement and its cache key costs several times what SQLite takes to run it.
_REPOSITORY_BY_KEY = select(s.repositories).where(
    s.repositories.c.account_id == bindparam("account_id"), s.repositories.c.region == bindparam("region"),
    s.repositories.c.name == bindparam("name"))
_DIGEST_BY_TAG = select(s.tags.c.manifest_digest).where(
    s.tags.c.repository_id == bindparam("repository_id"), s.tags.c.name == bindparam("name"))
_DIGEST_BY_DIGEST = select(s.manifests.c.digest).where(
    s.manifests.c.repository_id == bindparam("repository_id"), s.manifests.c.digest == bindparam("digest"))
_MANIFEST_BY_DIGEST = select(s.manifests).where(
    s.manifests.c.repository_id == bindparam("repository_id"), s.manifests.c.digest == bindparam("digest"))
_LINKED_BLOB_SIZE = select(s.blobs.c.size).select_from(
    s.repository_blobs.join(s.blobs, s.blobs.c.digest == s.repository_blobs.c.digest)
).where(s.repository_blobs.c.repository_id == bindparam("repository_id"),
        s.repository_blobs.c.digest == bindparam("digest"))
_BLOB_EXISTS = select(s.blobs.c.digest).where(s.blobs.c.digest == bindparam("digest"))
_INSERT_BLOB = insert(s.blobs)
# (bind names in UPDATEs may not be column names)
_REFRESH_LINK = update(s.repository_blobs).where(
    s.repository_blobs.c.repository_id == bindparam("p_repository_id"),
    s.repository_blobs.c.digest == bindparam("p_digest")).values(created_at=bindparam("p_created_at"))
_INSERT_LINK = insert(s.repository_blobs)
_INSERT_UPLOAD = insert(s.uploads)
_UPLOAD_SIZE = select(s.uploads.c.size).where(
    s.uploads.c.id == bindparam("upload_id"), s.uploads.c.repository_id == bindparam("repository_id"))
_UPLOAD_STATE = select(s.uploads.c.size, s.uploads.c.verified_digest).where(
    s.uploads.c.id == bindparam("upload_id"), s.uploads.c.repository_id == bindparam("repository_id"))
_RECORD_CHUNK = update(s.uploads).where(
    s.uploads.c.id == bindparam("p_upload_id"), s.uploads.c.size == bindparam("p_start")).values(
    size=bindparam("p_size"), parts=s.uploads.c.parts + 1, updated_at=bindparam("p_updated_at"),
    verified_digest=bindparam("p_verified_digest"))
_RECORD_VERIFIED = update(s.uploads).where(
    s.uploads.c.id == bindparam("p_upload_id"), s.uploads.c.size == bindparam("p_size")).values(
    verified_digest=bindparam("p_verified_digest"))
_DELETE_UPLOAD = delete(s.uploads).where(s.uploads.c.id == bindparam("upload_id"))


class _UploadHashes:
    """Running sha256 state of uploads in this process, so chunked uploads hash each byte once.
    Another process (or a restart) recomputes it from the stored bytes."""

    def __init__(self, limit: int = 4096):
        self._lock = threading.Lock()
        self._states: dict[str, tuple[int, "hashlib._Hash"]] = {}
        self._limit = limit

    def take(self, upload_id: str, size: int) -> "hashlib._Hash | None":
        with self._lock:
            state = self._states.pop(upload_id, None)
        if state and state[0] == size:
            return state[1]
        return None

    def put(self, upload_id: str, size: int, hasher: "hashlib._Hash") -> None:
        with self._lock:
            if len(self._states) >= self._limit:
                self._states.pop(next(iter(self._states)))
            self._states[upload_id] = (size, hasher)

    def drop(self, upload_id: str) -> None:
        with self._lock:
            self._states.pop(upload_id, None)


class RegistryService:
    def __init__(self, db: Database, store: BlobStore):
        self.db = db
        self.store = store
        self.push_hooks: list[PushHook] = []
        self.delete_hooks: list[DeleteHook] = []
        self._hashes = _UploadHashes()

    # ------------------------------------------------------------------ repositories
    def create_repository(self, key: RepoKey, settings: RepositorySettings = RepositorySettings(),
                          *, created_by: str = "API", conn: Connection | None = None) -> Repository:
        def run(c: Connection) -> Repository:
            if self._repo_row(c, key) is not None:
                raise e.RepositoryAlreadyExists(key.name, key.account_id)
            now = time.time()
            c.execute(insert(s.repositories).values(
                account_id=key.account_id, region=key.region, name=key.name, created_at=now,
                tag_mutability=settings.tag_mutability,
                tag_mutability_exclusions=json.dumps(settings.tag_mutability_exclusions),
                scan_on_push=settings.scan_on_push, encryption_type=settings.encryption_type,
                kms_key=settings.kms_key, policy_text=settings.policy_text,
                lifecycle_policy_text=settings.lifecycle_policy_text,
                lifecycle_policy_updated_at=now if settings.lifecycle_policy_text else None,
                resource_tags=json.dumps(settings.resource_tags), created_by=created_by))
            return self.get_repository(key, conn=c)

        if conn is not None:
            return run(conn)
        with self.db.write() as c:
            return run(c)

    def _repo_row(self, conn: Connection, key: RepoKey):
        return conn.execute(_REPOSITORY_BY_KEY, {"account_id": key.account_id, "region": key.region,
                                                 "name": key.name}).first()

    def find_repository(self, key: RepoKey, *, conn: Connection | None = None) -> Repository | None:
        if conn is not None:
            row = self._repo_row(conn, key)
        else:
            with self.db.read() as c:
                row = self._repo_row(c, key)
        return Repository.from_row(row) if row else None

    def get_repository(self, key: RepoKey, *, conn: Connection | None = None) -> Repository:
        repo = self.find_repository(key, conn=conn)
        if repo is None:
            raise e.RepositoryNotFound(key.name, key.account_id)
        return repo

    def list_repositories(self, account_id: str, region: str, *, after: str | None = None,
                          limit: int | None = None, prefix: str | None = None) -> list[Repository]:
        q = select(s.repositories).where(s.repositories.c.account_id == account_id,
                                         s.repositories.c.region == region)
        if after is not None:
            q = q.where(s.repositories.c.name > after)
        if prefix:
            q = q.where(s.repositories.c.name.startswith(prefix, autoescape=True))
        q = q.order_by(s.repositories.c.name)
        if limit is not None:
            q = q.limit(limit)
        with self.db.read() as c:
            return [Repository.from_row(r) for r in c.execute(q)]

    def update_repository(self, key: RepoKey, **values) -> Repository:
        """Change stored repository settings (columns of the repositories table)."""
        for name in ("tag_mutability_exclusions", "resource_tags"):
            if name in values and not isinstance(values[name], str):
                values[name] = json.dumps(values[name])
        with self.db.write() as c:
            repo = self.get_repository(key, conn=c)
            c.execute(update(s.repositories).where(s.repositories.c.id == repo.id).values(**values))
            return self.get_repository(key, conn=c)

    def delete_repository(self, key: RepoKey, *, force: bool = False) -> Repository:
        with self.db.write() as c:
            repo = self.get_repository(key, conn=c)
            has_images = c.execute(select(s.manifests.c.id).where(
                s.manifests.c.repository_id == repo.id).limit(1)).first()
            if has_images and not force:
                raise e.RepositoryNotEmpty(key.name, key.account_id)
            for table in (s.tags, s.manifest_references, s.manifests, s.repository_blobs,
                          s.uploads, s.lifecycle_previews):
                c.execute(delete(table).where(table.c.repository_id == repo.id))
            c.execute(delete(s.repositories).where(s.repositories.c.id == repo.id))
            return repo

    # ------------------------------------------------------------------ blobs
    def blob_size(self, repo: Repository, digest: str) -> int:
        """Size of a blob readable from this repository (linked to it), else BlobNotFound."""
        with self.db.read() as c:
            row = c.execute(_LINKED_BLOB_SIZE, {"repository_id": repo.id, "digest": digest}).first()
        if row is None:
            raise e.BlobNotFound(digest)
        return row[0]

    def blob_sizes(self, repo: Repository, digests: Iterable[str]) -> dict[str, int]:
        digests = list(digests)
        with self.db.read() as c:
            rows = c.execute(select(s.blobs.c.digest, s.blobs.c.size).select_from(
                s.repository_blobs.join(s.blobs, s.blobs.c.digest == s.repository_blobs.c.digest)
            ).where(s.repository_blobs.c.repository_id == repo.id,
                    s.repository_blobs.c.digest.in_(digests)))
            return {d: size for d, size in rows}

    def read_blob(self, digest: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        try:
            return self.store.read_blob(digest, offset, length)
        except StoreBlobNotFound:
            # recorded but not stored: answered as unknown rather than with half a response
            raise e.BlobNotFound(digest) from None

    def link_blob(self, repo: Repository, digest: str, *, conn: Connection | None = None) -> bool:
        """Make a stored blob readable from `repo` (cross-repository mount, replication in the
        same storage). Returns False when the blob is not stored at all."""
        def run(c: Connection) -> bool:
            if c.execute(select(s.blobs.c.digest).where(s.blobs.c.digest == digest)).first() is None:
                return False
            self._link(c, repo.id, digest)
            return True

        if conn is not None:
            return run(conn)
        with self.db.write() as c:
            return run(c)

    def link_blobs(self, repo: Repository, digests: list[str]) -> int:
        """Link every stored blob among `digests` to `repo` in one transaction (replication in
        the same storage); returns how many were newly linked."""
        if not digests:
            return 0
        with self.db.write() as c:
            stored = {r[0] for r in c.execute(select(s.blobs.c.digest).where(s.blobs.c.digest.in_(digests)))}
            linked = {r[0] for r in c.execute(select(s.repository_blobs.c.digest).where(
                s.repository_blobs.c.repository_id == repo.id, s.repository_blobs.c.digest.in_(digests)))}
            new = sorted(stored - linked)
            now = time.time()
            if linked:  # refreshed, as in _link: the manifest that references them comes next
                c.execute(update(s.repository_blobs).where(
                    s.repository_blobs.c.repository_id == repo.id,
                    s.repository_blobs.c.digest.in_(sorted(linked))).values(created_at=now))
            if new:
                c.execute(insert(s.repository_blobs), [
                    {"repository_id": repo.id, "digest": d, "created_at": now} for d in new])
            return len(new)

    def _link(self, c: Connection, repository_id: int, digest: str) -> None:
        # An existing link is refreshed: its age is what gives a client the garbage collector's
        # grace period between uploading (or mounting) a blob and pushing its manifest.
        now = time.time()
        res = c.execute(_REFRESH_LINK, {"p_repository_id": repository_id, "p_digest": digest, "p_created_at": now})
        if res.rowcount == 0:
            c.execute(_INSERT_LINK, {"repository_id": repository_id, "digest": digest, "created_at": now})

    def unlink_blob(self, repo: Repository, digest: str) -> None:
        with self.db.write() as c:
            res = c.execute(delete(s.repository_blobs).where(
                s.repository_blobs.c.repository_id == repo.id, s.repository_blobs.c.digest == digest))
            if res.rowcount == 0:
                raise e.BlobNotFound(digest)

    def store_blob(self, repo: Repository, digest: str, data: bytes) -> None:
        """Store small verified content (e.g. a replicated config) and link it to `repo`."""
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise e.DigestMismatch(digest, "sha256:" + hashlib.sha256(data).hexdigest())
        self.store.put_blob(digest, data)
        with self.db.write() as c:
            self._record_blob(c, digest, len(data))
            self._link(c, repo.id, digest)

    def _record_blob(self, c: Connection, digest: str, size: int) -> None:
        # Checked inside the (serialised) write transaction: the garbage collector deletes a
        # blob's row and its content in one such transaction (crossreg/gc.py), so content that
        # an upload found already stored (and therefore dropped its own copy of) may have been
        # collected since. Then the upload fails here rather than record a blob without bytes.
        if self.store.blob_size(digest) is None:
            raise e.BlobNotFound(digest)
        if c.execute(_BLOB_EXISTS, {"digest": digest}).first() is None:
            c.execute(_INSERT_BLOB, {"digest": digest, "size": size, "created_at": time.time()})

    # ------------------------------------------------------------------ uploads
    def start_upload(self, repo: Repository) -> str:
        upload_id = str(uuid.uuid4())
        now = time.time()
        with self.db.write() as c:
            c.execute(_INSERT_UPLOAD, {"id": upload_id, "repository_id": repo.id, "size": 0, "parts": 0,
                                       "created_at": now, "updated_at": now})
        return upload_id

    def upload_size(self, repo: Repository, upload_id: str) -> int:
        with self.db.read() as c:
            row = c.execute(_UPLOAD_SIZE, {"upload_id": upload_id, "repository_id": repo.id}).first()
        if row is None:
            raise e.UploadNotFound(upload_id, repo.name, repo.account_id)
        return row[0]

    def open_upload_chunk(self, repo: Repository, upload_id: str, offset: int | None = None, *,
                          final: bool = False) -> "UploadChunk":
        """Start appending to an upload. `offset`, when the client gave one, must equal the
        upload's current size (chunks are strictly in order).

        The running sha256 lives in the process that received the previous chunk. Elsewhere
        (another process, a restart) a middle chunk is stored without hashing and the digest is
        computed from storage once, at completion -- re-reading the upload for every chunk that
        lands on another process would make an upload spread over several processes quadratic.
        A `final` chunk (PUT with a body) is hashed, from storage if need be, so that its
        digest is checked before it is recorded."""
        size = self.upload_size(repo, upload_id)
        if offset is not None and offset != size:
            raise e.UploadOffsetMismatch(size, offset)
        hasher = self._hashes.take(upload_id, size)
        if hasher is None and size == 0:
            hasher = hashlib.sha256()
        elif hasher is None and final:
            hasher = hashlib.sha256()
            for chunk in _limit(self.store.read_upload(upload_id), size):
                hasher.update(chunk)
        def open_writer():
            try:
                return self.store.open_upload(upload_id, size)
            except StoreUploadNotFound:
                raise e.UploadNotFound(upload_id, repo.name, repo.account_id)

        return UploadChunk(self, repo, upload_id, size, hasher, open_writer)

    def _finish_chunk(self, chunk: "UploadChunk") -> int:
        # A final chunk whose digest was checked records it with its size, so the completion
        # that follows needs neither hashing nor a transaction of its own to record it (and any
        # other chunk clears a digest recorded for fewer bytes).
        with self.db.write() as c:
            res = c.execute(_RECORD_CHUNK, {
                "p_upload_id": chunk.upload_id, "p_start": chunk.start, "p_size": chunk.size,
                "p_updated_at": time.time(), "p_verified_digest": chunk.verified_digest})
            if res.rowcount != 1:  # another request raced us on the same upload
                raise e.UploadOffsetMismatch(chunk.start, chunk.start)
        if chunk.hasher is not None:
            self._hashes.put(chunk.upload_id, chunk.size, chunk.hasher)
        return chunk.size

    def complete_upload(self, repo: Repository, upload_id: str, digest: str) -> int:
        """Verify the upload's digest, then make it the blob `digest`, linked to `repo`.

        Crash-safe and retryable: the verified digest is recorded before the bytes move to their
        content address, so if the process dies between that move and recording the blob, the
        client's retry (same digest) finds the content in place and finishes."""
        with self.db.read() as c:
            row = c.execute(_UPLOAD_STATE, {"upload_id": upload_id, "repository_id": repo.id}).first()
        if row is None:
            raise e.UploadNotFound(upload_id, repo.name, repo.account_id)
        size, verified = row
        if verified == digest and self.store.upload_size(upload_id) < size:
            stored = self.store.blob_size(digest)
            if stored != size:
                raise e.UploadNotFound(upload_id, repo.name, repo.account_id)
        elif verified == digest:
            # Recorded together with the final chunk's size once its hash matched (or by a
            # completion that died before moving the bytes): bytes 0..size are this digest.
            self._hashes.drop(upload_id)
            stored = self.store.commit_upload(upload_id, digest, size)
        else:
            hasher = self._hashes.take(upload_id, size)
            if hasher is None:
                hasher = hashlib.sha256()
                for chunk in _limit(self.store.read_upload(upload_id), size):
                    hasher.update(chunk)
            actual = _digest_string(digest, hasher, lambda: _limit(self.store.read_upload(upload_id), size))
            if actual != digest:
                self._hashes.put(upload_id, size, hasher)
                raise e.DigestMismatch(digest, actual)
            with self.db.write(serialize=False) as c:
                c.execute(_RECORD_VERIFIED, {"p_upload_id": upload_id, "p_size": size, "p_verified_digest": digest})
            stored = self.store.commit_upload(upload_id, digest, size)
        with self.db.write() as c:
            self._record_blob(c, digest, stored)
            self._link(c, repo.id, digest)
            c.execute(_DELETE_UPLOAD, {"upload_id": upload_id})
        return stored

    def cancel_upload(self, repo: Repository, upload_id: str) -> None:
        self.upload_size(repo, upload_id)
        with self.db.write() as c:
            c.execute(delete(s.uploads).where(s.uploads.c.id == upload_id))
        self._hashes.drop(upload_id)
        self.store.delete_upload(upload_id)

    # ------------------------------------------------------------------ manifests and tags
    def put_manifest(self, repo_key: RepoKey, body: bytes, content_type: str | None, *,
                     tag: str | None = None, expected_digest: str | None = None,
                     replicated: bool = False, require_children: bool = True) -> PushedImage:
        """Store a manifest (and optionally point a tag at it) atomically.

        Push hooks (replication planning, events) run inside the same transaction, so a push is
        never acknowledged without its replication tasks and vice versa."""
        try:
            parsed = parse_manifest(body, content_type)
        except ManifestError as exc:
            raise e.InvalidManifest(exc.message, exc.code, exc.detail) from None
        digest = str(parsed.digest)
        if expected_digest is not None and expected_digest != digest:
            raise e.DigestMismatch(expected_digest, digest)
        blob_refs = [d for d in parsed.blobs if d.media_type not in _NON_DISTRIBUTABLE or not d.urls]
        child_digests = tuple(str(m.digest) for m in parsed.manifests)
        with self.db.write() as c:
            repo = self.get_repository(repo_key, conn=c)
            sizes = {}
            if blob_refs:
                wanted = {str(d.digest) for d in blob_refs}
                rows = c.execute(select(s.blobs.c.digest, s.blobs.c.size).select_from(
                    s.repository_blobs.join(s.blobs, s.blobs.c.digest == s.repository_blobs.c.digest)
                ).where(s.repository_blobs.c.repository_id == repo.id,
                        s.repository_blobs.c.digest.in_(wanted)))
                sizes = dict(rows.all())
                missing = sorted(wanted - set(sizes))
                if missing:
                    raise e.ManifestBlobsMissing(missing)
            child_sizes: dict[str, int] = {}
            if child_digests:
                rows = c.execute(select(s.manifests.c.digest, s.manifests.c.image_size).where(
                    s.manifests.c.repository_id == repo.id, s.manifests.c.digest.in_(child_digests)))
                child_sizes = dict(rows.all())
                missing = sorted(set(child_digests) - set(child_sizes))
                if missing and require_children:
                    raise e.ReferencedManifestsMissing(missing)
            if tag is not None:
                current = c.execute(select(s.tags.c.manifest_digest).where(
                    s.tags.c.repository_id == repo.id, s.tags.c.name == tag)).first()
                if current is not None and current[0] != digest and is_tag_immutable(repo, tag):
                    raise e.ImmutableTag(tag, repo.name)
            existing = c.execute(select(s.manifests.c.id).where(
                s.manifests.c.repository_id == repo.id, s.manifests.c.digest == digest)).first()
            now = time.time()
            if existing is None:
                image_size = (max(child_sizes.values(), default=0) if parsed.is_index
                              else sum(sizes.values()))
                c.execute(insert(s.manifests).values(
                    repository_id=repo.id, digest=digest, media_type=parsed.media_type,
                    artifact_type=parsed.artifact_type,
                    subject_digest=str(parsed.subject.digest) if parsed.subject else None,
                    config_digest=str(parsed.config.digest) if parsed.config else None,
                    manifest_size=len(body), image_size=image_size, content=body,
                    annotations=json.dumps(parsed.annotations) if parsed.annotations else None,
                    pushed_at=now, replicated=replicated))
                refs = {(str(d.digest), "blob") for d in blob_refs}
                refs |= {(d, "manifest") for d in child_digests}
                if refs:
                    c.execute(insert(s.manifest_references), [
                        {"repository_id": repo.id, "manifest_digest": digest, "ref_digest": ref,
                         "ref_kind": kind} for ref, kind in sorted(refs)])
            if tag is not None:
                c.execute(delete(s.tags).where(s.tags.c.repository_id == repo.id, s.tags.c.name == tag))
                c.execute(insert(s.tags).values(repository_id=repo.id, name=tag,
                                                manifest_digest=digest, updated_at=now))
            pushed = PushedImage(
                repository=repo, digest=digest, media_type=parsed.media_type, tag=tag,
                created=existing is None, replicated=replicated, child_digests=child_digests,
                subject_digest=str(parsed.subject.digest) if parsed.subject else None,
                artifact_type=parsed.artifact_type)
            for hook in self.push_hooks:
                hook(c, pushed)
            return pushed

    def resolve(self, repo: Repository, reference: str, *, conn: Connection | None = None) -> str | None:
        """The digest a tag or digest reference names in `repo`, or None."""
        def run(c: Connection) -> str | None:
            if ":" in reference:
                row = c.execute(_DIGEST_BY_DIGEST, {"repository_id": repo.id, "digest": reference}).first()
            else:
                row = c.execute(_DIGEST_BY_TAG, {"repository_id": repo.id, "name": reference}).first()
            return row[0] if row else None

        if conn is not None:
            return run(conn)
        with self.db.read() as c:
            return run(c)

    def get_manifest(self, repo: Repository, reference: str, *, conn: Connection | None = None) -> Manifest:
        if conn is None:
            with self.db.read() as c:
                return self.get_manifest(repo, reference, conn=c)
        digest = self.resolve(repo, reference, conn=conn)
        row = digest and conn.execute(_MANIFEST_BY_DIGEST, {"repository_id": repo.id, "digest": digest}).first()
        if not row:
            raise e.ManifestNotFound(reference, repo.name, repo.account_id)
        return Manifest.from_row(row)

    def record_pull(self, repo: Repository, digest: str) -> None:
        """ECR's lastRecordedPullTime; refreshed at most hourly to keep pulls read-only."""
        now = time.time()
        with self.db.write(serialize=False) as c:  # one conditional UPDATE: needs no write lock
            c.execute(update(s.manifests).where(
                s.manifests.c.repository_id == repo.id, s.manifests.c.digest == digest,
                (s.manifests.c.last_pulled_at.is_(None)) | (s.manifests.c.last_pulled_at < now - 3600)
            ).values(last_pulled_at=now))

    def tags_of(self, c: Connection, repo_id: int, digest: str) -> list[str]:
        return [r[0] for r in c.execute(select(s.tags.c.name).where(
            s.tags.c.repository_id == repo_id, s.tags.c.manifest_digest == digest).order_by(s.tags.c.name))]

    def delete_tag(self, repo: Repository, tag: str, *, replicated: bool = False) -> DeletedImage:
        """Remove a tag. As in ECR, removing an image's last tag deletes the image."""
        with self.db.write() as c:
            row = c.execute(select(s.tags.c.manifest_digest).where(
                s.tags.c.repository_id == repo.id, s.tags.c.name == tag)).first()
            if row is None:
                raise e.ManifestNotFound(tag, repo.name, repo.account_id)
            digest = row[0]
            c.execute(delete(s.tags).where(s.tags.c.repository_id == repo.id, s.tags.c.name == tag))
            remaining = self.tags_of(c, repo.id, digest)
            deleted = False
            if not remaining and not self._referencing_index(c, repo.id, digest):
                self._delete_manifest_rows(c, repo.id, digest)
                deleted = True
            event = DeletedImage(repo, digest, (tag,), deleted, replicated)
            for hook in self.delete_hooks:
                hook(c, event)
            return event

    def untag(self, repo: Repository, tag: str) -> str:
        """Remove only the tag (OCI tag deletion); the manifest stays, untagged."""
        with self.db.write() as c:
            row = c.execute(select(s.tags.c.manifest_digest).where(
                s.tags.c.repository_id == repo.id, s.tags.c.name == tag)).first()
            if row is None:
                raise e.ManifestNotFound(tag, repo.name, repo.account_id)
            c.execute(delete(s.tags).where(s.tags.c.repository_id == repo.id, s.tags.c.name == tag))
            event = DeletedImage(repo, row[0], (tag,), False)
            for hook in self.delete_hooks:
                hook(c, event)
            return row[0]

    def delete_manifest(self, repo: Repository, digest: str, *, replicated: bool = False) -> DeletedImage:
        """Delete an image by digest with all its tags."""
        with self.db.write() as c:
            exists = c.execute(select(s.manifests.c.id).where(
                s.manifests.c.repository_id == repo.id, s.manifests.c.digest == digest)).first()
            if exists is None:
                raise e.ManifestNotFound(digest, repo.name, repo.account_id)
            parent = self._referencing_index(c, repo.id, digest)
            if parent:
                raise e.ManifestReferencedByIndex(digest, parent)
            tags = tuple(self.tags_of(c, repo.id, digest))
            self._delete_manifest_rows(c, repo.id, digest)
            event = DeletedImage(repo, digest, tags, True, replicated)
            for hook in self.delete_hooks:
                hook(c, event)
            return event

    def _referencing_index(self, c: Connection, repo_id: int, digest: str) -> str | None:
        row = c.execute(select(s.manifest_references.c.manifest_digest).where(
            s.manifest_references.c.repository_id == repo_id,
            s.manifest_references.c.ref_digest == digest,
            s.manifest_references.c.ref_kind == "manifest")).first()
        return row[0] if row else None

    def _delete_manifest_rows(self, c: Connection, repo_id: int, digest: str) -> None:
        c.execute(delete(s.tags).where(s.tags.c.repository_id == repo_id, s.tags.c.manifest_digest == digest))
        c.execute(delete(s.manifest_references).where(
            s.manifest_references.c.repository_id == repo_id,
            s.manifest_references.c.manifest_digest == digest))
        c.execute(delete(s.manifests).where(s.manifests.c.repository_id == repo_id,
                                            s.manifests.c.digest == digest))

    def list_tags(self, repo: Repository, *, last: str | None = None, n: int | None = None) -> list[str]:
        q = select(s.tags.c.name).where(s.tags.c.repository_id == repo.id)
        if last:
            q = q.where(s.tags.c.name > last)
        q = q.order_by(s.tags.c.name)
        if n is not None:
            q = q.limit(n)
        with self.db.read() as c:
            return [r[0] for r in c.execute(q)]

    def referrers(self, repo: Repository, subject_digest: str, artifact_type: str | None = None) -> list[Manifest]:
        q = select(s.manifests).where(s.manifests.c.repository_id == repo.id,
                                      s.manifests.c.subject_digest == subject_digest)
        if artifact_type:
            q = q.where(s.manifests.c.artifact_type == artifact_type)
        with self.db.read() as c:
            return [Manifest.from_row(r) for r in c.execute(q.order_by(s.manifests.c.pushed_at))]

    def count_images(self, repo: Repository) -> int:
        with self.db.read() as c:
            return c.execute(select(func.count()).select_from(s.manifests).where(
                s.manifests.c.repository_id == repo.id)).scalar_one()

    # ------------------------------------------------------------------ image listings (ECR API)
    def list_image_ids(self, repo: Repository, *, tag_status: str = "ANY",
                       after: tuple[str, str] | None = None,
                       limit: int | None = None) -> list[tuple[str, str | None]]:
        """ECR's ListImages: one (digest, tag) pair per tag and (digest, None) per untagged
        image, ordered by digest then tag. `after` is the last pair of the previous page, its tag
        given as "" for an untagged image, so pages never skip or repeat an entry."""
        m, t = s.manifests, s.tags
        tag_key = func.coalesce(t.c.name, "")
        q = select(m.c.digest, t.c.name).select_from(m.outerjoin(t, and_(
            t.c.repository_id == m.c.repository_id, t.c.manifest_digest == m.c.digest))
        ).where(m.c.repository_id == repo.id)
        if tag_status == "TAGGED":
            q = q.where(t.c.name.is_not(None))
        elif tag_status == "UNTAGGED":
            q = q.where(t.c.name.is_(None))
        if after is not None:
            q = q.where((m.c.digest > after[0]) | and_(m.c.digest == after[0], tag_key > after[1]))
        q = q.order_by(m.c.digest, tag_key)
        if limit is not None:
            q = q.limit(limit)
        with self.db.read() as c:
            return [(d, tag) for d, tag in c.execute(q)]

    def list_images(self, repo: Repository, *, tag_status: str = "ANY", after: str | None = None,
                    limit: int | None = None) -> list[ImageRecord]:
        """ECR's DescribeImages: images (manifests) with their tags, ordered by digest;
        `after` is the last digest of the previous page."""
        m, t = s.manifests, s.tags
        tagged = select(t.c.name).where(t.c.repository_id == m.c.repository_id,
                                        t.c.manifest_digest == m.c.digest).exists()
        q = select(m).where(m.c.repository_id == repo.id)
        if tag_status == "TAGGED":
            q = q.where(tagged)
        elif tag_status == "UNTAGGED":
            q = q.where(~tagged)
        if after is not None:
            q = q.where(m.c.digest > after)
        q = q.order_by(m.c.digest)
        if limit is not None:
            q = q.limit(limit)
        with self.db.read() as c:
            manifests = [Manifest.from_row(r) for r in c.execute(q)]
            tags = self._tags_by_digest(c, repo.id, [mf.digest for mf in manifests])
        return [ImageRecord(mf, tuple(tags.get(mf.digest, ()))) for mf in manifests]

    def images_by_digest(self, repo: Repository, digests: Iterable[str]) -> dict[str, ImageRecord]:
        """The stored images among `digests` (missing ones are simply absent)."""
        digests = sorted(set(digests))
        with self.db.read() as c:
            rows = c.execute(select(s.manifests).where(
                s.manifests.c.repository_id == repo.id, s.manifests.c.digest.in_(digests)))
            manifests = [Manifest.from_row(r) for r in rows]
            tags = self._tags_by_digest(c, repo.id, [mf.digest for mf in manifests])
        return {mf.digest: ImageRecord(mf, tuple(tags.get(mf.digest, ()))) for mf in manifests}

    def _tags_by_digest(self, c: Connection, repo_id: int, digests: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if digests:
            rows = c.execute(select(s.tags.c.manifest_digest, s.tags.c.name).where(
                s.tags.c.repository_id == repo_id, s.tags.c.manifest_digest.in_(digests)
            ).order_by(s.tags.c.name))
            for digest, name in rows:
                found.setdefault(digest, []).append(name)
        return found


class UploadChunk:
    """One request's worth of bytes appended to an upload: hashed while written, recorded in
    the database only when complete, so an interrupted request changes nothing visible."""

    def __init__(self, service: RegistryService, repo: Repository, upload_id: str, start: int,
                 hasher, open_writer):
        self.service, self.repo, self.upload_id = service, repo, upload_id
        self.start = self.size = start
        self.hasher = hasher
        # Set by the caller once the whole upload, this chunk included, hashed to the digest the
        # client will complete it with; recorded with the chunk (see _finish_chunk).
        self.verified_digest: str | None = None
        # Storage is opened by the first byte: an empty body (the final PUT of a chunked upload)
        # touches neither storage nor the database, so it also works when a completion already
        # moved the bytes into place and died before recording them (complete_upload retries).
        self._open_writer, self.writer = open_writer, None

    def write(self, data: bytes) -> None:
        if self.writer is None:
            self.writer = self._open_writer()
        self.writer.write(data)
        if self.hasher is not None:
            self.hasher.update(data)
        self.size += len(data)

    def commit(self) -> int:
        if self.writer is None:
            if self.hasher is not None:
                self.service._hashes.put(self.upload_id, self.size, self.hasher)
            return self.size
        self.writer.close()
        return self.service._finish_chunk(self)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        self.service._hashes.drop(self.upload_id)


def _limit(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    remaining = size
    for chunk in chunks:
        if remaining <= 0:
            return
        yield chunk[:remaining]
        remaining -= len(chunk)


def _digest_string(claimed: str, sha256_state, reread: Callable[[], Iterator[bytes]]) -> str:
    """The content digest in the claimed digest's algorithm (sha256 is hashed while streaming;
    sha512 uploads, rare, are hashed again from storage)."""
    if claimed.startswith("sha512:"):
        h = hashlib.sha512()
        for chunk in reread():
            h.update(chunk)
        return "sha512:" + h.hexdigest()
    return "sha256:" + sha256_state.hexdigest()
