"""Runs replication tasks: claims them with a lease, copies, and records the outcome (status,
event, metrics) in one transaction. Transient errors retry with backoff; permanent ones fail
at once with a stable code."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid

from crossreg import metrics
from crossreg.app import Crossreg
from crossreg.events import record_event
from crossreg.replication import tasks as tq
from crossreg.replication.copier import LocalReplicator, Outcome
from crossreg.replication.failures import LeaseLost, ReplicationFailure

log = logging.getLogger("crossreg.replication")


class ReplicationEngine:
    def __init__(self, core: Crossreg):
        self.core = core
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.local = LocalReplicator(core)
        self._remotes: dict[str, object] = {}

    def replicator_for(self, region: str):
        """This server's own regions are replicated locally; others through the crossreg server
        configured for them (CROSSREG_REGION_ENDPOINTS)."""
        settings = self.core.settings
        if settings.serves_region(region):
            return self.local
        endpoint = settings.region_endpoint(region)
        if endpoint is None:
            raise ReplicationFailure("DESTINATION_REGION_UNAVAILABLE",
                                     f"region {region} is not served here and no endpoint is configured for it")
        if region not in self._remotes:
            from crossreg.replication.peer import RemoteReplicator

            self._remotes[region] = RemoteReplicator(self.core, endpoint)
        return self._remotes[region]

    def claim(self, limit: int) -> list[tq.Task]:
        return tq.claim(self.core.db, self.owner, limit)

    def run_pending(self, limit: int = 100) -> int:
        """Claim and run tasks in this thread until none is due (CLI worker, tests)."""
        done = 0
        while True:
            batch = self.claim(min(limit, 50))
            if not batch:
                return done
            for task in batch:
                self.execute(task)
                done += 1

    def execute(self, task: tq.Task) -> None:
        renewed = [time.monotonic()]

        def keep_lease() -> None:
            if time.monotonic() - renewed[0] > tq.LEASE_SECONDS / 3:
                if not tq.heartbeat(self.core.db, task.id, self.owner):
                    raise LeaseLost()
                renewed[0] = time.monotonic()

        try:
            outcome = self.replicator_for(task.dest_region).replicate(task, keep_lease)
        except LeaseLost:
            log.warning("task %s: lease lost, another worker continues it", task.id)
            return
        except ReplicationFailure as failure:
            self._finish(task, "FAILED", Outcome(), failure.code, failure.reason)
            return
        except Exception as exc:  # transient (database busy, storage hiccup, peer down): retry
            reason = f"{type(exc).__name__}: {exc}"
            if task.attempts >= tq.MAX_ATTEMPTS:
                log.exception("task %s failed after %s attempts", task.id, task.attempts)
                httpx = sys.modules.get("httpx")  # (imported once a peer region was called)
                unreachable = httpx is not None and isinstance(exc, httpx.TransportError)
                self._finish(task, "FAILED", Outcome(),
                             "DESTINATION_REGION_UNAVAILABLE" if unreachable else "INTERNAL_ERROR", reason)
            else:
                log.warning("task %s attempt %s failed, will retry: %s", task.id, task.attempts, reason)
                tq.retry_later(self.core.db, task, self.owner, reason)
            return
        self._finish(task, "COMPLETE", outcome)

    def _finish(self, task: tq.Task, status: str, outcome: Outcome, code: str | None = None,
                reason: str | None = None) -> None:
        if outcome.skipped_tags and reason is None:
            reason = "tags skipped (immutable at the destination): " + ", ".join(outcome.skipped_tags)
        with self.core.db.write() as c:
            if not tq.finish(c, task.id, self.owner, status=status, failure_code=code, failure_reason=reason,
                             bytes_copied=outcome.bytes_copied, blobs_copied=outcome.blobs_copied):
                return  # lease lost: the other worker records the outcome
            if task.kind == "PUSH":
                record_event(c, task.dest_account, task.dest_region, "ECR Replication Action", {
                    "action-type": "REPLICATE", "result": "SUCCESS" if status == "COMPLETE" else "FAILURE",
                    "repository-name": task.repository_name, "image-digest": task.manifest_digest,
                    "image-tag": ",".join(task.tags), "source-account": task.source_account,
                    "source-region": task.source_region,
                    **({"failure-code": code} if code else {})})
        metrics.replication_results.labels(status, code or "").inc()
        metrics.replication_bytes.inc(outcome.bytes_copied)
        if status == "COMPLETE" and task.kind == "PUSH":
            metrics.replication_latency.observe(max(0.0, time.time() - task.created_at))
        log.info("task %s %s %s/%s %s@%s -> %s/%s%s", task.id, task.kind, task.source_account,
                 task.source_region, task.repository_name, task.manifest_digest[:19], task.dest_account,
                 task.dest_region, f": {status} {code or ''}")
