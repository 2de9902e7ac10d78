"""`crossreg worker`: a process that only runs background work (replication, event delivery),
for deployments that scale workers separately from API processes."""

from __future__ import annotations

import asyncio
import signal

import click

from crossreg.cli.options import _settings, data_dir_option, database_option, storage_option


@click.command()
@data_dir_option
@database_option
@storage_option
@click.option("--concurrency", envvar="CROSSREG_REPLICATION_CONCURRENCY", default=8, show_default=True,
              help="Replication tasks run at once.")
@click.option("--metrics-port", type=int, default=None, envvar="CROSSREG_WORKER_METRICS_PORT",
              help="Serve this worker's Prometheus metrics (replication results, bytes, latency) "
                   "at http://<host>:<port>/metrics.")
def worker(data_dir, database_url, storage_url, concurrency, metrics_port) -> None:
    """Run replication workers until interrupted."""
    from crossreg.app import build
    from crossreg.replication.runner import BackgroundRunner

    core = build(_settings(data_dir, database_url, storage_url))
    runner = BackgroundRunner(core, concurrency)
    if metrics_port:
        from prometheus_client import start_http_server

        from crossreg import metrics

        start_http_server(metrics_port, registry=metrics.collecting_registry())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner.start()
        click.echo(f"crossreg worker running ({concurrency} replication slots)", err=True)
        await stop.wait()
        await runner.stop()

    asyncio.run(main())
