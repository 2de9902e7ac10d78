"""Repository creation templates: which settings a repository gets when crossreg itself creates
it (replication, pull-through cache, create-on-push). Documents are stored in ECR's
RepositoryCreationTemplate shape.

Every entry point (the ECR API's Create/UpdateRepositoryCreationTemplate, the console) stores
templates through `create_template` / `update_template`, which apply `check_template`: the
constraints of botocore's model (which the ECR API has also checked before, with the same
words) and ECR's rules on the settings a template becomes (those of the repository settings,
and the embedded repository and lifecycle policies validated as SetRepositoryPolicy and
PutLifecyclePolicy validate them)."""

from __future__ import annotations

import json
import re
import time
from typing import Callable

from sqlalchemy import Connection, delete, insert, select, update

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database
from crossreg.services import repository_settings as rs
from crossreg.services.models import RepositorySettings

# The template fields besides its prefix, in botocore's RepositoryCreationTemplate order.
FIELDS = ("description", "encryptionConfiguration", "resourceTags", "imageTagMutability",
          "imageTagMutabilityExclusionFilters", "repositoryPolicy", "lifecyclePolicy", "appliedFor",
          "customRoleArn")
APPLIED_FOR = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")  # botocore's RCTAppliedFor
# botocore's Prefix, RepositoryTemplateDescription, KmsKeyForRepositoryCreationTemplate,
# RepositoryPolicyText, LifecyclePolicyTextForRepositoryCreationTemplate and CustomRoleArn
# (a unit test compares them with the model).
PREFIX_PATTERN = r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$"
MAX_PREFIX = 256
MAX_DESCRIPTION = 256
KMS_KEY_PATTERN = r"^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[a-z0-9-]+"
MAX_REPOSITORY_POLICY = 10240
MAX_LIFECYCLE_POLICY = 30720
MAX_ROLE_ARN = 2048
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")


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


# ------------------------------------------------------------------ validation
class InvalidTemplate(rs.InvalidSetting):
    """A template setting ECR refuses with InvalidParameterException: `field` is the parameter
    (ECR's path, e.g. 'lifecyclePolicy'), `reason` ECR's constraint text; `key` and `params`
    name the rule for translated user interfaces, `cause` is the policy parser's error, if any."""

    def __init__(self, field: str, reason: str, key: str, params: dict | None = None,
                 cause: Exception | None = None):
        super().__init__("InvalidParameterException",
                         f"Invalid parameter at '{field}' failed to satisfy constraint: '{reason}'", key, params)
        self.field, self.reason, self.cause = field, reason, cause


