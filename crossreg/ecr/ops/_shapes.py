"""Helpers shared by the operation handlers: ECR response shapes built from service records,
and the signed-token paging every list operation uses."""

from __future__ import annotations

import json

from crossreg.ecr import errors
from crossreg.ecr import pagination
from crossreg.ecr.registry import OpContext
from crossreg.services.models import ImageRecord, Repository


def repository(ctx: OpContext, repo: Repository) -> dict:
    """ECR's Repository shape."""
    encryption = {"encryptionType": repo.encryption_type}
    if repo.kms_key:
        encryption["kmsKey"] = repo.kms_key
    out = {
        "repositoryArn": repo.arn,
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "repositoryUri": ctx.core.repository_uri(repo.account_id, repo.region, repo.name),
        "createdAt": repo.created_at,
        "imageTagMutability": repo.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": repo.scan_on_push},
        "encryptionConfiguration": encryption,
    }
    if repo.tag_mutability_exclusions:
        out["imageTagMutabilityExclusionFilters"] = repo.tag_mutability_exclusions
    return out


def image_detail(repo: Repository, image: ImageRecord) -> dict:
    """ECR's ImageDetail shape."""
    m = image.manifest
    out = {
        "registryId": repo.account_id,
        "repositoryName": repo.name,
        "imageDigest": m.digest,
        "imageSizeInBytes": m.image_size,
        "imagePushedAt": m.pushed_at,
        "imageManifestMediaType": m.media_type,
        "artifactMediaType": config_media_type(m.content),
        "lastRecordedPullTime": m.last_pulled_at,
        "subjectManifestDigest": m.subject_digest,
        "imageStatus": "ACTIVE",  # crossreg has no archive storage class
    }
    if image.tags:
        out["imageTags"] = list(image.tags)
    return out


def config_media_type(content: bytes) -> str | None:
    """What ECR reports as artifactMediaType: the config descriptor's media type (absent for
    manifest lists, which have no config)."""
    try:
        config = json.loads(content).get("config")
    except (ValueError, AttributeError):
        return None
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    return media_type if isinstance(media_type, str) else None


def reject_paging_with(params: dict, selector: str) -> None:
    """ECR refuses nextToken/maxResults together with an explicit list (repositoryNames,
    imageIds): a listing is either paged or selected, never both."""
    for field in ("nextToken", "maxResults"):
        if field in params:
            raise errors.invalid_parameter(field, f"{field} cannot be used when {selector} are specified")


class Pager:
    """One page of a listing: decodes the incoming nextToken into the handler's resume state
    and mints the outgoing one. Tokens are bound to the operation and the listing (registry,
    repository, filter), so a token cannot be replayed against another listing."""

    def __init__(self, ctx: OpContext, params: dict, *scope: str | None,
                 default: int = pagination.DEFAULT_PAGE_SIZE,
                 maximum: int = pagination.MAX_PAGE_SIZE):
        self._secret = ctx.core.pagination_key
        self._scope = pagination.token_scope(ctx.operation, ctx.account_id, ctx.region, *scope)
        self.size = pagination.page_size(params.get("maxResults"), default=default, maximum=maximum)
        token = params.get("nextToken")
        self.state: dict | None = (pagination.decode_token(self._secret, self._scope, token)
                                   if token is not None else None)

    def next_token(self, state: dict) -> str:
        return pagination.encode_token(self._secret, self._scope, state)
