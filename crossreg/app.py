"""The composition root: builds crossreg's services from Settings. Everything that performs I/O
is created here and handed to the layers that need it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from crossreg.auth.tokens import TokenSigner, server_secret
from crossreg.config import Settings
from crossreg.metadata.db import Database
from crossreg.services.accounts import AccountService
from crossreg.services.registry import RegistryService
from crossreg.storage.base import BlobStore, open_blob_store

log = logging.getLogger("crossreg")


@dataclass
class Crossreg:
    settings: Settings
    db: Database
    store: BlobStore
    accounts: AccountService
    registry: RegistryService
    tokens: TokenSigner
    pagination_key: bytes
    extensions: dict = field(default_factory=dict)

    def public_host(self, account_id: str | None = None, region: str | None = None) -> str:
        """Host (and port) clients use for a registry. With a configured domain, ECR-style
        names; otherwise this server's address, with the registry in the path."""
        st = self.settings
        if st.domain and account_id and region:
            port = st.resolved_public_host.rpartition(":")[2]
            suffix = f":{port}" if port.isdigit() and port not in ("80", "443") else ""
            return f"{account_id}.dkr.ecr.{region}.{st.domain}{suffix}"
        return st.resolved_public_host

    def repository_uri(self, account_id: str, region: str, name: str) -> str:
        if self.settings.domain:
            return f"{self.public_host(account_id, region)}/{name}"
        return f"{self.public_host()}/{account_id}/{region}/{name}"

    def proxy_endpoint(self, account_id: str, region: str) -> str:
        return f"{self.settings.public_scheme}://{self.public_host(account_id, region)}"


def build(settings: Settings, *, migrate: bool = True) -> Crossreg:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    # Alembic reports every step at INFO; crossreg's own log says what matters.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    if migrate:
        db.migrate()
    store = open_blob_store(settings.resolved_storage_url)
    registry = RegistryService(db, store)
    app = Crossreg(
        settings=settings, db=db, store=store, accounts=AccountService(db), registry=registry,
        tokens=TokenSigner(server_secret(db)), pagination_key=server_secret(db, "pagination_key"),
    )
    _install_extensions(app)
    return app


def _install_extensions(app: Crossreg) -> None:
    """Subsystems register their hooks here (replication and its events)."""
    from crossreg.replication.setup import install as install_replication

    install_replication(app)
