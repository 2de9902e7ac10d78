"""The rules a repository's settings obey, whichever entry point sets them (ECR API, console):
tag immutability and its exclusion filters, encryption, resource tags, and the validated
repository policy and lifecycle policy writes."""

from __future__ import annotations

import re

from crossreg.domain.names import validate_repository_name
from crossreg.services.errors import RegistryError
from crossreg.services.models import RepoKey, Repository, RepositorySettings

MAX_TAGS = 50  # ECR's resource tag quota
TAG_MUTABILITY_MODES = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
EXCLUSION_MODES = ("IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
ENCRYPTION_TYPES = ("AES256", "KMS", "KMS_DSSE")
MAX_EXCLUSION_FILTERS = 5  # botocore's ImageTagMutabilityExclusionFilters: 1..5
# botocore's ImageTagMutabilityExclusionFilterValue
_EXCLUSION_FILTER = re.compile(r"[0-9a-zA-Z._*-]{1,128}")


class InvalidSetting(RegistryError):
    """A setting ECR refuses. `kind` is the ECR error name, `str(err)` ECR's text; `key` and
    `params` name the rule for translated user interfaces."""

    def __init__(self, kind: str, message: str, key: str, params: dict | None = None):
        super().__init__(message)
        self.kind, self.message, self.key, self.params = kind, message, key, params or {}


def tag_mutability_exclusions(mode: str, filters: list[dict] | None) -> list[dict]:
    """The exclusion filters to store for `mode`: required by the *_WITH_EXCLUSION modes and
    meaningless (so refused, rather than silently dropped) for the others."""
    if mode not in TAG_MUTABILITY_MODES:
        raise InvalidSetting("InvalidParameterException",
                             f"Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "
                             f"'Member must satisfy enum value set: [{', '.join(TAG_MUTABILITY_MODES)}]'",
                             "tag_mutability_invalid")
    if mode in EXCLUSION_MODES:
        if not filters:
            raise InvalidSetting(
                "InvalidParameterException",
                f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}",
                "exclusions_required", {"mode": mode})
        if len(filters) > MAX_EXCLUSION_FILTERS:
            raise InvalidSetting(
                "InvalidParameterException",
                "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
                f"'Member must have length less than or equal to {MAX_EXCLUSION_FILTERS}'",
                "exclusions_too_many", {"max": MAX_EXCLUSION_FILTERS, "count": len(filters)})
        for f in filters:
            if not _EXCLUSION_FILTER.fullmatch(f.get("filter") or ""):
                raise InvalidSetting(
                    "InvalidParameterException",
                    "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
                    "'Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$'",
                    "exclusion_filter_invalid", {"filter": f.get("filter") or ""})
        return [{"filterType": f["filterType"], "filter": f["filter"]} for f in filters]
    if filters:
        raise InvalidSetting(
            "InvalidParameterException",
            f"ImageTagMutabilityExclusionFilters can't be set when imageTagMutability is set as {mode}",
            "exclusions_not_allowed", {"mode": mode})
    return []


def resource_tags(tags: list[dict]) -> list[dict]:
    """The model puts no limits on tags; ECR enforces AWS's tagging rules itself."""
    if len(tags) > MAX_TAGS:
        raise InvalidSetting("TooManyTagsException",
                             f"A resource can have at most {MAX_TAGS} tags; {len(tags)} were given",
                             "too_many_tags", {"max": MAX_TAGS, "count": len(tags)})
    seen = set()
    for tag in tags:
        key, value = tag["Key"], tag["Value"]
        if not 1 <= len(key) <= 128:
            raise InvalidSetting("InvalidTagParameterException",
                                 "Tag keys must be between 1 and 128 characters long", "tag_key_length")
        if len(value) > 256:
            raise InvalidSetting("InvalidTagParameterException",
                                 "Tag values must be at most 256 characters long", "tag_value_length")
        if key.lower().startswith("aws:"):
            raise InvalidSetting("InvalidTagParameterException",
                                 "Tag keys starting with 'aws:' are reserved for AWS use", "tag_key_reserved")
        if key in seen:
            raise InvalidSetting("InvalidTagParameterException", f"Duplicate tag key '{key}'",
                                 "tag_key_duplicate", {"key": key})
        seen.add(key)
    return [{"Key": t["Key"], "Value": t["Value"]} for t in tags]


