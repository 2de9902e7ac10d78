"""Operations of ECR's model that crossreg does not implement, each answering a precise error
that names the operation and says why, instead of a silent empty success.

The error is ValidationException (see crossreg.ecr.errors.unsupported_operation for why): a
plain 400 that botocore never retries, whose message starts exactly like the one the API gives
any unregistered operation. docs/ecr-compatibility.md lists these reasons; a test keeps the
table and this module in step.
"""

from __future__ import annotations

from crossreg.ecr import errors
from crossreg.ecr.registry import OpContext, operation

NO_SCANNER = "crossreg does not scan images for vulnerabilities"
NO_PULL_THROUGH_CACHE = "crossreg has no pull through cache"
NO_SIGNING = "crossreg does not sign images (managed signing)"
NO_ARCHIVE = "crossreg has no archive storage class"
NO_PULL_TIME_EXCLUSIONS = "crossreg records every pull time; there is nothing to exclude"

# Operation -> why crossreg does not implement it (scanning's are registered in ops/scanning).
REASONS = {
    "CreatePullThroughCacheRule": NO_PULL_THROUGH_CACHE,
    "DeletePullThroughCacheRule": NO_PULL_THROUGH_CACHE,
    "DescribePullThroughCacheRules": NO_PULL_THROUGH_CACHE,
    "UpdatePullThroughCacheRule": NO_PULL_THROUGH_CACHE,
    "ValidatePullThroughCacheRule": NO_PULL_THROUGH_CACHE,
    "PutSigningConfiguration": NO_SIGNING,
    "GetSigningConfiguration": NO_SIGNING,
    "DeleteSigningConfiguration": NO_SIGNING,
    "DescribeImageSigningStatus": NO_SIGNING,
    "UpdateImageStorageClass": NO_ARCHIVE,
    "RegisterPullTimeUpdateExclusion": NO_PULL_TIME_EXCLUSIONS,
    "DeregisterPullTimeUpdateExclusion": NO_PULL_TIME_EXCLUSIONS,
    "ListPullTimeUpdateExclusions": NO_PULL_TIME_EXCLUSIONS,
}


def unsupported_error(name: str, reason: str) -> errors.EcrError:
    base = errors.unsupported_operation(name)
    return errors.EcrError(base.code, f"{base.message}: {reason}")


def register_unsupported(name: str, reason: str):
    """Register a handler for `name` that always answers the unsupported error. The handler
    carries `unsupported_reason`, so tools (the compatibility table) can tell it apart."""

    def handler(ctx: OpContext, params: dict) -> dict:
        raise unsupported_error(name, reason)

    handler.__name__ = f"unsupported_{name}"
    handler.unsupported_reason = reason
    return operation(name)(handler)


for _name, _reason in REASONS.items():
    register_unsupported(_name, _reason)


def unsupported_reason(handler) -> str | None:
    """Why a registered handler answers 'not supported', or None for an implemented one."""
    return getattr(handler, "unsupported_reason", None)
