"""`crossreg gc`: delete blobs nothing references any more, and abandoned uploads."""

from __future__ import annotations

import json
import re

import click

from crossreg.cli.options import _settings, data_dir_option, database_option, storage_option

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_duration(text: str) -> float:
    """'90' or '90s', '15m', '24h', '7d' -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 24h or 7d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@click.command()
@data_dir_option
@database_option
@storage_option
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@click.option("--grace-period", default="24h", show_default=True,
              help="Only collect what has been unreferenced (or, for uploads, idle) this long: a "
                   "client may take this long between uploading layers and pushing their manifest.")
@click.option("--prune-links/--no-prune-links", default=True, show_default=True,
              help="Also unlink layers that no manifest of their repository references any more "
                   "(left by deleted or expired images), so that their blobs can be collected.")
@click.option("--list", "list_digests", is_flag=True, help="Also print the digests of the blobs collected.")
def gc(data_dir, database_url, storage_url, dry_run, grace_period, prune_links, list_digests) -> None:
    """Garbage-collect blob storage; safe to run while the registry serves pushes.

    Deletes upload sessions idle for the grace period, repository links to layers no manifest
    references (created before the grace period), blobs without any link or reference, and
    stored files the database does not know (crash leftovers). Prints a JSON report."""
    from crossreg.app import build
    from crossreg.gc import GarbageCollector

    grace = parse_duration(grace_period)
    core = build(_settings(data_dir, database_url, storage_url))
    try:
        report = GarbageCollector(core.db, core.store, grace_seconds=grace, prune_links=prune_links,
                                  dry_run=dry_run).run()
    finally:
        core.db.dispose()
    out = report.as_dict()
    if not list_digests:
        out.pop("digests")
    click.echo(json.dumps(out, indent=2))
    if report.skipped:
        raise SystemExit(3)
