"""Reads of the resource policies that govern a repository (repository + registry policy)."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.services.models import Repository


_REGISTRY_POLICY = select(s.registries.c.registry_policy).where(
    s.registries.c.account_id == bindparam("account_id"), s.registries.c.region == bindparam("region"))


def registry_policy(db: Database, account_id: str, region: str, *, conn: Connection | None = None) -> str | None:
    params = {"account_id": account_id, "region": region}
    if conn is not None:
        row = conn.execute(_REGISTRY_POLICY, params).first()
    else:
        with db.read() as c:
            row = c.execute(_REGISTRY_POLICY, params).first()
    return row[0] if row and row[0] else None


def policies_for(db: Database, repo: Repository, *, conn: Connection | None = None) -> list[str]:
    """Every resource policy that can grant another account access to `repo`."""
    found = [repo.policy_text] if repo.policy_text else []
    reg = registry_policy(db, repo.account_id, repo.region, conn=conn)
    if reg:
        found.append(reg)
    return found


def set_registry_policy(db: Database, account_id: str, region: str, text: str | None) -> str | None:
    """Replace a registry's policy (None removes it); returns the policy it replaced."""
    from crossreg.services.registry_settings import registry_policy_text, update_registry

    with db.write() as c:
        previous = registry_policy_text(c, account_id, region)
        update_registry(c, account_id, region, registry_policy=text)
        return previous


def registry_policy_scope(db: Database, account_id: str, region: str) -> str:
    """ECR's REGISTRY_POLICY_SCOPE account setting; V2 (the default) lets a registry policy
    grant any ecr: action."""
    from crossreg.services.registry_settings import account_setting

    with db.read() as c:
        return account_setting(c, account_id, region, "REGISTRY_POLICY_SCOPE", "V2")


MAX_POLICY_LENGTH = 10240  # botocore's RepositoryPolicyText / RegistryPolicyText


def check_policy(text: str, kind: str, scope: str = "V2"):
    """The parsed policy if `text` is a valid `kind` ("repository" or "registry") policy, else
    PolicyError with the reason."""
    from crossreg.iam.policy import PolicyError, parse_policy

    if isinstance(text, str) and len(text) > MAX_POLICY_LENGTH:
        raise PolicyError(f"policy text is longer than {MAX_POLICY_LENGTH} characters")
    return parse_policy(text, kind, registry_policy_scope=scope)


def put_registry_policy(db: Database, account_id: str, region: str, text: str) -> str | None:
    """PutRegistryPolicy: validate under the registry's policy scope, then store byte for byte.
    Returns the policy it replaced."""
    check_policy(text, "registry", registry_policy_scope(db, account_id, region))
    return set_registry_policy(db, account_id, region, text)
