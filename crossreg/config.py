"""Runtime configuration, from command-line options and CROSSREG_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CROSSREG_{name}", default)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", ".data")))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "5000")))
    # Metadata database; default: SQLite file in the data dir.
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    # Blob storage; default: content-addressed files in the data dir.
    storage_url: str | None = field(default_factory=lambda: _env("STORAGE_URL"))
    # Blob GETs answer 307 to a pre-signed URL of the object store (S3 storage only), as ECR
    # and Distribution do; HEAD and the blob's metadata are still served here.
    s3_redirect: bool = field(default_factory=lambda: _env("S3_REDIRECT", "0") == "1")
    # Host name clients use to reach this server (repositoryUri, proxyEndpoint). Defaults to
    # host:port, which stock clients can reach on this machine with no DNS changes.
    public_host: str | None = field(default_factory=lambda: _env("PUBLIC_HOST"))
    # Optional domain for ECR-style host names: <account>.dkr.ecr.<region>.<domain>.
    domain: str | None = field(default_factory=lambda: _env("DOMAIN"))
    # Scheme clients use (the server itself speaks plain HTTP; TLS belongs to a proxy in front).
    public_scheme: str = field(default_factory=lambda: _env("PUBLIC_SCHEME", "http"))
    # Run the replication workers inside the API process (the embedded default).
    embedded_workers: bool = field(default_factory=lambda: _env("EMBEDDED_WORKERS", "1") == "1")
    replication_concurrency: int = field(default_factory=lambda: int(_env("REPLICATION_CONCURRENCY", "8")))
    # Optional webhook for EventBridge-shaped events.
    event_webhook_url: str | None = field(default_factory=lambda: _env("EVENT_WEBHOOK_URL"))
    # Other crossreg servers that host regions this one does not, as "region=url,...".
    region_endpoints: str | None = field(default_factory=lambda: _env("REGION_ENDPOINTS"))
    # Regions served by this server ("*" = any region a client signs for).
    regions: str = field(default_factory=lambda: _env("REGIONS", "*"))
    # Shared secret that crossreg servers of one installation use to authenticate each other
    # for cross-region replication between servers.
    peer_secret: str | None = field(default_factory=lambda: _env("PEER_SECRET"))

    def serves_region(self, region: str) -> bool:
        return self.regions.strip() == "*" or region in {r.strip() for r in self.regions.split(",")}

    def region_endpoint(self, region: str) -> str | None:
        """The URL of the crossreg server that hosts `region`, when it is not this one."""
        for item in (self.region_endpoints or "").split(","):
            name, _, url = item.strip().partition("=")
            if name == region and url:
                return url.rstrip("/")
        return None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crossreg.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def resolved_public_host(self) -> str:
        return self.public_host or f"{self.host}:{self.port}"
