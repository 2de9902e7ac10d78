"""The durable replication queue: one row per (image push, destination).

States: PENDING (waiting, perhaps for a retry) → IN_PROGRESS (leased by a worker) → COMPLETE or
FAILED. Every transition out of IN_PROGRESS is conditional on the caller still holding the
lease, so however often a task is attempted (crashes, expired leases), it finishes once.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database

t = s.replication_tasks

LEASE_SECONDS = 15.0
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Task:
    id: int
    kind: str
    source_account: str
    source_region: str
    repository_name: str
    manifest_digest: str
    tags: tuple[str, ...]
    dest_account: str
    dest_region: str
    attempts: int
    created_at: float
    backfill_id: str | None

    @classmethod
    def from_row(cls, row) -> "Task":
        m = row._mapping
        return cls(m["id"], m["kind"], m["source_account"], m["source_region"], m["repository_name"],
                   m["manifest_digest"], tuple(json.loads(m["tags"] or "[]")), m["dest_account"],
                   m["dest_region"], m["attempts"], m["created_at"], m["backfill_id"])


def enqueue(conn: Connection, *, kind: str, source_account: str, source_region: str, repository_name: str,
            digest: str, tags: list[str], dest_account: str, dest_region: str,
            backfill_id: str | None = None) -> None:
    now = time.time()
    conn.execute(insert(t).values(
        kind=kind, source_account=source_account, source_region=source_region,
        repository_name=repository_name, manifest_digest=digest, tags=json.dumps(tags),
        dest_account=dest_account, dest_region=dest_region, status="PENDING", attempts=0,
        next_attempt_at=now, created_at=now, bytes_copied=0, blobs_copied=0, backfill_id=backfill_id))


def claim(db: Database, owner: str, limit: int, regions: set[str] | None = None) -> list[Task]:
    """Lease up to `limit` runnable tasks: pending ones that are due, and in-progress ones whose
    lease expired (their worker died)."""
    now = time.time()
    runnable = or_(and_(t.c.status == "PENDING", t.c.next_attempt_at <= now),
                   and_(t.c.status == "IN_PROGRESS", t.c.lease_expires_at < now))
    with db.write() as c:
        q = select(t.c.id).where(runnable).order_by(t.c.next_attempt_at, t.c.id).limit(limit)
        if c.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids = [r[0] for r in c.execute(q)]
        if not ids:
            return []
        c.execute(update(t).where(t.c.id.in_(ids)).values(
            status="IN_PROGRESS", lease_owner=owner, lease_expires_at=now + LEASE_SECONDS,
            attempts=t.c.attempts + 1, started_at=func.coalesce(t.c.started_at, now)))
        return [Task.from_row(r) for r in c.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id))]


def _owned(task_id: int, owner: str):
    return and_(t.c.id == task_id, t.c.status == "IN_PROGRESS", t.c.lease_owner == owner)


def heartbeat(db: Database, task_id: int, owner: str) -> bool:
    with db.write() as c:
        res = c.execute(update(t).where(_owned(task_id, owner)).values(
            lease_expires_at=time.time() + LEASE_SECONDS))
        return res.rowcount == 1


def finish(conn: Connection, task_id: int, owner: str, *, status: str, failure_code: str | None = None,
           failure_reason: str | None = None, bytes_copied: int = 0, blobs_copied: int = 0) -> bool:
    """COMPLETE or FAILED, inside the caller's transaction. False if the lease was lost."""
    res = conn.execute(update(t).where(_owned(task_id, owner)).values(
        status=status, failure_code=failure_code, failure_reason=failure_reason, finished_at=time.time(),
        bytes_copied=bytes_copied, blobs_copied=blobs_copied, lease_owner=None, lease_expires_at=None))
    return res.rowcount == 1


def retry_later(db: Database, task: Task, owner: str, reason: str) -> bool:
    """Back to PENDING with exponential backoff and full jitter (0.2 s, 0.4 s, ... capped at 60 s)."""
    delay = random.uniform(0, min(60.0, 0.2 * 2 ** max(task.attempts - 1, 0)))
    with db.write() as c:
        res = c.execute(update(t).where(_owned(task.id, owner)).values(
            status="PENDING", lease_owner=None, lease_expires_at=None, failure_reason=reason,
            next_attempt_at=time.time() + delay))
        return res.rowcount == 1


def queue_depth(db: Database) -> dict[str, int]:
    with db.read() as c:
        rows = c.execute(select(t.c.status, func.count()).where(
            t.c.status.in_(("PENDING", "IN_PROGRESS"))).group_by(t.c.status))
        return {status: n for status, n in rows}


def image_status_details(conn: Connection, account_id: str, region: str, repository_name: str,
                         digest: str) -> list[dict]:
    """The newest push task per destination of one image, ordered by (region, account): the task
    rows (failure reason, timings, bytes copied) behind DescribeImageReplicationStatus."""
    rows = conn.execute(select(t).where(
        t.c.source_account == account_id, t.c.source_region == region,
        t.c.repository_name == repository_name, t.c.manifest_digest == digest,
        t.c.kind == "PUSH").order_by(t.c.id))
    latest: dict[tuple[str, str], dict] = {}
    for r in rows:
        m = dict(r._mapping)
        latest[(m["dest_region"], m["dest_account"])] = m
    return [latest[k] for k in sorted(latest)]


def image_statuses(conn: Connection, account_id: str, region: str, repository_name: str,
                   digest: str) -> list[dict]:
    """DescribeImageReplicationStatus: the newest push task per destination, as ECR reports it
    (a waiting retry is still IN_PROGRESS)."""
    out = []
    for m in image_status_details(conn, account_id, region, repository_name, digest):
        entry = {"region": m["dest_region"], "registryId": m["dest_account"],
                 "status": api_status(m["status"])}
        if m["status"] == "FAILED" and m["failure_code"]:
            entry["failureCode"] = m["failure_code"]
        out.append(entry)
    return out


def api_status(status: str) -> str:
    """A task's state as ECR names it: a task waiting (perhaps for a retry) is IN_PROGRESS."""
    return {"PENDING": "IN_PROGRESS"}.get(status, status)


def recent(db: Database, *, account_id: str | None = None, limit: int = 50) -> list[dict]:
    """Recent tasks, newest first, for the CLI and the console's activity page."""
    q = select(t).order_by(t.c.id.desc()).limit(limit)
    if account_id:
        q = q.where(or_(t.c.source_account == account_id, t.c.dest_account == account_id))
    with db.read() as c:
        return [dict(r._mapping) for r in c.execute(q)]