def _too_long(field: str, value: str | None, limit: int, key: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidTemplate(field, f"Member must have length less than or equal to {limit}", key,
                              {"max": limit})


def _check_prefix(doc: dict) -> None:
    prefix = doc.get("prefix") or ""
    if not prefix:
        raise InvalidTemplate("prefix", "Member must have length greater than or equal to 1", "prefix_required")
    _too_long("prefix", prefix, MAX_PREFIX, "prefix_length")
    if not re.fullmatch(PREFIX_PATTERN, prefix, re.ASCII):
        raise InvalidTemplate("prefix", f"Member must satisfy regular expression pattern: {PREFIX_PATTERN}",
                              "prefix_pattern")


def _check_description(doc: dict) -> None:
    _too_long("description", doc.get("description"), MAX_DESCRIPTION, "description_length")


def _check_applied_for(doc: dict) -> None:
    applied = doc.get("appliedFor") or []
    for purpose in applied:
        if purpose not in APPLIED_FOR:
            raise InvalidTemplate("appliedFor", "Member must satisfy constraint: [Member must satisfy enum value "
                                  f"set: [{', '.join(APPLIED_FOR)}]]", "applied_for_invalid")
    if not applied:
        raise InvalidTemplate("appliedFor", "Member must have length greater than or equal to 1",
                              "applied_for_required")
    doc["appliedFor"] = list(dict.fromkeys(applied))  # each purpose once, in the order given


def _check_tag_mutability(doc: dict) -> None:
    mode = doc.setdefault("imageTagMutability", "MUTABLE")
    exclusions = rs.tag_mutability_exclusions(mode, doc.get("imageTagMutabilityExclusionFilters"))
    if exclusions:
        doc["imageTagMutabilityExclusionFilters"] = exclusions
    else:
        doc.pop("imageTagMutabilityExclusionFilters", None)


def _check_encryption(doc: dict) -> None:
    encryption = dict(doc.get("encryptionConfiguration") or {"encryptionType": "AES256"})
    if not encryption.get("kmsKey"):
        encryption.pop("kmsKey", None)
    rs.check_encryption(encryption.get("encryptionType"), encryption.get("kmsKey"))
    if "kmsKey" in encryption and not re.fullmatch(KMS_KEY_PATTERN, encryption["kmsKey"], re.ASCII):
        raise InvalidTemplate("encryptionConfiguration.kmsKey",
                              f"Member must satisfy regular expression pattern: {KMS_KEY_PATTERN}", "kms_key_pattern")
    doc["encryptionConfiguration"] = encryption


def _check_resource_tags(doc: dict) -> None:
    doc["resourceTags"] = rs.resource_tags(doc.get("resourceTags") or [])


def _check_repository_policy(doc: dict) -> None:
    from crossreg.iam.policy import PolicyError
    from crossreg.services.policies import check_policy

    if "repositoryPolicy" not in doc:
        return
    _too_long("repositoryPolicy", doc["repositoryPolicy"], MAX_REPOSITORY_POLICY, "repository_policy_length")
    try:
        check_policy(doc["repositoryPolicy"], "repository")
    except PolicyError as err:
        raise InvalidTemplate("repositoryPolicy", "Invalid repository policy provided", "repository_policy_invalid",
                              cause=err) from None


def _check_lifecycle_policy(doc: dict) -> None:
    from crossreg.lifecycle.policy import LifecyclePolicyError, parse_policy

    if "lifecyclePolicy" not in doc:
        return
    _too_long("lifecyclePolicy", doc["lifecyclePolicy"], MAX_LIFECYCLE_POLICY, "lifecycle_policy_length")
    try:
        parse_policy(doc["lifecyclePolicy"])
    except LifecyclePolicyError as err:
        raise InvalidTemplate("lifecyclePolicy", err.message, "lifecycle_policy_invalid", cause=err) from None


def _check_role(doc: dict) -> None:
    if "customRoleArn" not in doc:
        return
    _too_long("customRoleArn", doc["customRoleArn"], MAX_ROLE_ARN, "role_arn_length")
    if not _ROLE_ARN.fullmatch(doc["customRoleArn"]):
        raise InvalidTemplate("customRoleArn", "Invalid ARN", "role_arn_invalid")


# (the setting, by its ECR name, and its check), in the order ECR reports them: the model's
# constraints come first on the API, so only the first of ECR's own rules that fails is seen.
_CHECKS: tuple[tuple[str, Callable[[dict], None]], ...] = (
    ("prefix", _check_prefix),
    ("description", _check_description),
    ("appliedFor", _check_applied_for),
    ("imageTagMutability", _check_tag_mutability),
    ("encryptionConfiguration", _check_encryption),
    ("resourceTags", _check_resource_tags),
    ("repositoryPolicy", _check_repository_policy),
    ("lifecyclePolicy", _check_lifecycle_policy),
    ("customRoleArn", _check_role),
)


def check_template(document: dict) -> tuple[dict, list[tuple[str, rs.InvalidSetting]]]:
    """The template document to store (ECR's defaults filled in; empty optional strings mean
    "not set") and every problem with it: (setting, error) pairs, at most one per setting, in
    the order ECR reports them."""
    doc = {k: v for k, v in document.items() if v is not None and (k == "prefix" or k in FIELDS)}
    for name in ("description", "repositoryPolicy", "lifecyclePolicy", "customRoleArn"):
        if doc.get(name) == "":
            del doc[name]
    problems = []
    for setting, check in _CHECKS:
        try:
            check(doc)
        except rs.InvalidSetting as err:
            problems.append((setting, err))
    return doc, problems


def validate_template(document: dict) -> dict:
    """The template document to store, once every setting in it is valid; otherwise the first
    problem ECR would report (InvalidTemplate, or the repository settings' InvalidSetting)."""
    doc, problems = check_template(document)
    if problems:
        raise problems[0][1]
    return doc


def updated_document(current: dict, given: dict) -> dict:
    """UpdateRepositoryCreationTemplate: the given fields replace the stored ones; a new tag
    mutability without filters drops the old mode's filters."""
    updated = {**current, **given}
    if "imageTagMutability" in given and "imageTagMutabilityExclusionFilters" not in given:
        updated.pop("imageTagMutabilityExclusionFilters", None)
    return updated


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
    """Store a new template (ECR's RepositoryCreationTemplate shape, without the times), once
    valid (InvalidSetting otherwise); TemplateExists if its prefix is taken."""
    document = validate_template(document)
    t = s.creation_templates
    key, now = template_key(document["prefix"]), time.time()
    with db.write() as c:
        if c.execute(select(t.c.prefix).where(t.c.account_id == account_id, t.c.region == region,
                                              t.c.prefix == key)).first() is not None:
            raise TemplateExists(document["prefix"])
        c.execute(insert(t).values(account_id=account_id, region=region, prefix=key,
                                   document=json.dumps(document), created_at=now, updated_at=now))
    return {**document, "createdAt": now, "updatedAt": now}


def update_template(db: Database, account_id: str, region: str, prefix: str, given: dict) -> dict:
    """Replace the `given` fields of a template, atomically, once the result is valid
    (InvalidSetting otherwise); TemplateMissing if there is no such template."""
    t = s.creation_templates
    key, now = template_key(prefix), time.time()
    with db.write() as c:
        row = c.execute(select(t).where(t.c.account_id == account_id, t.c.region == region,
                                        t.c.prefix == key)).first()
        if row is None:
            raise TemplateMissing(prefix)
        document = validate_template(updated_document(json.loads(row.document), given))
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
