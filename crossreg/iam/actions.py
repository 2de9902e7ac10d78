"""The ``ecr:`` action catalogue and the OCI Distribution request → ECR action mapping.

The catalogue is one action per ECR API operation in botocore's service model (so it follows
the installed botocore), plus the two internal actions that have no API operation:
``ecr:ReplicateImage`` (cross-account replication) and ``ecr:BatchImportUpstreamImage``
(pull-through cache). Action names are case-insensitive in IAM; the catalogue keeps AWS's
spelling and lookups fold case.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from crossreg.iam.arn import wildcard_match

__all__ = [
    "INTERNAL_ACTIONS",
    "REGISTRY_POLICY_V1_ACTIONS",
    "PULL_ACTIONS",
    "PUSH_ACTIONS",
    "OciKind",
    "ecr_actions",
    "operation_action",
    "canonical_action",
    "is_known_action",
    "actions_matching",
    "oci_action",
    "oci_actions",
]

INTERNAL_ACTIONS = ("ecr:ReplicateImage", "ecr:BatchImportUpstreamImage")

# The only actions a registry policy may name under the V1 registry policy scope.
REGISTRY_POLICY_V1_ACTIONS = frozenset(
    {"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
)

# What `docker pull` / `docker push` need, as ECR documents in its repository policy examples.
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)


@lru_cache(maxsize=1)
def ecr_actions() -> frozenset[str]:
    """Every ``ecr:`` action, e.g. ``ecr:BatchGetImage``."""
    # Imported lazily: loading the service model costs ~100 ms, and only the first call pays.
    from crossreg.ecr.model import service_model

    model = service_model()
    return frozenset(f"ecr:{op}" for op in model.operation_names) | frozenset(INTERNAL_ACTIONS)


@lru_cache(maxsize=1)
def _by_folded_name() -> dict[str, str]:
    return {action.casefold(): action for action in ecr_actions()}


def operation_action(operation_name: str) -> str:
    """The IAM action an ECR API operation is authorized as (``PutImage`` → ``ecr:PutImage``)."""
    action = canonical_action(f"ecr:{operation_name}")
    if action is None:
        raise ValueError(f"unknown ECR operation {operation_name!r}")
    return action


def canonical_action(name: str) -> str | None:
    """AWS's spelling of an action name given in any case, or None if it is not an ecr action."""
    return _by_folded_name().get(name.casefold())


def is_known_action(name: str) -> bool:
    return canonical_action(name) is not None


def actions_matching(pattern: str) -> frozenset[str]:
    """The catalogue actions an IAM action pattern (``ecr:Describe*``, ``*``) covers."""
    return frozenset(a for a in ecr_actions() if wildcard_match(pattern, a, case_sensitive=False))


class OciKind(str, Enum):
    """What an OCI Distribution request addresses."""

    MANIFEST = "manifest"        # /v2/<name>/manifests/<reference>
    BLOB = "blob"                # /v2/<name>/blobs/<digest>
    BLOB_UPLOAD = "blob_upload"  # /v2/<name>/blobs/uploads/[<uuid>]
    TAGS = "tags"                # /v2/<name>/tags/list
    REFERRERS = "referrers"      # /v2/<name>/referrers/<digest>
    CATALOG = "catalog"          # /v2/_catalog (registry-wide, not a repository)


# (kind, method) → actions, any one of which authorizes the request.
_OCI_ACTIONS: dict[tuple[OciKind, str], tuple[str, ...]] = {
    (OciKind.MANIFEST, "GET"): ("ecr:BatchGetImage",),
    (OciKind.MANIFEST, "HEAD"): ("ecr:BatchGetImage",),
    (OciKind.MANIFEST, "PUT"): ("ecr:PutImage",),
    (OciKind.MANIFEST, "DELETE"): ("ecr:BatchDeleteImage",),
    (OciKind.BLOB, "GET"): ("ecr:GetDownloadUrlForLayer",),
    # A blob HEAD is an existence probe: a pull does it before GET, a push before uploading.
    # The request looks the same either way, so either permission is enough.
    (OciKind.BLOB, "HEAD"): ("ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"),
    (OciKind.BLOB_UPLOAD, "POST"): ("ecr:InitiateLayerUpload",),
    (OciKind.BLOB_UPLOAD, "PATCH"): ("ecr:UploadLayerPart",),
    (OciKind.BLOB_UPLOAD, "PUT"): ("ecr:CompleteLayerUpload",),
    # Upload status and cancellation belong to the chunked upload in progress.
    (OciKind.BLOB_UPLOAD, "GET"): ("ecr:UploadLayerPart",),
    (OciKind.BLOB_UPLOAD, "DELETE"): ("ecr:UploadLayerPart",),
    (OciKind.TAGS, "GET"): ("ecr:BatchGetImage",),
    (OciKind.REFERRERS, "GET"): ("ecr:BatchGetImage",),
    (OciKind.CATALOG, "GET"): ("ecr:DescribeRepositories",),
}


def oci_actions(method: str, kind: OciKind | str) -> tuple[str, ...]:
    """All ECR actions that can authorize an OCI request; allowing any one of them suffices.
    Raises ValueError for a method the OCI API does not define on that kind of path."""
    kind = OciKind(kind)
    try:
        return _OCI_ACTIONS[(kind, method.upper())]
    except KeyError:
        raise ValueError(f"no ECR action for {method.upper()} on a {kind.value} path") from None


def oci_action(method: str, kind: OciKind | str, *, pushing: bool = False) -> str:
    """The single ECR action for an OCI request. Only a blob HEAD is ambiguous: it is
    ``ecr:GetDownloadUrlForLayer`` in a pull and ``ecr:BatchCheckLayerAvailability`` when
    the caller knows it is part of a push (``pushing=True``)."""
    candidates = oci_actions(method, kind)
    if len(candidates) > 1 and pushing:
        return candidates[1]
    return candidates[0]
