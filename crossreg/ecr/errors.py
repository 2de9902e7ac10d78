"""AWS-style errors for the ECR JSON API (awsJson 1.1).

On the wire an error is an HTTP status plus the body `{"__type": "<Code>", "message": "..."}`;
botocore turns `__type` into `ClientError.response["Error"]["Code"]` and, for codes the ECR model
declares, into the matching `client.exceptions.<Code>` class. The messages below are the ones
real ECR returns (see the reference note, section 3), so scripts that match on them keep working.

Status codes: the model sets no `httpStatusCode`, and AWS documents 400 for every client error
of ECR; `ServerException` is a fault (500). The generic authentication errors are 403, except
`IncompleteSignatureException` which AWS lists as 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Codes answered with 403. AccessDeniedException is 403 in the current AWS common-errors pages.
_FORBIDDEN = frozenset({
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
})
_SERVER = frozenset({"ServerException", "InternalFailure", "ServiceUnavailableException"})


def default_status(code: str) -> int:
    if code in _SERVER:
        return 500
    if code in _FORBIDDEN:
        return 403
    return 400


class EcrError(Exception):
    """An error that the ECR API returns to the client as-is.

    `extra` holds structured details for the server's own use (logs, metrics, e.g.
    `lastValidByteReceived` of InvalidLayerPartException); it is not sent on the wire.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else default_status(code)
        self.extra = extra

    def to_body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message},
                          separators=(",", ":")).encode()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"EcrError({self.code!r}, {self.message!r}, http_status={self.http_status})"


# --- ECR resource errors -------------------------------------------------------------------

def repository_not_found(name: str, registry_id: str) -> EcrError:
    return EcrError("RepositoryNotFoundException",
                    f"The repository with name '{name}' does not exist in the registry with id "
                    f"'{registry_id}'")


def repository_already_exists(name: str, registry_id: str) -> EcrError:
    return EcrError("RepositoryAlreadyExistsException",
                    f"The repository with name '{name}' already exists in the registry with id "
                    f"'{registry_id}'")


def repository_not_empty(name: str, registry_id: str) -> EcrError:
    return EcrError("RepositoryNotEmptyException",
                    f"The repository with name '{name}' in registry with id '{registry_id}' cannot "
                    "be deleted because it still contains images")


def format_image_id(image_id: Mapping[str, Any]) -> str:
    """ECR prints an ImageIdentifier Java-style, with 'null' for an absent field:
    `{imageDigest:'null', imageTag:'latest'}`."""
    digest = image_id.get("imageDigest")
    tag = image_id.get("imageTag")
    return f"{{imageDigest:'{digest if digest is not None else 'null'}', " \
           f"imageTag:'{tag if tag is not None else 'null'}'}}"


def image_not_found(image_id: Mapping[str, Any], repository_name: str, registry_id: str) -> EcrError:
    return EcrError("ImageNotFoundException",
                    f"The image with imageId {format_image_id(image_id)} does not exist within the "
                    f"repository with name '{repository_name}' in the registry with id "
                    f"'{registry_id}'")


def repository_policy_not_found(name: str, registry_id: str) -> EcrError:
    return EcrError("RepositoryPolicyNotFoundException",
                    f"Repository policy does not exist for the repository with name '{name}' in "
                    f"the registry with id '{registry_id}'")


def lifecycle_policy_not_found(name: str, registry_id: str) -> EcrError:
    return EcrError("LifecyclePolicyNotFoundException",
                    f"Lifecycle policy does not exist for the repository with name '{name}' in "
                    f"the registry with id '{registry_id}'")


def registry_policy_not_found(registry_id: str) -> EcrError:
    return EcrError("RegistryPolicyNotFoundException",
                    f"Registry policy does not exist in the registry with id '{registry_id}'")


def upload_not_found(upload_id: str, name: str, registry_id: str) -> EcrError:
    return EcrError("UploadNotFoundException",
                    f"Upload with id '{upload_id}' could not be found for the repository with name "
                    f"'{name}' in the registry with id '{registry_id}'")


# --- validation ------------------------------------------------------------------------------

