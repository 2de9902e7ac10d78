"""The OCI Distribution error catalogue and the error the data plane raises.

Codes and default messages follow distribution-spec v1.1 ("Error Codes"); TAG_INVALID, RANGE_INVALID,
PAGINATION_NUMBER_INVALID, UNKNOWN and UNAVAILABLE are the Distribution (registry:2) extensions that
clients also understand. Default HTTP statuses are Distribution's, except where noted.
Constructors at the bottom give ECR's wording, which is what `docker` prints to users.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    message: str
    status: int


def _catalogue(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {c.code: c for c in codes}


CODES: dict[str, ErrorCode] = _catalogue(
    ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404),
    # Distribution registers 404 here, but clients read a 404 on an upload URL as "session gone"
    # and restart from scratch; a bad request is what this code reports.
    ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 400),
    ErrorCode("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404),
    ErrorCode("DIGEST_INVALID", "provided digest did not match uploaded content", 400),
    ErrorCode("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400),
    ErrorCode("MANIFEST_INVALID", "manifest invalid", 400),
    ErrorCode("MANIFEST_UNKNOWN", "manifest unknown to registry", 404),
    ErrorCode("NAME_INVALID", "invalid repository name", 400),
    ErrorCode("NAME_UNKNOWN", "repository name not known to registry", 404),
    ErrorCode("SIZE_INVALID", "provided length did not match content length", 400),
    ErrorCode("UNAUTHORIZED", "authentication required", 401),
    ErrorCode("DENIED", "requested access to the resource is denied", 403),
    ErrorCode("UNSUPPORTED", "the operation is unsupported", 405),
    ErrorCode("TOOMANYREQUESTS", "too many requests", 429),
    # Distribution extensions.
    ErrorCode("TAG_INVALID", "manifest tag did not match URI", 400),
    ErrorCode("RANGE_INVALID", "invalid content range", 416),
    ErrorCode("PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400),
    ErrorCode("UNKNOWN", "unknown error", 500),
    ErrorCode("UNAVAILABLE", "service unavailable", 503),
)

# The spec: "containing only uppercase alphabetic characters and underscores".
_CODE_FORM = re.compile(r"[A-Z]+(?:_[A-Z]+)*")


class OciError(Exception):
    """An error answered as `{"errors": [{"code", "message", "detail"}]}` with an HTTP status.

    `message` and `status` default to the catalogue's. A well-formed code missing from the catalogue
    is allowed (the spec lets registries add codes; clients treat them as UNKNOWN) with status 400.
    """

    def __init__(self, code: str, message: str | None = None, detail: Any = None, status: int | None = None):
        if not isinstance(code, str) or not _CODE_FORM.fullmatch(code):
            raise ValueError(f"malformed OCI error code {code!r}")
        known = CODES.get(code)
        self.code = code
        self.message = message if message is not None else (known.message if known else code.lower())
        self.detail = detail
        self.status = status if status is not None else (known.status if known else 400)
        super().__init__(self.message)

    def to_dict(self) -> dict:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        # Like Distribution (and ECR), leave `detail` out rather than send null.
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry

    def body(self) -> bytes:
        return json.dumps({"errors": [self.to_dict()]}, separators=(",", ":")).encode()

    def __repr__(self) -> str:
        return f"OciError({self.code!r}, {self.message!r}, detail={self.detail!r}, status={self.status})"


# ---------------------------------------------------------------------------- constructors
# ECR's own wording where it is known (captured from docker/ECR sessions); the spec's otherwise.

def name_unknown(repository: str, registry_id: str) -> OciError:
    return OciError("NAME_UNKNOWN",
                    f"The repository with name '{repository}' does not exist in the registry with id '{registry_id}'")


def name_invalid(name: str, reason: str | None = None) -> OciError:
    return OciError("NAME_INVALID", f"invalid repository name '{name}'" + (f": {reason}" if reason else ""),
                    detail={"name": name})


def manifest_unknown(reference: str | None = None) -> OciError:
    # What docker shows for a missing tag or digest in ECR: "manifest unknown: Requested image not found".
    return OciError("MANIFEST_UNKNOWN", "Requested image not found",
                    detail={"reference": reference} if reference else None)


def manifest_invalid(message: str, detail: Any = None) -> OciError:
    return OciError("MANIFEST_INVALID", message, detail)


def manifest_blob_unknown(digests: list[str]) -> OciError:
    return OciError("MANIFEST_BLOB_UNKNOWN",
                    "manifest references blobs or manifests unknown to the repository: " + ", ".join(digests),
                    detail={"digests": list(digests)})


def manifest_too_large(limit: int) -> OciError:
    # 413 as distribution-spec v1.1 recommends for manifests over the registry's limit.
    return OciError("SIZE_INVALID", f"manifest exceeds the maximum size of {limit} bytes",
                    detail={"limit": limit}, status=413)


def blob_unknown(digest: str) -> OciError:
    return OciError("BLOB_UNKNOWN", f"blob {digest} is not known to this repository", detail={"digest": digest})


def blob_upload_unknown(upload_id: str, repository: str, registry_id: str) -> OciError:
    # ECR's UploadNotFoundException message.
    return OciError("BLOB_UPLOAD_UNKNOWN",
                    f"Upload with id '{upload_id}' could not be found for the repository with name "
                    f"'{repository}' in the registry with id '{registry_id}'")


def blob_upload_invalid(message: str, status: int = 400) -> OciError:
    return OciError("BLOB_UPLOAD_INVALID", message, status=status)


def digest_invalid(digest: str, reason: str | None = None) -> OciError:
    return OciError("DIGEST_INVALID", reason or f"invalid digest '{digest}'", detail={"digest": digest})


def digest_mismatch(claimed: str, actual: str) -> OciError:
    return OciError("DIGEST_INVALID", f"provided digest {claimed} does not match content digest {actual}",
                    detail={"digest": claimed, "actual": actual})


def size_invalid(message: str, status: int = 400) -> OciError:
    return OciError("SIZE_INVALID", message, status=status)


def tag_invalid(tag: str) -> OciError:
    return OciError("TAG_INVALID", f"invalid tag '{tag}'", detail={"tag": tag})


def tag_invalid_immutable(tag: str, repository: str) -> OciError:
    return OciError("TAG_INVALID",
                    f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be "
                    "overwritten because the repository is immutable.")


def range_invalid(size: int | None = None) -> OciError:
    return OciError("RANGE_INVALID", "requested range not satisfiable",
                    detail={"size": size} if size is not None else None)


def unauthorized(message: str = "authentication required") -> OciError:
    return OciError("UNAUTHORIZED", message)


def denied(message: str = "requested access to the resource is denied") -> OciError:
    return OciError("DENIED", message)


def denied_token_expired() -> OciError:
    return OciError("DENIED", "Your authorization token has expired. Reauthenticate and try again.")


def denied_token_invalid() -> OciError:
    return OciError("DENIED", "Your authorization token is invalid.")


def unsupported(message: str = "the operation is unsupported") -> OciError:
    return OciError("UNSUPPORTED", message)


def too_many_requests(message: str = "too many requests") -> OciError:
    return OciError("TOOMANYREQUESTS", message)
