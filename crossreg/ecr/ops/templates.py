"""Repository creation templates: CreateRepositoryCreationTemplate,
DescribeRepositoryCreationTemplates, UpdateRepositoryCreationTemplate and
DeleteRepositoryCreationTemplate.

Templates are stored in ECR's RepositoryCreationTemplate shape
(crossreg.services.templates), where `best_template` / `settings_from_template` apply them
when crossreg itself creates a repository (replication: appliedFor REPLICATION). The service
validates them (`check_template`, which the console uses too): their settings obey the same
rules as the repository settings they become (tag mutability and its exclusion filters,
encryption, resource tags), and the embedded repository and lifecycle policies are validated as
SetRepositoryPolicy and PutLifecyclePolicy validate them. Templates always belong to the
caller's own registry (the requests carry no registryId).
"""

from __future__ import annotations

from crossreg.ecr import errors
from crossreg.ecr.ops._shapes import Pager
from crossreg.ecr.registry import OpContext, operation
from crossreg.services import templates as store


def _template_exists(prefix: str, registry_id: str) -> errors.EcrError:
    # [inferred] ECR's text is not documented; worded like its repository errors.
    return errors.EcrError("TemplateAlreadyExistsException",
                           f"The repository creation template with prefix '{prefix}' already exists "
                           f"in the registry with id '{registry_id}'")


def _template_not_found(prefix: str, registry_id: str) -> errors.EcrError:
    return errors.EcrError("TemplateNotFoundException",
                           f"The repository creation template with prefix '{prefix}' does not exist "
                           f"in the registry with id '{registry_id}'")


def _answer(ctx: OpContext, template: dict) -> dict:
    return {"registryId": ctx.account_id, "repositoryCreationTemplate": template}


# The repository settings' own errors (InvalidSetting) reach crossreg.ecr.api, which answers
# them with their ECR error name and text.
@operation("CreateRepositoryCreationTemplate")
def create_repository_creation_template(ctx: OpContext, params: dict) -> dict:
    doc = {"prefix": params["prefix"], **{f: params.get(f) for f in store.FIELDS}}
    try:
        template = store.create_template(ctx.core.db, ctx.account_id, ctx.region, doc)
    except store.InvalidTemplate as err:
        raise errors.invalid_parameter(err.field, err.reason) from None
    except store.TemplateExists:
        raise _template_exists(params["prefix"], ctx.account_id) from None
    return _answer(ctx, template)


@operation("UpdateRepositoryCreationTemplate")
def update_repository_creation_template(ctx: OpContext, params: dict) -> dict:
    given = {f: params[f] for f in store.FIELDS if f in params}
    try:
        template = store.update_template(ctx.core.db, ctx.account_id, ctx.region, params["prefix"], given)
    except store.InvalidTemplate as err:
        raise errors.invalid_parameter(err.field, err.reason) from None
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