def invalid_parameter(field: str, reason: str) -> EcrError:
    """ECR's validation message: `Invalid parameter at '<field>' failed to satisfy constraint:
    '<reason>'` (real output, e.g. for maxResults: reason 'Member must have value less than or
    equal to 1000')."""
    return EcrError("InvalidParameterException",
                    f"Invalid parameter at '{field}' failed to satisfy constraint: '{reason}'",
                    field=field, reason=reason)


def invalid_next_token() -> EcrError:
    # [inferred] ECR's exact text for a forged/garbled token is not documented; this keeps its
    # usual validation format.
    return invalid_parameter("nextToken", "Invalid NextToken")


def serialization_error(message: str) -> EcrError:
    """Body that is not valid JSON, or a value of the wrong JSON type (what Coral services call
    SerializationException)."""
    return EcrError("SerializationException", message)


def validation_error(message: str) -> EcrError:
    return EcrError("ValidationException", message)


def unsupported_operation(operation_name: str) -> EcrError:
    """An operation that exists in the ECR model but that crossreg does not implement (yet).

    Why ValidationException and not UnknownOperationException/UnsupportedOperationException:
    UnknownOperationException tells the client the target does not exist at all, which is wrong
    for a modeled operation and makes people suspect their SDK version. ValidationException is
    modeled by ECR (newer operations declare it), is a plain 400 that botocore never retries, and
    surfaces as `ClientError` whose message says exactly what is going on.
    UnsupportedOperationException is not a code ECR ever returns.
    """
    return EcrError("ValidationException",
                    f"The operation {operation_name} is not supported by crossreg")


def unknown_operation(target: str | None) -> EcrError:
    """X-Amz-Target missing or naming no operation of the ECR model (AWS: 400)."""
    return EcrError("UnknownOperationException",
                    f"The operation {target!r} is not known" if target else
                    "Missing or malformed X-Amz-Target header")


def server_error(message: str = "Internal server error") -> EcrError:
    return EcrError("ServerException", message)


def throttled(message: str = "Rate exceeded") -> EcrError:
    return EcrError("ThrottlingException", message)


# --- authentication / authorization (generic AWS errors) ------------------------------------

def missing_authentication_token() -> EcrError:
    return EcrError("MissingAuthenticationTokenException", "Missing Authentication Token")


def incomplete_signature(message: str) -> EcrError:
    return EcrError("IncompleteSignatureException", message)


SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.")


def invalid_signature(message: str = SIGNATURE_MISMATCH_MESSAGE) -> EcrError:
    return EcrError("InvalidSignatureException", message)


def signature_expired(signed_at: str, earliest: str, now: str, skew_minutes: int = 5) -> EcrError:
    """AWS's text for a request dated too far in the past; all three times in ISO-8601 basic
    format (20261128T101500Z)."""
    return invalid_signature(f"Signature expired: {signed_at} is now earlier than {earliest} "
                             f"({now} - {skew_minutes} min.)")


def signature_not_yet_current(signed_at: str, latest: str, now: str,
                              skew_minutes: int = 5) -> EcrError:
    """AWS's text for a request dated too far in the future."""
    return invalid_signature(f"Signature not yet current: {signed_at} is still later than "
                             f"{latest} ({now} + {skew_minutes} min.)")


def unrecognized_client() -> EcrError:
    return EcrError("UnrecognizedClientException",
                    "The security token included in the request is invalid.")


def access_denied(action: str, resource_arn: str, *, account_id: str | None = None,
                  principal_arn: str | None = None, explicit_deny: bool = False,
                  policy_kind: str = "resource-based") -> EcrError:
    """AWS IAM denial text. `action` with or without the `ecr:` prefix; the principal defaults to
    the account root, which is what crossreg's per-account keys stand for."""
    if principal_arn is None:
        if account_id is None:
            raise ValueError("access_denied needs account_id or principal_arn")
        principal_arn = f"arn:aws:iam::{account_id}:root"
    if ":" not in action:
        action = f"ecr:{action}"
    why = (f"with an explicit deny in a {policy_kind} policy" if explicit_deny
           else f"because no {policy_kind} policy allows the {action} action")
    return EcrError("AccessDeniedException",
                    f"User: {principal_arn} is not authorized to perform: {action} on resource: "
                    f"{resource_arn} {why}")
