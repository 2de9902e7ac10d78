"""Replication activity: recent replications from and to the signed-in account, their state,
duration, bytes copied, and for failures the reason and what to do about it."""

from __future__ import annotations

import json
import time

from starlette.responses import Response

from crossreg.console.base import Ctx
from crossreg.console.messages import Message, failure_reason
from crossreg.replication import tasks as tq
from crossreg.replication.failures import FAILURE_CODES

LIMIT = 100


def routes(route):
    return [route("/replication-activity", replication_activity)]


def replication_activity(ctx: Ctx) -> Response:
    direction = ctx.request.query_params.get("direction", "all")
    if direction not in ("all", "outgoing", "incoming"):
        direction = "all"
    rows = tq.recent(ctx.core.db, account_id=ctx.account_id, limit=LIMIT)
    now = time.time()
    items = []
    for r in rows:
        outgoing = r["source_account"] == ctx.account_id
        if (direction == "outgoing" and not outgoing) or (direction == "incoming" and outgoing):
            continue
        status = tq.api_status(r["status"])
        started = r["started_at"]
        end = r["finished_at"] or (now if status == "IN_PROGRESS" and started else None)
        code = r["failure_code"] if r["status"] == "FAILED" else None
        item = {
            "id": r["id"], "kind": r["kind"], "outgoing": outgoing, "status": status,
            "repository": r["repository_name"], "digest": r["manifest_digest"],
            "tags": json.loads(r["tags"] or "[]"),
            "source": (r["source_account"], r["source_region"]), "dest": (r["dest_account"], r["dest_region"]),
            "queued_at": r["created_at"], "duration": (end - started) if started and end else None,
            "bytes": r["bytes_copied"], "blobs": r["blobs_copied"], "attempts": r["attempts"],
            "linked": ctx.core.settings.serves_region(r["dest_region"]),
            "code": code, "reason": None, "explanation": None, "action": None,
        }
        if code:
            item["reason"] = failure_reason(ctx.t, r["failure_reason"])
            if code in FAILURE_CODES:
                item["explanation"] = ctx.t(f"failure.{code}.explanation")
                item["action"] = ctx.t(f"failure.{code}.action")
        elif r["status"] == "PENDING" and r["failure_reason"]:
            item["reason"] = Message(ctx.t("status.retrying"))
        items.append(item)
    counts = {s: sum(1 for i in items if i["status"] == s) for s in ("IN_PROGRESS", "COMPLETE", "FAILED")}
    return ctx.render("activity.html", items=items, direction=direction, counts=counts)
