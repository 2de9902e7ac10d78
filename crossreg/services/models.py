"""Plain records the service layer hands to the API layers (no database types leak out)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RepoKey:
    """Names one repository: registry (account + region) and repository name."""

    account_id: str
    region: str
    name: str


@dataclass(frozen=True)
class Repository:
    id: int
    account_id: str
    region: str
    name: str
    created_at: float
    tag_mutability: str = "MUTABLE"
    tag_mutability_exclusions: list[dict] = field(default_factory=list)
    scan_on_push: bool = False
    encryption_type: str = "AES256"
    kms_key: str | None = None
    policy_text: str | None = None
    lifecycle_policy_text: str | None = None
    resource_tags: list[dict] = field(default_factory=list)
    created_by: str = "API"

    @property
    def key(self) -> RepoKey:
        return RepoKey(self.account_id, self.region, self.name)

    @property
    def arn(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account_id}:repository/{self.name}"

    @classmethod
    def from_row(cls, row: Any) -> "Repository":
        m = row._mapping
        return cls(
            id=m["id"], account_id=m["account_id"], region=m["region"], name=m["name"],
            created_at=m["created_at"], tag_mutability=m["tag_mutability"],
            tag_mutability_exclusions=json.loads(m["tag_mutability_exclusions"] or "[]"),
            scan_on_push=bool(m["scan_on_push"]), encryption_type=m["encryption_type"],
            kms_key=m["kms_key"], policy_text=m["policy_text"],
            lifecycle_policy_text=m["lifecycle_policy_text"],
            resource_tags=json.loads(m["resource_tags"] or "[]"), created_by=m["created_by"],
        )


@dataclass(frozen=True)
class RepositorySettings:
    """What CreateRepository (or a creation template) decides about a new repository."""

    tag_mutability: str = "MUTABLE"
    tag_mutability_exclusions: list[dict] = field(default_factory=list)
    scan_on_push: bool = False
    encryption_type: str = "AES256"
    kms_key: str | None = None
    resource_tags: list[dict] = field(default_factory=list)
    policy_text: str | None = None
    lifecycle_policy_text: str | None = None


@dataclass(frozen=True)
class Manifest:
    repository_id: int
    digest: str
    media_type: str
    artifact_type: str | None
    subject_digest: str | None
    config_digest: str | None
    manifest_size: int
    image_size: int
    content: bytes
    annotations: dict | None
    pushed_at: float
    last_pulled_at: float | None
    replicated: bool

    @classmethod
    def from_row(cls, row: Any) -> "Manifest":
        m = row._mapping
        return cls(
            repository_id=m["repository_id"], digest=m["digest"], media_type=m["media_type"],
            artifact_type=m["artifact_type"], subject_digest=m["subject_digest"],
            config_digest=m["config_digest"], manifest_size=m["manifest_size"],
            image_size=m["image_size"], content=bytes(m["content"]),
            annotations=json.loads(m["annotations"]) if m["annotations"] else None,
            pushed_at=m["pushed_at"], last_pulled_at=m["last_pulled_at"],
            replicated=bool(m["replicated"]),
        )


@dataclass(frozen=True)
class ImageRecord:
    """An image (a stored manifest) with the tags that point at it, as image listings show it."""

    manifest: Manifest
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PushedImage:
    """What a successful manifest push did; handed to push hooks inside the push transaction."""

    repository: Repository
    digest: str
    media_type: str
    tag: str | None
    created: bool  # False when the manifest was already stored (e.g. a new tag on it)
    replicated: bool  # True when the write came from replication (never re-replicated)
    child_digests: tuple[str, ...] = ()
    subject_digest: str | None = None
    artifact_type: str | None = None


@dataclass(frozen=True)
class DeletedImage:
    """A tag removal or image deletion; handed to delete hooks inside the transaction."""

    repository: Repository
    digest: str
    tags_removed: tuple[str, ...]
    image_deleted: bool
    replicated: bool = False
