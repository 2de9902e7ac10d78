"""EventBridge-shaped events ("ECR Image Action", "ECR Replication Action"): written to an
outbox table in the transaction that causes them, then delivered to sinks (the log, and an
optional webhook) by the background runner, so no event is lost with a crash and none is sent
for a rolled-back change."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import Connection, insert, select, update

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database

log = logging.getLogger("crossreg.events")


def record_event(conn: Connection, account_id: str, region: str, detail_type: str, detail: dict,
                 resources: list[str] | None = None) -> None:
    now = time.time()
    body = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ecr",
        "account": account_id,
        "time": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources or [],
        "detail": detail,
    }
    conn.execute(insert(s.events).values(account_id=account_id, region=region, detail_type=detail_type,
                                         body=json.dumps(body), created_at=now))


def _http_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


class EventDispatcher:
    def __init__(self, db: Database, webhook_url: str | None = None):
        self.db = db
        self.webhook_url = webhook_url
        self._client = None
        if webhook_url:  # httpx is imported only where there is a webhook to call
            import httpx

            self._client = httpx.Client(timeout=5)

    def deliver_pending(self, limit: int = 200) -> int:
        """Send undelivered events; an event whose webhook delivery fails stays pending.

        Every process runs this loop. On PostgreSQL the events being delivered are row-locked
        (`FOR UPDATE SKIP LOCKED`) until they are marked delivered, so several processes never
        deliver the same event twice; SQLite serves one process."""
        q = select(s.events.c.id, s.events.c.body).where(
            s.events.c.delivered_at.is_(None)).order_by(s.events.c.id).limit(limit)
        if self.db.is_sqlite:
            with self.db.read() as c:
                rows = c.execute(q).all()
            delivered = self._send(rows)
            if delivered:
                with self.db.write() as c:
                    c.execute(update(s.events).where(s.events.c.id.in_(delivered)).values(delivered_at=time.time()))
            return len(delivered)
        with self.db.write(serialize=False) as c:
            rows = c.execute(q.with_for_update(skip_locked=True)).all()
            delivered = self._send(rows)
            if delivered:
                c.execute(update(s.events).where(s.events.c.id.in_(delivered)).values(delivered_at=time.time()))
            return len(delivered)

    def _send(self, rows, budget_seconds: float = 30.0) -> list[int]:
        delivered = []
        deadline = time.monotonic() + budget_seconds  # bounded: the rows stay locked meanwhile
        for event_id, body in rows:
            if time.monotonic() > deadline:
                break
            if self._client is not None:
                try:
                    resp = self._client.post(self.webhook_url, content=body,
                                             headers={"Content-Type": "application/json"})
                    if resp.status_code >= 300:
                        log.warning("event webhook answered %s; will retry", resp.status_code)
                        break
                except _http_errors() as exc:
                    log.warning("event webhook unreachable (%s); will retry", type(exc).__name__)
                    break
            log.info("event %s", body)
            delivered.append(event_id)
        return delivered
