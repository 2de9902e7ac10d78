"""The metadata schema: one SQLAlchemy Core description shared by SQLite and PostgreSQL.

Timestamps are stored as epoch seconds (float) so that both engines agree and the ECR wire
format (epoch seconds) needs no conversion. JSON documents (policies, configurations) are stored
as text exactly as the user sent them, because ECR echoes policy text byte for byte.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Server-wide settings that every process must share (e.g. the token signing secret).
settings = Table(
    "settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("access_key_id", String(128), nullable=False, unique=True),
    # SigV4 verification needs the secret itself (HMAC), so it is stored; it is never logged.
    Column("secret_access_key", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)

# One row per (account, region) registry once it has any registry-level setting.
registries = Table(
    "registries",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("replication_config", Text, nullable=True),  # JSON, ECR ReplicationConfiguration
    Column("replication_config_updated_at", Float, nullable=True),
    Column("registry_policy", Text, nullable=True),
    Column("scanning_config", Text, nullable=True),  # JSON
    Column("account_settings", Text, nullable=True),  # JSON {name: value}
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("tag_mutability", String(32), nullable=False, default="MUTABLE"),
    Column("tag_mutability_exclusions", Text, nullable=True),  # JSON list of filters
    Column("scan_on_push", Boolean, nullable=False, default=False),
    Column("encryption_type", String(16), nullable=False, default="AES256"),
    Column("kms_key", String(2048), nullable=True),
    Column("policy_text", Text, nullable=True),
    Column("lifecycle_policy_text", Text, nullable=True),
    Column("lifecycle_policy_updated_at", Float, nullable=True),
    Column("resource_tags", Text, nullable=True),  # JSON list [{Key, Value}]
    # How the repository came to be: API, REPLICATION, ... (ECR's appliedFor vocabulary).
    Column("created_by", String(32), nullable=False, default="API"),
    UniqueConstraint("account_id", "region", "name", name="uq_repositories_registry_name"),
)

# Content-addressed blobs present in blob storage. A blob is readable from a repository only
# through a repository_blobs link, so knowing a digest never grants access to content.
blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(160), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(160), ForeignKey("blobs.digest"), primary_key=True),
    Column("media_type", String(256), nullable=True),
    Column("created_at", Float, nullable=False),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(160), nullable=False),
    Column("media_type", String(256), nullable=False),
    Column("artifact_type", String(256), nullable=True),
    Column("subject_digest", String(160), nullable=True),
    Column("config_digest", String(160), nullable=True),
    Column("manifest_size", BigInteger, nullable=False),
    # ECR's imageSizeInBytes: the sum of the config and layer sizes (max over children for an index).
    Column("image_size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("annotations", Text, nullable=True),  # JSON, for the referrers API
    Column("pushed_at", Float, nullable=False),
    Column("last_pulled_at", Float, nullable=True),
    # True when the manifest arrived by replication: such writes never trigger replication again.
    Column("replicated", Boolean, nullable=False, default=False),
    UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
)
Index("ix_manifests_subject", manifests.c.repository_id, manifests.c.subject_digest)

# What a manifest references: blobs (config, layers) and, for indexes, child manifests.
manifest_references = Table(
    "manifest_references",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("manifest_digest", String(160), primary_key=True),
    Column("ref_digest", String(160), primary_key=True),
    Column("ref_kind", String(16), primary_key=True),  # "blob" | "manifest"
)
Index("ix_manifest_references_ref", manifest_references.c.repository_id, manifest_references.c.ref_digest)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("manifest_digest", String(160), nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_tags_manifest", tags.c.repository_id, tags.c.manifest_digest)

# In-progress blob uploads (OCI upload sessions and ECR InitiateLayerUpload). The bytes live in
# blob storage under the upload id; this row makes the session visible to every process.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("parts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # Set by a completion once the content hashed to this digest, just before the bytes move to
    # their content address: if the process dies before recording the blob, a retried
    # completion with the same digest finishes the job (see RegistryService.complete_upload).
    Column("verified_digest", String(160), nullable=True),
)

creation_templates = Table(
    "creation_templates",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("prefix", String(256), primary_key=True),
    Column("document", Text, nullable=False),  # JSON, the template fields as ECR shapes them
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Durable replication work. A row is written in the same transaction as the push that causes
# it, and workers claim rows with a lease so that a crash at any point is resumed.
replication_tasks = Table(
    "replication_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, default="PUSH"),  # PUSH | DELETE | UNTAG
    Column("source_account", String(12), nullable=False),
    Column("source_region", String(32), nullable=False),
    Column("repository_name", String(256), nullable=False),
    Column("manifest_digest", String(160), nullable=False),
    Column("tags", Text, nullable=True),  # JSON list of tags to apply at the destination
    Column("dest_account", String(12), nullable=False),
    Column("dest_region", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # PENDING | IN_PROGRESS | COMPLETE | FAILED
    Column("failure_code", String(64), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("next_attempt_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("bytes_copied", BigInteger, nullable=False, default=0),
    Column("blobs_copied", Integer, nullable=False, default=0),
    Column("backfill_id", String(64), nullable=True),
)
Index("ix_replication_tasks_claim", replication_tasks.c.status, replication_tasks.c.next_attempt_at)
Index(
    "ix_replication_tasks_image",
    replication_tasks.c.source_account,
    replication_tasks.c.source_region,
    replication_tasks.c.repository_name,
    replication_tasks.c.manifest_digest,
)

replication_backfills = Table(
    "replication_backfills",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("dest_account", String(12), nullable=False),
    Column("dest_region", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)

# Outbox of EventBridge-shaped events ("ECR Image Action", "ECR Replication Action", ...),
# written in the transaction that causes them and delivered to sinks afterwards.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("detail_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
)
Index("ix_events_pending", events.c.delivered_at, events.c.id)

lifecycle_previews = Table(
    "lifecycle_previews",
    metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),  # JSON list of preview results
    Column("created_at", Float, nullable=False),
)
