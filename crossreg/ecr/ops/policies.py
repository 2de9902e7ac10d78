"""Resource policies: repository policies (Set/Get/DeleteRepositoryPolicy) and the registry
policy (Put/Get/DeleteRegistryPolicy). Texts are stored and echoed byte for byte, as ECR does;
crossreg.auth.access evaluates them for cross-account requests."""

from __future__ import annotations

import logging

from crossreg.ecr import errors
from crossreg.ecr.registry import OpContext, operation
from crossreg.iam.policy import PolicyError
from crossreg.services import policies, repository_settings

log = logging.getLogger("crossreg.ecr")


def _rejected(ctx: OpContext, kind: str, err: PolicyError) -> errors.EcrError:
    # ECR's message names no reason; the log keeps it for the operator.
    log.info("request %s: %s policy rejected: %s", ctx.request_id, kind, err.reason)
    return errors.invalid_parameter("PolicyText", f"Invalid {kind} policy provided")


def _repository_policy(repo, text: str | None = None) -> dict:
    return {"registryId": repo.account_id, "repositoryName": repo.name,
            "policyText": text if text is not None else repo.policy_text}


@operation("SetRepositoryPolicy", cross_account=True)
def set_repository_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    # `force` guards against self lock-out in AWS; an owner can never lock itself out of a
    # crossreg repository (own-account access is unconditional), so there is nothing to force.
    try:
        repo = repository_settings.set_repository_policy(ctx.core.registry, repo, params["policyText"])
    except PolicyError as err:
        raise _rejected(ctx, "repository", err) from None
    return _repository_policy(repo)


@operation("GetRepositoryPolicy", cross_account=True)
def get_repository_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    if not repo.policy_text:
        raise errors.repository_policy_not_found(repo.name, repo.account_id)
    return _repository_policy(repo)


@operation("DeleteRepositoryPolicy", cross_account=True)
def delete_repository_policy(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    if not repo.policy_text:
        raise errors.repository_policy_not_found(repo.name, repo.account_id)
    ctx.core.registry.update_repository(repo.key, policy_text=None)
    return _repository_policy(repo)  # ECR answers with the policy it deleted


# Registry policies always concern the caller's own registry in the signed region.
@operation("PutRegistryPolicy")
def put_registry_policy(ctx: OpContext, params: dict) -> dict:
    text = params["policyText"]
    try:
        policies.put_registry_policy(ctx.core.db, ctx.account_id, ctx.region, text)
    except PolicyError as err:
        raise _rejected(ctx, "registry", err) from None
    return {"registryId": ctx.account_id, "policyText": text}


@operation("GetRegistryPolicy")
def get_registry_policy(ctx: OpContext, params: dict) -> dict:
    text = policies.registry_policy(ctx.core.db, ctx.account_id, ctx.region)
    if text is None:
        raise errors.registry_policy_not_found(ctx.account_id)
    return {"registryId": ctx.account_id, "policyText": text}


@operation("DeleteRegistryPolicy")
def delete_registry_policy(ctx: OpContext, params: dict) -> dict:
    previous = policies.set_registry_policy(ctx.core.db, ctx.account_id, ctx.region, None)
    if previous is None:
        raise errors.registry_policy_not_found(ctx.account_id)
    return {"registryId": ctx.account_id, "policyText": previous}
