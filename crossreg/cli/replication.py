"""`crossreg replication ...`: what an operator needs to see why something did or did not replicate."""

from __future__ import annotations

import json
import time
from datetime import datetime

import click

from crossreg.cli.options import _settings, data_dir_option, database_option


def _core(data_dir, database_url):
    from crossreg.app import build

    return build(_settings(data_dir, database_url))


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-"


def _render(rows: list[dict]) -> str:
    from crossreg.replication.failures import FAILURE_CODES

    header = f"{'ID':>6} {'STATE':<11} {'KIND':<6} {'SOURCE':<24} {'DESTINATION':<24} {'IMAGE':<44} {'TRIES':>5} {'QUEUED':>8} {'TOOK':>7}"
    lines = [header]
    for r in rows:
        took = f"{(r['finished_at'] - r['created_at']) * 1000:.0f}ms" if r["finished_at"] else "-"
        tags = json.loads(r["tags"] or "[]")
        image = f"{r['repository_name']}:{tags[0]}" if tags else f"{r['repository_name']}@{r['manifest_digest'][7:19]}"
        lines.append(f"{r['id']:>6} {r['status']:<11} {r['kind']:<6} "
                     f"{r['source_account'] + '/' + r['source_region']:<24} "
                     f"{r['dest_account'] + '/' + r['dest_region']:<24} {image[:44]:<44} "
                     f"{r['attempts']:>5} {_when(r['created_at']):>8} {took:>7}")
        if r["status"] == "FAILED" or (r["status"] == "PENDING" and r["failure_reason"]):
            code = r["failure_code"] or "retrying"
            lines.append(f"{'':>6}   ↳ {code}: {r['failure_reason'] or ''}")
            if r["failure_code"] in FAILURE_CODES:
                lines.append(f"{'':>6}     what to do: {FAILURE_CODES[r['failure_code']][1]}")
    return "\n".join(lines)


@click.group()
def replication() -> None:
    """Inspect replication tasks."""


@replication.command("status")
@data_dir_option
@database_option
@click.option("--account", default=None, help="Only tasks from or to this account id.")
@click.option("--limit", default=30, show_default=True)
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(data_dir, database_url, account, limit, watch, as_json) -> None:
    """Recent replication tasks, their state, and for failures the reason and what to do."""
    from crossreg.replication import tasks as tq

    core = _core(data_dir, database_url)
    while True:
        rows = tq.recent(core.db, account_id=account, limit=limit)
        depth = tq.queue_depth(core.db)
        if as_json:
            click.echo(json.dumps({"queue": depth, "tasks": rows}, default=str))
        else:
            if watch:
                click.clear()
            click.echo(f"queue: {depth.get('PENDING', 0)} pending, {depth.get('IN_PROGRESS', 0)} in progress")
            click.echo(_render(rows))
        if not watch:
            return
        time.sleep(1)
