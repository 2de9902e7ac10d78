"""Repositories: CreateRepository, DescribeRepositories, DeleteRepository, the repository
settings PutImageTagMutability and PutImageScanningConfiguration, and resource tags
(TagResource, UntagResource, ListTagsForResource)."""

from __future__ import annotations

import re

from crossreg.auth.access import AccessDenied
from crossreg.ecr import errors
from crossreg.ecr.ops import _shapes as shapes
from crossreg.ecr.registry import OpContext, operation
from crossreg.services import repository_settings

@operation("CreateRepository", cross_account=True)
def create_repository(ctx: OpContext, params: dict) -> dict:
    key = ctx.repo_key(params)
    ctx.authorize(key)  # another registry: only if its registry policy grants ecr:CreateRepository
    encryption = params.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    settings = repository_settings.new_repository_settings(
        key, tag_mutability=params.get("imageTagMutability", "MUTABLE"),
        exclusion_filters=params.get("imageTagMutabilityExclusionFilters"),
        scan_on_push=(params.get("imageScanningConfiguration") or {}).get("scanOnPush", False),
        encryption_type=encryption["encryptionType"], kms_key=encryption.get("kmsKey"),
        tags=params.get("tags") or [])
    repo = ctx.core.registry.create_repository(key, settings)
    return {"repository": shapes.repository(ctx, repo)}


@operation("DescribeRepositories", cross_account=True)
def describe_repositories(ctx: OpContext, params: dict) -> dict:
    names = params.get("repositoryNames")
    if names is not None:
        shapes.reject_paging_with(params, "repositoryNames")
        found, seen = [], set()
        for name in names:
            if name not in seen:  # a name given twice is described once
                seen.add(name)
                found.append(shapes.repository(ctx, ctx.repository({**params, "repositoryName": name})))
        return {"repositories": found}

    registry_id = ctx.registry_id(params)
    pager = shapes.Pager(ctx, params, registry_id)
    after = pager.state["after"] if pager.state else None
    repos = ctx.core.registry.list_repositories(registry_id, ctx.region, after=after, limit=pager.size + 1)
    page, more = repos[:pager.size], len(repos) > pager.size
    if registry_id != ctx.account_id:
        # Another account's registry: only the repositories its policies let the caller describe.
        page = [r for r in page if _may_describe(ctx, r)]
    out = {"repositories": [shapes.repository(ctx, r) for r in page]}
    if more:
        out["nextToken"] = pager.next_token({"after": repos[pager.size - 1].name})
    return out


def _may_describe(ctx: OpContext, repo) -> bool:
    try:
        ctx.authorize(repo.key, repo)
        return True
    except AccessDenied:
        return False


@operation("DeleteRepository", cross_account=True)
def delete_repository(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    deleted = ctx.core.registry.delete_repository(repo.key, force=bool(params.get("force", False)))
    return {"repository": shapes.repository(ctx, deleted)}


@operation("PutImageTagMutability", cross_account=True)
def put_image_tag_mutability(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    # Applies to future pushes only: tags already there stay where they point.
    repo = repository_settings.set_tag_mutability(ctx.core.registry, repo, params["imageTagMutability"],
                                                  params.get("imageTagMutabilityExclusionFilters"))
    out = {"registryId": repo.account_id, "repositoryName": repo.name,
           "imageTagMutability": repo.tag_mutability}
    if repo.tag_mutability_exclusions:
        out["imageTagMutabilityExclusionFilters"] = repo.tag_mutability_exclusions
    return out


@operation("PutImageScanningConfiguration", cross_account=True)
def put_image_scanning_configuration(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    repo = repository_settings.set_scan_on_push(
        ctx.core.registry, repo, params["imageScanningConfiguration"].get("scanOnPush", False))
    return {"registryId": repo.account_id, "repositoryName": repo.name,
            "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push}}


# ---------------------------------------------------------------------- resource tags
_REPOSITORY_ARN = re.compile(r"arn:aws:ecr:([0-9a-z-]+):([0-9]{12}):repository/(.+)")


def _tagged_repository(ctx: OpContext, arn: str):
    """The repository a resourceArn names (in the signed region), once the caller may act on it."""
    m = _REPOSITORY_ARN.fullmatch(arn)
    if m is None or m.group(1) != ctx.region:
        raise errors.invalid_parameter("resourceArn", "Invalid ARN")
    return ctx.repository({"registryId": m.group(2), "repositoryName": m.group(3)})


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: OpContext, params: dict) -> dict:
    return {"tags": _tagged_repository(ctx, params["resourceArn"]).resource_tags}


@operation("TagResource")
def tag_resource(ctx: OpContext, params: dict) -> dict:
    repo = _tagged_repository(ctx, params["resourceArn"])
    merged = {t["Key"]: t["Value"] for t in repo.resource_tags}
    new = repository_settings.resource_tags(params["tags"])
    merged.update({t["Key"]: t["Value"] for t in new})  # a key given again takes the new value
    tags = repository_settings.resource_tags([{"Key": k, "Value": v} for k, v in merged.items()])
    ctx.core.registry.update_repository(repo.key, resource_tags=tags)
    return {}


@operation("UntagResource")
def untag_resource(ctx: OpContext, params: dict) -> dict:
    repo = _tagged_repository(ctx, params["resourceArn"])
    removed = set(params["tagKeys"])
    ctx.core.registry.update_repository(
        repo.key, resource_tags=[t for t in repo.resource_tags if t["Key"] not in removed])
    return {}
