"""Repository creation templates: CreateRepositoryCreationTemplate,
DescribeRepositoryCreationTemplates, UpdateRepositoryCreationTemplate and
DeleteRepositoryCreationTemplate.

Templates are stored in ECR's RepositoryCreationTemplate shape
(crossreg.services.templates), where `best_template` / `settings_from_template` apply them
when crossreg itself creates a repository (replication: appliedFor REPLICATION). Their
settings obey the same rules as the repository settings they become (tag mutability and its
exclusion filters, encryption, resource tags), and the embedded repository and lifecycle
policies are validated as SetRepositoryPolicy and PutLifecyclePolicy validate them. Templates
always belong to the caller's own registry (the requests carry no registryId).
"""

from __future__ import annotations

import re

from crossreg.ecr import errors
from crossreg.ecr.ops._shapes import Pager
from crossreg.ecr.registry import OpContext, operation
from crossreg.iam.policy import PolicyError
from crossreg.lifecycle.policy import LifecyclePolicyError, parse_policy
from crossreg.services import repository_settings as rs
from crossreg.services import templates as store
from crossreg.services.policies import check_policy

_FIELDS = ("description", "encryptionConfiguration", "resourceTags", "imageTagMutability",
           "imageTagMutabilityExclusionFilters", "repositoryPolicy", "lifecyclePolicy", "appliedFor",
           "customRoleArn")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")


def _template_exists(prefix: str, registry_id: str) -> errors.EcrError:
    # [inferred] ECR's text is not documented; worded like its repository errors.
    return errors.EcrError("TemplateAlreadyExistsException",
                           f"The repository creation template with prefix '{prefix}' already exists "
                           f"in the registry with id '{registry_id}'")


def _template_not_found(prefix: str, registry_id: str) -> errors.EcrError:
    return errors.EcrError("TemplateNotFoundException",
                           f"The repository creation template with prefix '{prefix}' does not exist "
                           f"in the registry with id '{registry_id}'")


def _checked(ctx: OpContext, doc: dict) -> dict:
    """The template document to store, once every setting in it is valid; empty optional
    strings mean "not set"."""
    doc = {k: v for k, v in doc.items() if v is not None}
    for name in ("description", "repositoryPolicy", "lifecyclePolicy", "customRoleArn"):
        if doc.get(name) == "":
            del doc[name]
    applied = doc.get("appliedFor")
    if not applied:
        raise errors.invalid_parameter("appliedFor", "Member must have length greater than or equal to 1")
    doc["appliedFor"] = list(dict.fromkeys(applied))  # each purpose once, in the order given

    mode = doc.setdefault("imageTagMutability", "MUTABLE")
    exclusions = rs.tag_mutability_exclusions(mode, doc.get("imageTagMutabilityExclusionFilters"))
    if exclusions:
        doc["imageTagMutabilityExclusionFilters"] = exclusions
    else:
        doc.pop("imageTagMutabilityExclusionFilters", None)

    encryption = dict(doc.get("encryptionConfiguration") or {"encryptionType": "AES256"})
    if not encryption.get("kmsKey"):
        encryption.pop("kmsKey", None)
    if encryption["encryptionType"] == "AES256" and "kmsKey" in encryption:
        raise errors.invalid_parameter("encryptionConfiguration",
                                       "KMS key must not be specified when the encryption type is AES256")
    doc["encryptionConfiguration"] = encryption

    doc["resourceTags"] = rs.resource_tags(doc.get("resourceTags") or [])

    if "repositoryPolicy" in doc:
        try:
            check_policy(doc["repositoryPolicy"], "repository")
        except PolicyError:
            raise errors.invalid_parameter("repositoryPolicy", "Invalid repository policy provided") from None
    if "lifecyclePolicy" in doc:
        try:
            parse_policy(doc["lifecyclePolicy"])
        except LifecyclePolicyError as err:
            raise errors.invalid_parameter("lifecyclePolicy", err.message) from None
    if "customRoleArn" in doc and not _ROLE_ARN.fullmatch(doc["customRoleArn"]):
        raise errors.invalid_parameter("customRoleArn", "Invalid ARN")
    return doc


def _answer(ctx: OpContext, template: dict) -> dict:
    return {"registryId": ctx.account_id, "repositoryCreationTemplate": template}


@operation("CreateRepositoryCreationTemplate")
def create_repository_creation_template(ctx: OpContext, params: dict) -> dict:
    doc = _checked(ctx, {"prefix": params["prefix"], **{f: params.get(f) for f in _FIELDS}})
    try:
        template = store.create_template(ctx.core.db, ctx.account_id, ctx.region, doc)
    except store.TemplateExists:
        raise _template_exists(params["prefix"], ctx.account_id) from None
    return _answer(ctx, template)


@operation("UpdateRepositoryCreationTemplate")
def update_repository_creation_template(ctx: OpContext, params: dict) -> dict:
    given = {f: params[f] for f in _FIELDS if f in params}

    def change(current: dict) -> dict:
        updated = {**current, **given}
        if "imageTagMutability" in given and "imageTagMutabilityExclusionFilters" not in given:
            updated.pop("imageTagMutabilityExclusionFilters", None)  # filters belong to the old mode
        return _checked(ctx, updated)

    try:
        template = store.update_template(ctx.core.db, ctx.account_id, ctx.region, params["prefix"], change)
    except store.TemplateMissing:
        raise _template_not_found(params["prefix"], ctx.account_id) from None
    return _answer(ctx, template)


@operation("DeleteRepositoryCreationTemplate")
def delete_repository_creation_template(ctx: OpContext, params: dict) -> dict:
    try:
        template = store.delete_template(ctx.core.db, ctx.account_id, ctx.region, params["prefix"])
    except store.TemplateMissing:
        raise _template_not_found(params["prefix"], ctx.account_id) from None
    return _answer(ctx, template)


@operation("DescribeRepositoryCreationTemplates")
def describe_repository_creation_templates(ctx: OpContext, params: dict) -> dict:
    prefixes = params.get("prefixes")
    scope = ",".join(sorted({store.template_key(p) for p in prefixes})) if prefixes is not None else None
    pager = Pager(ctx, params, scope)
    after = pager.state["after"] if pager.state else None
    rows = store.list_templates(ctx.core.db, ctx.account_id, ctx.region, prefixes=prefixes,
                                after=after, limit=pager.size + 1)
    out = {"registryId": ctx.account_id, "repositoryCreationTemplates": [t for _, t in rows[:pager.size]]}
    if len(rows) > pager.size:
        out["nextToken"] = pager.next_token({"after": rows[pager.size - 1][0]})
    return out
