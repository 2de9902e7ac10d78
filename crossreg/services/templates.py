"""Repository creation templates: which settings a repository gets when crossreg itself creates
it (replication, pull-through cache, create-on-push). Documents are stored in ECR's
RepositoryCreationTemplate shape."""

from __future__ import annotations

import json
import time

from sqlalchemy import Connection, delete, insert, select, update

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.services.models import RepositorySettings


def template_matches(prefix: str, repository_name: str) -> bool:
    """ECR assumes a trailing '/' on a prefix: 'prod' matches 'prod/app' but not 'production'."""
    if prefix == "ROOT":
        return True
    return repository_name.startswith(prefix.rstrip("/") + "/")


def best_template(templates: list[dict], repository_name: str, applied_for: str) -> dict | None:
    """Longest matching prefix wins; ROOT is the fallback."""
    candidates = [t for t in templates if applied_for in t.get("appliedFor", [])
                  and template_matches(t["prefix"], repository_name)]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (t["prefix"] != "ROOT", len(t["prefix"])))


def load_templates(conn: Connection, account_id: str, region: str) -> list[dict]:
    rows = conn.execute(select(s.creation_templates.c.document).where(
        s.creation_templates.c.account_id == account_id, s.creation_templates.c.region == region))
    return [json.loads(r[0]) for r in rows]


def settings_from_template(template: dict | None) -> RepositorySettings:
    """ECR's defaults (MUTABLE, AES256, no scan on push) unless a template says otherwise."""
    if template is None:
        return RepositorySettings()
    enc = template.get("encryptionConfiguration") or {}
    return RepositorySettings(
        tag_mutability=template.get("imageTagMutability", "MUTABLE"),
        tag_mutability_exclusions=template.get("imageTagMutabilityExclusionFilters", []),
        encryption_type=enc.get("encryptionType", "AES256"),
        kms_key=enc.get("kmsKey"),
        resource_tags=template.get("resourceTags", []),
        policy_text=template.get("repositoryPolicy"),
        lifecycle_policy_text=template.get("lifecyclePolicy"),
    )


# ------------------------------------------------------------------ stored templates (CRUD)
class TemplateExists(Exception):
    pass


class TemplateMissing(Exception):
    pass


def template_key(prefix: str) -> str:
    """The stored key of a prefix: ECR assumes a trailing '/', so 'prod' and 'prod/' name the
    same template."""
    return prefix if prefix == "ROOT" else prefix.rstrip("/")


def _with_times(row) -> dict:
    doc = json.loads(row.document)
    return {**doc, "createdAt": row.created_at, "updatedAt": row.updated_at}


def get_template(db: Database, account_id: str, region: str, prefix: str) -> dict | None:
    """A template with its createdAt/updatedAt, or None."""
    t = s.creation_templates
    with db.read() as c:
        row = c.execute(select(t).where(t.c.account_id == account_id, t.c.region == region,
                                        t.c.prefix == template_key(prefix))).first()
    return _with_times(row) if row else None


def list_templates(db: Database, account_id: str, region: str, *, prefixes: list[str] | None = None,
                   after: str | None = None, limit: int | None = None) -> list[tuple[str, dict]]:
    """(key, template) pairs ordered by key; `after` is the last key of the previous page."""
    t = s.creation_templates
    q = select(t).where(t.c.account_id == account_id, t.c.region == region)
    if prefixes is not None:
        q = q.where(t.c.prefix.in_(sorted({template_key(p) for p in prefixes})))
    if after is not None:
        q = q.where(t.c.prefix > after)
    q = q.order_by(t.c.prefix)
    if limit is not None:
        q = q.limit(limit)
    with db.read() as c:
        return [(row.prefix, _with_times(row)) for row in c.execute(q)]


def create_template(db: Database, account_id: str, region: str, document: dict) -> dict:
    """Store a new template (ECR's RepositoryCreationTemplate shape, without the times)."""
    t = s.creation_templates
    key, now = template_key(document["prefix"]), time.time()
    with db.write() as c:
        if c.execute(select(t.c.prefix).where(t.c.account_id == account_id, t.c.region == region,
                                              t.c.prefix == key)).first() is not None:
            raise TemplateExists(document["prefix"])
        c.execute(insert(t).values(account_id=account_id, region=region, prefix=key,
                                   document=json.dumps(document), created_at=now, updated_at=now))
    return {**document, "createdAt": now, "updatedAt": now}


def update_template(db: Database, account_id: str, region: str, prefix: str, change) -> dict:
    """Replace a template by `change(current_document) -> new_document`, atomically."""
    t = s.creation_templates
    key, now = template_key(prefix), time.time()
    with db.write() as c:
        row = c.execute(select(t).where(t.c.account_id == account_id, t.c.region == region,
                                        t.c.prefix == key)).first()
        if row is None:
            raise TemplateMissing(prefix)
        document = change(json.loads(row.document))
        c.execute(update(t).where(t.c.account_id == account_id, t.c.region == region, t.c.prefix == key)
                  .values(document=json.dumps(document), updated_at=now))
    return {**document, "createdAt": row.created_at, "updatedAt": now}


def delete_template(db: Database, account_id: str, region: str, prefix: str) -> dict:
    """Remove a template; returns it as it was."""
    t = s.creation_templates
    key = template_key(prefix)
    with db.write() as c:
        row = c.execute(select(t).where(t.c.account_id == account_id, t.c.region == region,
                                        t.c.prefix == key)).first()
        if row is None:
            raise TemplateMissing(prefix)
        c.execute(delete(t).where(t.c.account_id == account_id, t.c.region == region, t.c.prefix == key))
    return _with_times(row)
