"""Lifecycle policies: PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy,
StartLifecyclePolicyPreview and GetLifecyclePolicyPreview.

Policies are validated by crossreg.lifecycle.policy (ECR's wording) and run by
crossreg.lifecycle.runner; a preview is the evaluator's answer for the repository's images at
the time it was started, computed synchronously, so it is COMPLETE as soon as it exists.
"""

from __future__ import annotations

from crossreg.ecr import errors
from crossreg.ecr.ops import _shapes as shapes
from crossreg.ecr.ops._shapes import Pager
from crossreg.ecr.registry import OpContext, operation
from crossreg.lifecycle import runner
from crossreg.lifecycle.policy import LifecyclePolicyError
from crossreg.services import lifecycle as store
from crossreg.services import repository_settings as rs

PREVIEW_PAGE_SIZE = 100  # LifecyclePreviewMaxResults: 1..100


def _invalid(err: LifecyclePolicyError) -> errors.EcrError:
    return errors.invalid_parameter("LifecyclePolicyText", err.message)


def _policy(repo, text: str, last_evaluated: float | None = None) -> dict:
    out = {"registryId": repo.account_id, "repositoryName": repo.name, "lifecyclePolicyText": text}
    if last_evaluated is not None:
        out["lastEvaluatedAt"] = last_evaluated
    return out


@operation("PutLifecyclePolicy", cross_account=True)
def put_lifecycle_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    text = params["lifecyclePolicyText"]
    try:
        rs.put_lifecycle_policy(ctx.core.registry, repo, text)
    except LifecyclePolicyError as err:
        raise _invalid(err) from None
    return _policy(repo, text)


@operation("GetLifecyclePolicy", cross_account=True)
def get_lifecycle_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    if not repo.lifecycle_policy_text:
        raise errors.lifecycle_policy_not_found(repo.name, repo.account_id)
    return _policy(repo, repo.lifecycle_policy_text, store.last_evaluated(ctx.core.db, repo))


@operation("DeleteLifecyclePolicy", cross_account=True)
def delete_lifecycle_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    if not repo.lifecycle_policy_text:
        raise errors.lifecycle_policy_not_found(repo.name, repo.account_id)
    last = store.last_evaluated(ctx.core.db, repo)
    rs.delete_lifecycle_policy(ctx.core.registry, repo)
    return _policy(repo, repo.lifecycle_policy_text, last)  # ECR answers with what it deleted


@operation("StartLifecyclePolicyPreview", cross_account=True)
def start_lifecycle_policy_preview(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    text = params.get("lifecyclePolicyText") or repo.lifecycle_policy_text
    if not text:
        raise errors.lifecycle_policy_not_found(repo.name, repo.account_id)
    try:
        expiries = runner.preview(ctx.core, repo, text)
    except LifecyclePolicyError as err:
        raise _invalid(err) from None
    results = [{"imageDigest": e.digest, "imageTags": list(e.image.tags),
                "imagePushedAt": e.image.pushed_at, "appliedRulePriority": e.rule_priority}
               for e in expiries]
    store.save_preview(ctx.core.db, repo, text, "COMPLETE", results)
    return {**_policy(repo, text), "status": "COMPLETE"}


def _preview_not_found(repo) -> errors.EcrError:
    # [inferred] ECR's exact text is not documented; worded like its other not-found errors.
    return errors.EcrError("LifecyclePolicyPreviewNotFoundException",
                           f"Lifecycle policy preview does not exist for the repository with name "
                           f"'{repo.name}' in the registry with id '{repo.account_id}'")


def _selected(result: dict, image_ids: list[dict] | None, tag_status: str | None) -> bool:
    tags = result["imageTags"]
    if tag_status == "TAGGED" and not tags or tag_status == "UNTAGGED" and tags:
        return False
    if image_ids is None:
        return True
    return any((i.get("imageDigest") is None or i["imageDigest"] == result["imageDigest"])
               and (i.get("imageTag") is None or i["imageTag"] in tags)
               and (i.get("imageDigest") is not None or i.get("imageTag") is not None)
               for i in image_ids)


@operation("GetLifecyclePolicyPreview", cross_account=True)
def get_lifecycle_policy_preview(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    image_ids = params.get("imageIds")
    if image_ids is not None:
        shapes.reject_paging_with(params, "imageIds")
    preview = store.load_preview(ctx.core.db, repo)
    if preview is None:
        raise _preview_not_found(repo)
    # A token is bound to this preview: a newer preview makes older tokens invalid.
    pager = Pager(ctx, params, repo.account_id, repo.name, repr(preview.created_at),
                  (params.get("filter") or {}).get("tagStatus"),
                  default=PREVIEW_PAGE_SIZE, maximum=PREVIEW_PAGE_SIZE)
    start = pager.state["i"] if pager.state else 0
    selected = [r for r in preview.results
                if _selected(r, image_ids, (params.get("filter") or {}).get("tagStatus"))]
    page = selected[start:start + pager.size]
    out = {
        **_policy(repo, preview.policy_text),
        "status": preview.status,
        "previewResults": [{"imageDigest": r["imageDigest"], "imageTags": r["imageTags"],
                            "imagePushedAt": r["imagePushedAt"], "action": {"type": "EXPIRE"},
                            "appliedRulePriority": r["appliedRulePriority"], "storageClass": "STANDARD"}
                           for r in page],
        "summary": {"expiringImageTotalCount": len(preview.results)},
    }
    if start + pager.size < len(selected):
        out["nextToken"] = pager.next_token({"i": start + pager.size})
    return out
