"""Storage for lifecycle policies: the images a policy is evaluated against, policy previews,
and when each repository's policy last ran.

The policy text itself lives in `repositories.lifecycle_policy_text` (with
`lifecycle_policy_updated_at`); previews in `lifecycle_previews`. When a policy last ran is
kept in the shared `settings` table under `lifecycle-evaluated:<repository id>`, with the
repository's creation time so a recycled id never inherits another repository's record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from crossreg.lifecycle.evaluate import ImageInfo
from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.services.models import RepoKey, Repository
from crossreg.services.registry import RegistryService

_EVALUATED = "lifecycle-evaluated:"


# ------------------------------------------------------------------ policies
def set_lifecycle_policy(registry: RegistryService, key: RepoKey, text: str | None) -> Repository:
    """Store (or, with None, remove) a repository's lifecycle policy text, byte for byte."""
    return registry.update_repository(key, lifecycle_policy_text=text,
                                      lifecycle_policy_updated_at=time.time() if text else None)


def repositories_with_policies(db: Database) -> list[tuple[Repository, float | None]]:
    """Every repository that has a lifecycle policy, with when the policy was last set."""
    r = s.repositories
    with db.read() as c:
        rows = c.execute(select(r).where(r.c.lifecycle_policy_text.is_not(None))
                         .order_by(r.c.account_id, r.c.region, r.c.name)).all()
    return [(Repository.from_row(row), row.lifecycle_policy_updated_at) for row in rows]


# ------------------------------------------------------------------ images
def lifecycle_images(db: Database, repo: Repository) -> list[ImageInfo]:
    """The repository's images as the evaluator sees them: every manifest with its tags, push
    and pull times, and the manifest lists that reference it."""
    m, t, refs = s.manifests, s.tags, s.manifest_references
    with db.read() as c:
        manifests = c.execute(select(m.c.digest, m.c.pushed_at, m.c.last_pulled_at).where(
            m.c.repository_id == repo.id)).all()
        tags: dict[str, list[str]] = {}
        for digest, name in c.execute(select(t.c.manifest_digest, t.c.name).where(
                t.c.repository_id == repo.id).order_by(t.c.name)):
            tags.setdefault(digest, []).append(name)
        parents: dict[str, set[str]] = {}
        for parent, child in c.execute(select(refs.c.manifest_digest, refs.c.ref_digest).where(
                refs.c.repository_id == repo.id, refs.c.ref_kind == "manifest")):
            parents.setdefault(child, set()).add(parent)
    return [ImageInfo(digest=d, tags=tuple(tags.get(d, ())), pushed_at=pushed,
                      last_pulled_at=pulled, parents=frozenset(parents.get(d, ())))
            for d, pushed, pulled in manifests]


# ------------------------------------------------------------------ previews
def save_preview(db: Database, repo: Repository, policy_text: str, status: str,
                 results: list[dict]) -> None:
    p = s.lifecycle_previews
    with db.write() as c:
        c.execute(delete(p).where(p.c.repository_id == repo.id))
        c.execute(insert(p).values(repository_id=repo.id, policy_text=policy_text, status=status,
                                   result=json.dumps(results), created_at=time.time()))


@dataclass(frozen=True)
class Preview:
    policy_text: str
    status: str
    results: list[dict]
    created_at: float


def load_preview(db: Database, repo: Repository) -> Preview | None:
    """The repository's latest lifecycle policy preview, if any."""
    p = s.lifecycle_previews
    with db.read() as c:
        row = c.execute(select(p).where(p.c.repository_id == repo.id)).first()
    if row is None:
        return None
    return Preview(row.policy_text, row.status, json.loads(row.result or "[]"), row.created_at)


# ------------------------------------------------------------------ evaluation bookkeeping
def _record(c: Connection, repo: Repository) -> dict | None:
    row = c.execute(select(s.settings.c.value).where(
        s.settings.c.key == f"{_EVALUATED}{repo.id}")).first()
    if row is None:
        return None
    try:
        record = json.loads(row[0])
    except ValueError:
        return None
    return record if record.get("createdAt") == repo.created_at else None


def last_evaluated(db: Database, repo: Repository) -> float | None:
    """When the repository's lifecycle policy last ran (ECR's lastEvaluatedAt)."""
    with db.read() as c:
        record = _record(c, repo)
    return record["evaluatedAt"] if record else None


def claim_evaluation(db: Database, repo: Repository, policy_updated_at: float | None, now: float,
                     interval: float) -> bool:
    """Atomically decide that this process runs the repository's policy now: True when it is
    due (never ran, the policy changed since, or `interval` seconds passed) and records the
    run, so concurrent processes do not both run it."""
    key = f"{_EVALUATED}{repo.id}"
    with db.write() as c:
        record = _record(c, repo)
        if record is not None:
            changed = policy_updated_at is not None and policy_updated_at > record["evaluatedAt"]
            if not changed and now - record["evaluatedAt"] < interval:
                return False
        _store(c, key, {"createdAt": repo.created_at, "evaluatedAt": now})
    return True


def record_evaluation(db: Database, repo: Repository, now: float) -> None:
    with db.write() as c:
        _store(c, f"{_EVALUATED}{repo.id}", {"createdAt": repo.created_at, "evaluatedAt": now})


def _store(c: Connection, key: str, value: dict) -> None:
    text = json.dumps(value)
    if c.execute(select(s.settings.c.key).where(s.settings.c.key == key)).first() is None:
        c.execute(insert(s.settings).values(key=key, value=text))
    else:
        c.execute(update(s.settings).where(s.settings.c.key == key).values(value=text))


def prune_evaluations(db: Database) -> int:
    """Forget run records of repositories that no longer exist."""
    with db.write() as c:
        ids = {str(i) for (i,) in c.execute(select(s.repositories.c.id))}
        stale = [k for (k,) in c.execute(select(s.settings.c.key).where(
            s.settings.c.key.startswith(_EVALUATED))) if k[len(_EVALUATED):] not in ids]
        if stale:
            c.execute(delete(s.settings).where(s.settings.c.key.in_(stale)))
    return len(stale)


def current_tags(db: Database, repo: Repository, digest: str) -> tuple[str, ...] | None:
    """The image's tags now, or None when the image is gone."""
    m, t = s.manifests, s.tags
    with db.read() as c:
        if c.execute(select(m.c.id).where(m.c.repository_id == repo.id, m.c.digest == digest)).first() is None:
            return None
        return tuple(r[0] for r in c.execute(select(t.c.name).where(
            t.c.repository_id == repo.id, t.c.manifest_digest == digest).order_by(t.c.name)))
