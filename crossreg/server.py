"""The ASGI application: OCI API under /v2/, the ECR JSON API at POST /, the console under
/console/, plus /healthz and /metrics — all on one port."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from crossreg import metrics
from crossreg.app import Crossreg, build
from crossreg.config import Settings
from crossreg.metadata.db import DatabaseUnavailable
from crossreg.oci.api import OciApi
from crossreg.storage.base import StorageUnavailable

log = logging.getLogger("crossreg.server")


def create_app(core: Crossreg | None = None, settings: Settings | None = None) -> Starlette:
    if not logging.getLogger().handlers:  # a worker process of `serve --workers N`
        logging.basicConfig(level=os.environ.get("CROSSREG_LOG_LEVEL", "INFO").upper(),
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    core = core or build(settings or Settings())
    oci = OciApi(core)
    routes = [
        Route("/healthz", lambda request: JSONResponse({"status": "ok"}), methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/v2", oci.__call__, methods=["GET", "HEAD"]),
        Route("/v2/{path:path}", oci.__call__, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    from crossreg.replication.peer import peer_routes

    routes += peer_routes(core)
    try:
        from crossreg.ecr.api import EcrApi
    except ImportError:
        EcrApi = None
    if EcrApi is not None:
        from crossreg.ecr.api import LayerDownload

        routes.append(Route("/", EcrApi(core).__call__, methods=["POST"]))
        # Signed URLs from GetDownloadUrlForLayer.
        routes.append(Route("/layer-download/{token}", LayerDownload(core).__call__, methods=["GET", "HEAD"]))
    if importlib.util.find_spec("jinja2") is not None:
        routes.append(Mount("/console", app=BuiltOnFirstRequest(lambda: _console(core))))
        routes.append(Route("/", lambda request: RedirectResponse("/console/"), methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        background = core.extensions.get("background")
        if background is not None:
            await background.start()
        try:
            yield
        finally:
            if background is not None:
                await background.stop()
            core.db.dispose()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        DatabaseUnavailable: _temporarily_unavailable, StorageUnavailable: _temporarily_unavailable})
    app.state.core = core
    app.add_middleware(metrics.MetricsMiddleware)
    return app


def _console(core: Crossreg):
    from crossreg.console.web import console_app

    return console_app(core)


class BuiltOnFirstRequest:
    """An ASGI app that is imported and built (in a worker thread) when its first request
    arrives. The console -- Jinja2, its templates and translations -- is about 2 MiB that a
    process serving only the registry APIs never needs."""

    def __init__(self, build):
        self._build, self._app = build, None
        self._lock = asyncio.Lock()

    async def __call__(self, scope, receive, send):
        if self._app is None:
            async with self._lock:
                if self._app is None:
                    self._app = await run_in_threadpool(self._build)
        await self._app(scope, receive, send)


async def _temporarily_unavailable(request: Request, exc: Exception) -> Response:
    """Routes without an error format of their own (console, peer protocol, layer downloads):
    a database or storage outage is a 503 with Retry-After, not a 500."""
    return PlainTextResponse(f"{exc}; retry later", status_code=503,
                             headers={"Retry-After": str(getattr(exc, "retry_after_seconds", 5))})


async def _metrics(request: Request) -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