def check_encryption(encryption_type: str, kms_key: str | None) -> None:
    """ECR's rules on an encryption configuration: a known type, no key with AES256, a key of at
    most 2048 characters."""
    if encryption_type not in ENCRYPTION_TYPES:
        raise InvalidSetting("InvalidParameterException",
                             "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy "
                             f"constraint: 'Member must satisfy enum value set: [{', '.join(ENCRYPTION_TYPES)}]'",
                             "encryption_type_invalid")
    if encryption_type == "AES256" and kms_key:
        raise InvalidSetting(
            "InvalidParameterException",
            "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: "
            "'KMS key must not be specified when the encryption type is AES256'", "kms_key_with_aes256")
    if kms_key is not None and len(kms_key) > 2048:
        raise InvalidSetting("InvalidParameterException",
                             "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy "
                             "constraint: 'Member must have length less than or equal to 2048'", "kms_key_length")


def encryption(key: RepoKey, encryption_type: str, kms_key: str | None) -> tuple[str, str | None]:
    """(type, key) to store: AES256 takes no key; KMS without one uses the AWS managed key."""
    check_encryption(encryption_type, kms_key)
    if encryption_type != "AES256" and not kms_key:
        kms_key = f"arn:aws:kms:{key.region}:{key.account_id}:alias/aws/ecr"  # the AWS managed key
    return encryption_type, kms_key


def new_repository_settings(key: RepoKey, *, tag_mutability: str = "MUTABLE",
                            exclusion_filters: list[dict] | None = None, scan_on_push: bool = False,
                            encryption_type: str = "AES256", kms_key: str | None = None,
                            tags: list[dict] | None = None) -> RepositorySettings:
    """What CreateRepository stores, with ECR's checks (the name is checked too)."""
    validate_repository_name(key.name)
    exclusions = tag_mutability_exclusions(tag_mutability, exclusion_filters)
    enc_type, enc_key = encryption(key, encryption_type, kms_key)
    return RepositorySettings(tag_mutability=tag_mutability, tag_mutability_exclusions=exclusions,
                              scan_on_push=bool(scan_on_push), encryption_type=enc_type, kms_key=enc_key,
                              resource_tags=resource_tags(tags or []))


def set_tag_mutability(registry, repo: Repository, mode: str, filters: list[dict] | None) -> Repository:
    """PutImageTagMutability: applies to future pushes only."""
    exclusions = tag_mutability_exclusions(mode, filters)
    return registry.update_repository(repo.key, tag_mutability=mode, tag_mutability_exclusions=exclusions)


def set_scan_on_push(registry, repo: Repository, scan_on_push: bool) -> Repository:
    return registry.update_repository(repo.key, scan_on_push=bool(scan_on_push))


# ---------------------------------------------------------------- policies of one repository
def set_repository_policy(registry, repo: Repository, text: str) -> Repository:
    """SetRepositoryPolicy: a valid repository policy document (PolicyError otherwise), stored
    byte for byte."""
    from crossreg.services.policies import check_policy

    check_policy(text, "repository")
    return registry.update_repository(repo.key, policy_text=text)


def delete_repository_policy(registry, repo: Repository) -> str | None:
    """Remove the repository policy; returns the removed text (None if there was none)."""
    if not repo.policy_text:
        return None
    registry.update_repository(repo.key, policy_text=None)
    return repo.policy_text


def put_lifecycle_policy(registry, repo: Repository, text: str) -> Repository:
    """PutLifecyclePolicy: a valid lifecycle policy (crossreg.lifecycle.policy's
    LifecyclePolicyError otherwise), stored byte for byte by the lifecycle service."""
    from crossreg.lifecycle.policy import parse_policy
    from crossreg.services.lifecycle import set_lifecycle_policy

    parse_policy(text)
    return set_lifecycle_policy(registry, repo.key, text)


def delete_lifecycle_policy(registry, repo: Repository) -> str | None:
    """Remove the lifecycle policy; returns the removed text (None if there was none)."""
    from crossreg.services.lifecycle import set_lifecycle_policy

    if not repo.lifecycle_policy_text:
        return None
    set_lifecycle_policy(registry, repo.key, None)
    return repo.lifecycle_policy_text
