"""Garbage collection of blob storage, safe while pushes continue.

What is garbage (each only once older than the grace period, default 24 h):

1. abandoned uploads: upload sessions not written to for the grace period;
2. (with `prune_links`, the default) repository links to layers that no manifest of that
   repository references -- layers left behind by deleted or expired images -- created more than
   the grace period ago;
3. blobs with no repository link and no manifest referencing them;
4. (filesystem storage) files without a database row: the remains of a crash between storing
   content and recording it.

Why it is safe while pushes continue:

- A blob uploaded for a manifest that has not been pushed yet is linked to its repository when
  the upload completes; its link is younger than the grace period, so neither the link nor the
  blob is touched. A client gets the whole grace period between uploading layers and pushing
  the manifest that references them.
- A manifest push checks, in its write transaction, that every blob it references is linked;
  every collection step re-checks its conditions in a write transaction of its own. Write
  transactions are serialised (SQLite's write lock; an advisory lock on PostgreSQL), so a
  manifest either commits first -- its blobs are referenced and stay -- or finds a pruned link
  missing and is refused (MANIFEST_BLOB_UNKNOWN, nothing acknowledged); an acknowledged push
  never loses a blob.
- Blob content is deleted inside the transaction that deletes the blob's row. An upload that
  found the same content already stored (content addressing: it drops its own copy) records the
  blob in a write transaction that first checks the content is still in storage
  (RegistryService._record_blob), so it either sees the blob still there (and links it, before
  the collector's re-check) or fails instead of recording a blob without bytes.
- Nothing is deleted from storage before the database says it is garbage; a crash at any point
  leaves at worst garbage for the next run.

Several collectors may run at once (each step is idempotent); on PostgreSQL a session advisory
lock makes a second collector wait for nothing and return at once instead.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import and_, delete, exists, func, select

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.storage.base import BlobStore

log = logging.getLogger("crossreg.gc")

DEFAULT_GRACE_SECONDS = 24 * 3600
GC_LOCK_KEY = 727276
BATCH = 100
DELETE_BATCH = 20  # blobs whose content is deleted while holding the write lock

_HEX = re.compile(r"^[a-f0-9]+$")


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    uploads_deleted: int = 0
    links_pruned: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_files_deleted: int = 0
    skipped: str | None = None
    digests: list[str] = field(default_factory=list)  # the blobs deleted (or that would be)

    def as_dict(self) -> dict:
        return asdict(self)


class GarbageCollector:
    def __init__(self, db: Database, store: BlobStore, *, grace_seconds: float = DEFAULT_GRACE_SECONDS,
                 prune_links: bool = True, dry_run: bool = False, now: float | None = None):
        if grace_seconds < 0:
            raise ValueError("the grace period cannot be negative")
        self.db, self.store = db, store
        self.grace = grace_seconds
        self.prune_links = prune_links
        self.dry_run = dry_run
        self.now = now

    def run(self) -> GcReport:
        report = GcReport(dry_run=self.dry_run, grace_seconds=self.grace)
        lock = self._single_collector()
        if lock is None:
            report.skipped = "another garbage collection is running"
            return report
        try:
            cutoff = (self.now if self.now is not None else time.time()) - self.grace
            self._uploads(cutoff, report)
            if self.prune_links:
                self._links(cutoff, report)
            self._blobs(cutoff, report)
            self._orphans(cutoff, report)
        finally:
            lock()
        log.info("garbage collection%s: %s", " (dry run)" if self.dry_run else "",
                 {k: v for k, v in report.as_dict().items() if k != "digests"})
        return report

    # ------------------------------------------------------------------ one collector at a time
    def _single_collector(self):
        """A release function, or None when another collector holds the PostgreSQL lock."""
        if self.db.is_sqlite:
            return lambda: None
        conn = self.db.engine.connect()
        got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({GC_LOCK_KEY})").scalar()
        conn.commit()
        if not got:
            conn.close()
            return None

        def release():
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({GC_LOCK_KEY})")
                conn.commit()
            finally:
                conn.close()
        return release

    # ------------------------------------------------------------------ 1. abandoned uploads
    def _uploads(self, cutoff: float, report: GcReport) -> None:
        u = s.uploads
        if self.dry_run:
            with self.db.read() as c:
                report.uploads_deleted = c.execute(
                    select(func.count()).select_from(u).where(u.c.updated_at < cutoff)).scalar_one()
            return
        while True:
            with self.db.read() as c:
                ids = [r[0] for r in c.execute(select(u.c.id).where(u.c.updated_at < cutoff)
                                               .order_by(u.c.id).limit(BATCH))]
            if not ids:
                return
            with self.db.write() as c:  # re-checked: a chunk may have arrived meanwhile
                gone = [r[0] for r in c.execute(select(u.c.id).where(u.c.id.in_(ids), u.c.updated_at < cutoff))]
                c.execute(delete(u).where(u.c.id.in_(gone)))
            for upload_id in gone:  # the row is gone first: no request can continue the upload
                self.store.delete_upload(upload_id)
            report.uploads_deleted += len(gone)

    # ------------------------------------------------------------------ 2. unreferenced links
    def _links(self, cutoff: float, report: GcReport) -> None:
        rb, mr = s.repository_blobs, s.manifest_references
        referenced = exists().where(mr.c.repository_id == rb.c.repository_id, mr.c.ref_digest == rb.c.digest,
                                    mr.c.ref_kind == "blob")
        stale = and_(rb.c.created_at < cutoff, ~referenced)
        after: tuple[int, str] = (-1, "")
        while True:
            with self.db.read() as c:
                keys = [tuple(r) for r in c.execute(
                    select(rb.c.repository_id, rb.c.digest).where(stale).where(
                        (rb.c.repository_id > after[0]) | and_(rb.c.repository_id == after[0], rb.c.digest > after[1])
                    ).order_by(rb.c.repository_id, rb.c.digest).limit(BATCH))]
            if not keys:
                return
            after = keys[-1]
            if self.dry_run:
                report.links_pruned += len(keys)
                continue
            with self.db.write() as c:
                for repo_id, digest in keys:  # the same conditions, now under the write lock
                    res = c.execute(delete(rb).where(rb.c.repository_id == repo_id, rb.c.digest == digest, stale))
                    report.links_pruned += res.rowcount

    # ------------------------------------------------------------------ 3. unreferenced blobs
    def _garbage_blobs(self, cutoff: float, *, after_pruning: bool = False):
        """Blobs older than the cutoff that no manifest references and no repository links to.
        `after_pruning`: as they will be once step 2 has pruned old unreferenced links (what a
        dry run reports)."""
        b, rb, mr = s.blobs, s.repository_blobs, s.manifest_references
        links = exists().where(rb.c.digest == b.c.digest)
        if after_pruning:
            links = exists().where(rb.c.digest == b.c.digest, rb.c.created_at >= cutoff)
        return and_(b.c.created_at < cutoff, ~links,
                    ~exists().where(mr.c.ref_digest == b.c.digest, mr.c.ref_kind == "blob"))

    def _blobs(self, cutoff: float, report: GcReport) -> None:
        b = s.blobs
        garbage = self._garbage_blobs(cutoff)
        listed = self._garbage_blobs(cutoff, after_pruning=self.dry_run and self.prune_links)
        after = ""
        while True:
            with self.db.read() as c:
                rows = c.execute(select(b.c.digest, b.c.size).where(listed, b.c.digest > after)
                                 .order_by(b.c.digest).limit(DELETE_BATCH)).all()
            if not rows:
                return
            after = rows[-1][0]
            if self.dry_run:
                report.blobs_deleted += len(rows)
                report.bytes_freed += sum(size for _, size in rows)
                report.digests += [d for d, _ in rows]
                continue
            with self.db.write() as c:
                # Re-checked under the write lock, then the rows and the content go in the same
                # transaction (see the module docstring for why this order is safe). Small
                # batches: other writers wait meanwhile.
                rows = c.execute(select(b.c.digest, b.c.size).where(
                    garbage, b.c.digest.in_([d for d, _ in rows]))).all()
                digests = [d for d, _ in rows]
                if digests:
                    c.execute(delete(b).where(b.c.digest.in_(digests)))
                    for digest in digests:
                        self.store.delete_blob(digest)
            report.blobs_deleted += len(digests)
            report.bytes_freed += sum(size for _, size in rows)
            report.digests += digests

    # ------------------------------------------------------------------ 4. orphan files
    def _orphans(self, cutoff: float, report: GcReport) -> None:
        """Files no database row accounts for. Only stores that can list their content take
        part: the filesystem store, or any store with `iter_blob_digests()` / `iter_upload_ids()`
        returning (name, last-modified epoch seconds) pairs."""
        if not self.dry_run and hasattr(self.store, "abort_stale_multipart_uploads"):
            # S3: multipart uploads a crashed writer or commit never finished (billed, invisible)
            report.orphan_files_deleted += self.store.abort_stale_multipart_uploads(self.grace)
        blobs, uploads = _listing(self.store)
        if blobs is not None:
            batch: list[str] = []
            for digest, mtime in blobs:
                if mtime < cutoff:
                    batch.append(digest)
                if len(batch) >= DELETE_BATCH:
                    self._delete_orphan_blobs(batch, report)
                    batch = []
            if batch:
                self._delete_orphan_blobs(batch, report)
        if uploads is not None:
            batch = []
            for upload_id, mtime in uploads:
                if mtime < cutoff:
                    batch.append(upload_id)
                if len(batch) >= BATCH:
                    self._delete_orphan_uploads(batch, report)
                    batch = []
            if batch:
                self._delete_orphan_uploads(batch, report)

    def _delete_orphan_blobs(self, digests: list[str], report: GcReport) -> None:
        b = s.blobs
        if self.dry_run:
            with self.db.read() as c:
                known = {r[0] for r in c.execute(select(b.c.digest).where(b.c.digest.in_(digests)))}
            report.orphan_files_deleted += len(set(digests) - known)
            return
        with self.db.write() as c:  # under the write lock: no upload is recording one of these now
            known = {r[0] for r in c.execute(select(b.c.digest).where(b.c.digest.in_(digests)))}
            for digest in digests:
                if digest not in known:
                    self.store.delete_blob(digest)
                    report.orphan_files_deleted += 1

    def _delete_orphan_uploads(self, upload_ids: list[str], report: GcReport) -> None:
        u = s.uploads
        with self.db.read() as c:
            known = {r[0] for r in c.execute(select(u.c.id).where(u.c.id.in_(upload_ids)))}
        for upload_id in upload_ids:
            if upload_id not in known:
                if not self.dry_run:
                    self.store.delete_upload(upload_id)
                report.orphan_files_deleted += 1


def _listing(store: BlobStore):
    """(blob digests, upload ids) with modification times, where the store can list them."""
    if hasattr(store, "iter_blob_digests") or hasattr(store, "iter_upload_ids"):
        blobs = store.iter_blob_digests() if hasattr(store, "iter_blob_digests") else None
        uploads = store.iter_upload_ids() if hasattr(store, "iter_upload_ids") else None
        return blobs, uploads
    from crossreg.storage.filesystem import FilesystemBlobStore

    if isinstance(store, FilesystemBlobStore):
        return _fs_blobs(store.root / "blobs"), _fs_uploads(store.root / "uploads")
    return None, None


def _fs_blobs(root: Path):
    """blobs/<algorithm>/<2 hex>/<hex> files (temporary files of put_blob are skipped)."""
    if not root.is_dir():
        return
    for algorithm in sorted(os.listdir(root)):
        for prefix in sorted(os.listdir(root / algorithm)):
            folder = root / algorithm / prefix
            if not folder.is_dir():
                continue
            for name in sorted(os.listdir(folder)):
                if not _HEX.match(name):
                    continue
                try:
                    mtime = (folder / name).stat().st_mtime
                except FileNotFoundError:
                    continue
                yield f"{algorithm}:{name}", mtime


def _fs_uploads(root: Path):
    if not root.is_dir():
        return
    for name in sorted(os.listdir(root)):
        try:
            mtime = (root / name).stat().st_mtime
        except FileNotFoundError:
            continue
        yield name, mtime
