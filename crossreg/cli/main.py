"""The `crossreg` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from crossreg.cli.options import _settings, data_dir_option, database_option, storage_option


@click.group()
@click.option("--log-level", default=os.environ.get("CROSSREG_LOG_LEVEL", "INFO"), show_default=True)
def main(log_level: str) -> None:
    """crossreg: an ECR-compatible registry with cross-account, cross-region replication."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command()
@click.option("--host", envvar="CROSSREG_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="CROSSREG_PORT", default=5000, type=int, show_default=True)
@data_dir_option
@database_option
@storage_option
@click.option("--domain", envvar="CROSSREG_DOMAIN", default=None,
              help="Accept ECR-style hosts <account>.dkr.ecr.<region>.<domain>.")
@click.option("--public-host", envvar="CROSSREG_PUBLIC_HOST", default=None,
              help="host:port clients use to reach this server [default: --host:--port].")
@click.option("--workers", envvar="CROSSREG_WORKERS", default=1, type=int, show_default=True,
              help="API processes (needs PostgreSQL when more than one).")
def serve(host, port, data_dir, database_url, storage_url, domain, public_host, workers) -> None:
    """Run the registry: OCI API, ECR API, console, /healthz and /metrics on one port."""
    import uvicorn

    settings = _settings(data_dir, database_url, storage_url, host=host, port=port, domain=domain,
                         public_host=public_host)
    from crossreg.app import build

    if workers > 1:
        _prepare_workers(settings, workers)
    build(settings).db.dispose()  # migrate once before workers start
    # Settings travel to worker processes through the environment.
    os.environ.update({"CROSSREG_DATA_DIR": str(settings.data_dir), "CROSSREG_HOST": host,
                       "CROSSREG_PORT": str(port)})
    for name, value in (("DATABASE_URL", database_url), ("STORAGE_URL", storage_url),
                        ("DOMAIN", domain), ("PUBLIC_HOST", public_host)):
        if value:
            os.environ[f"CROSSREG_{name}"] = value
    click.echo(f"crossreg listening on http://{host}:{port} (console: http://{host}:{port}/console/)", err=True)
    uvicorn.run("crossreg.server:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, loop="uvloop", http="httptools",
                timeout_keep_alive=30)


def _prepare_workers(settings, workers: int) -> None:
    """Several API processes share one database and one blob store, so the embedded SQLite
    database (one process) is refused; metrics switch to prometheus_client's multiprocess mode."""
    if settings.resolved_database_url.startswith("sqlite"):
        raise click.UsageError(
            f"--workers {workers} needs PostgreSQL (--database-url postgresql://user@host/db or "
            "CROSSREG_DATABASE_URL): the embedded SQLite database serves one process. "
            "See docs/deployment.md.")
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="crossreg-metrics-")
    os.environ.setdefault("CROSSREG_LOG_LEVEL", logging.getLevelName(logging.getLogger().level))


@main.group()
def accounts() -> None:
    """Manage accounts (works whether or not the server is running)."""


@accounts.command("create")
@data_dir_option
@database_option
@click.option("--name", default=None)
@click.option("--account-id", default=None, help="12 digits; random when omitted.")
def accounts_create(data_dir, database_url, name, account_id) -> None:
    """Create an account and print its credentials as JSON."""
    from crossreg.app import build
    from crossreg.services.accounts import AccountExists

    core = build(_settings(data_dir, database_url))
    try:
        acct = core.accounts.create(name=name, account_id=account_id)
    except (AccountExists, ValueError) as exc:
        raise click.ClickException(str(exc))
    click.echo(json.dumps({"accountId": acct.account_id, "accessKeyId": acct.access_key_id,
                           "secretAccessKey": acct.secret_access_key, "name": acct.name}))


@accounts.command("list")
@data_dir_option
@database_option
def accounts_list(data_dir, database_url) -> None:
    """List accounts as JSON (secrets are not shown)."""
    from crossreg.app import build

    core = build(_settings(data_dir, database_url))
    click.echo(json.dumps([a.public() for a in core.accounts.list()], indent=2))


# Subcommands defined in their own modules (they import the shared options above).
from crossreg.cli.replication import replication  # noqa: E402
from crossreg.cli.worker import worker  # noqa: E402
from crossreg.cli.demo import demo  # noqa: E402
from crossreg.cli.gc import gc  # noqa: E402

main.add_command(replication)
main.add_command(worker)
main.add_command(demo)
main.add_command(gc)

if __name__ == "__main__":
    sys.exit(main())
