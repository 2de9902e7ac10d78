"""Prometheus metrics shared by all subsystems.

One process: one in-memory registry. Several processes (`crossreg serve --workers N`, and
`crossreg worker` processes on the same host): prometheus_client's multiprocess mode. When
PROMETHEUS_MULTIPROC_DIR is set (serve sets it for its workers), every process writes its samples
to files there and /metrics, whichever process answers it, reports counters and histograms summed
over all processes, and gauges as the most recent value any process set.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

http_requests = Counter("crossreg_http_requests_total", "HTTP requests served",
                        ["api", "method", "status"], registry=REGISTRY)
http_latency = Histogram("crossreg_http_request_seconds", "HTTP request latency", ["api"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                         registry=REGISTRY)
ecr_operations = Counter("crossreg_ecr_operations_total", "ECR API operations", ["operation", "outcome"],
                         registry=REGISTRY)
replication_queue_depth = Gauge("crossreg_replication_queue_depth", "Replication tasks not yet finished",
                                ["status"], registry=REGISTRY, multiprocess_mode="mostrecent")
replication_latency = Histogram("crossreg_replication_latency_seconds", "Push to COMPLETE latency",
                                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
                                registry=REGISTRY)
replication_bytes = Counter("crossreg_replication_bytes_copied_total", "Blob bytes copied by replication",
                            registry=REGISTRY)
replication_results = Counter("crossreg_replication_results_total", "Finished replications",
                              ["status", "failure_code"], registry=REGISTRY)


def collecting_registry() -> CollectorRegistry:
    """What /metrics reports: this process's registry, or in multiprocess mode a registry that
    collects the samples of every process sharing PROMETHEUS_MULTIPROC_DIR."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    return generate_latest(collecting_registry()), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request object allocation beyond a closure)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        api = "oci" if path.startswith("/v2") else "ecr" if path == "/" else "console" if path.startswith("/console") else "other"
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _request_metrics(api, scope["method"], status[0], time.perf_counter() - started)


_children: dict = {}


def _request_metrics(api: str, method: str, status: int, seconds: float) -> None:
    """Count and time one request; the labelled children are looked up once per label set
    (labels() validates and locks on every call)."""
    key = (api, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (http_requests.labels(api, method, str(status)), http_latency.labels(api))
    children[0].inc()
    children[1].observe(seconds)
