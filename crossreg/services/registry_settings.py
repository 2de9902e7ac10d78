"""Registry-level settings of one (account, region): replication configuration, registry
policy, scanning configuration and account settings."""

from __future__ import annotations

import json

from sqlalchemy import Connection, insert, select, update

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database


def _row(conn: Connection, account_id: str, region: str):
    return conn.execute(select(s.registries).where(
        s.registries.c.account_id == account_id, s.registries.c.region == region)).first()


def update_registry(conn: Connection, account_id: str, region: str, **values) -> None:
    """Set columns of the registry row, creating the row on first use."""
    if _row(conn, account_id, region) is None:
        conn.execute(insert(s.registries).values(account_id=account_id, region=region, **values))
    else:
        conn.execute(update(s.registries).where(
            s.registries.c.account_id == account_id, s.registries.c.region == region).values(**values))


def replication_config(conn: Connection, account_id: str, region: str) -> dict | None:
    row = _row(conn, account_id, region)
    if row is None or not row.replication_config:
        return None
    return json.loads(row.replication_config)


def read_replication_config(db: Database, account_id: str, region: str) -> dict:
    with db.read() as c:
        return replication_config(c, account_id, region) or {"rules": []}


def registry_policy_text(conn: Connection, account_id: str, region: str) -> str | None:
    row = _row(conn, account_id, region)
    return row.registry_policy if row is not None and row.registry_policy else None


def account_setting(conn: Connection, account_id: str, region: str, name: str, default: str) -> str:
    row = _row(conn, account_id, region)
    settings = json.loads(row.account_settings) if row is not None and row.account_settings else {}
    return settings.get(name, default)


def put_replication_configuration(db: Database, account_id: str, region: str, config: dict) -> dict:
    """PutReplicationConfiguration: validate with ECR's rules (InvalidReplicationConfiguration
    otherwise) and store; returns the normalised configuration. Only pushes after this moment
    replicate (the planner reads the configuration inside each push's transaction)."""
    import time

    from crossreg.replication.rules import validate

    normalised = validate(config, account_id, region)
    with db.write() as c:
        update_registry(c, account_id, region, replication_config=json.dumps(normalised),
                        replication_config_updated_at=time.time())
    return normalised
