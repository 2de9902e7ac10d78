"""Repository creation templates: which settings a repository gets when crossreg itself creates
it (replication, pull-through cache, create-on-push). Documents are stored in ECR's
RepositoryCreationTemplate shape."""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from crossreg.metadata import schema as s
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
