"""Background work inside a server (or `crossreg worker`) process: replication workers, event
delivery and lifecycle policies. Work is claimed from the database, so any number of processes can run this."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from crossreg import metrics
from crossreg.app import Crossreg
from crossreg.events import EventDispatcher
from crossreg.replication import tasks as tq
from crossreg.replication.engine import ReplicationEngine

log = logging.getLogger("crossreg.replication")

POLL_SECONDS = 0.5  # how soon work pushed through *another* process is noticed
LIFECYCLE_CHECK_SECONDS = 60.0


class BackgroundRunner:
    def __init__(self, core: Crossreg, concurrency: int = 8):
        self.core = core
        self.engine = ReplicationEngine(core)
        self.events = EventDispatcher(core.db, core.settings.event_webhook_url)
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency + 1, thread_name_prefix="replication")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def wake(self) -> None:
        """Thread-safe: called after a push that created tasks commits."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._replicate_forever()),
                       asyncio.create_task(self._deliver_events_forever()),
                       asyncio.create_task(self._expire_images_forever())]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _replicate_forever(self) -> None:
        loop = asyncio.get_running_loop()
        inflight: set[asyncio.Future] = set()
        while not self._stopping:
            try:
                free = self.concurrency - len(inflight)
                claimed = await loop.run_in_executor(self._pool, self.engine.claim, free) if free > 0 else []
                for task in claimed:
                    inflight.add(loop.run_in_executor(self._pool, self.engine.execute, task))
                if claimed and len(inflight) < self.concurrency:
                    continue  # more may be waiting
                self._wake.clear()
                waiters = [asyncio.ensure_future(self._wake.wait())]
                done, _ = await asyncio.wait([*inflight, *waiters], timeout=POLL_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
                for fut in [f for f in inflight if f.done()]:
                    inflight.discard(fut)
                    if fut.exception() is not None:
                        log.error("replication worker crashed: %r", fut.exception())
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. database briefly unavailable: keep the loop alive
                _log_failure("replication loop error; retrying")
                await asyncio.sleep(1)

    async def _expire_images_forever(self) -> None:
        """Lifecycle policies: ECR applies them within 24 hours; crossreg checks every minute
        and runs each repository's policy at most hourly (crossreg.lifecycle.runner)."""
        from crossreg.lifecycle.runner import run_due

        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                expired = await loop.run_in_executor(self._pool, run_due, self.core)
                if expired:
                    log.info("lifecycle policies expired %s images", expired)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log_failure("lifecycle run failed; retrying later")
            await asyncio.sleep(LIFECYCLE_CHECK_SECONDS)

    async def _deliver_events_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await loop.run_in_executor(self._pool, self.events.deliver_pending)
                depth = await loop.run_in_executor(self._pool, tq.queue_depth, self.core.db)
                for status in ("PENDING", "IN_PROGRESS"):
                    metrics.replication_queue_depth.labels(status).set(depth.get(status, 0))
            except asyncio.CancelledError:
                raise
            except Exception:
                _log_failure("event delivery error; retrying")
            await asyncio.sleep(1.0)


def _log_failure(message: str) -> None:
    """A database outage is expected now and then (one line, no traceback); anything else is
    logged with its traceback."""
    import sys

    from crossreg.metadata.db import DatabaseUnavailable

    if isinstance(sys.exc_info()[1], DatabaseUnavailable):
        log.warning("%s: %s", message, sys.exc_info()[1])
    else:
        log.exception(message)
