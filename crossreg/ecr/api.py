"""The ECR JSON API (awsJson 1.1) at `POST /`, as boto3 and `aws ecr --endpoint-url` speak it.

One request: X-Amz-Target names the operation; the body is read (bounded) and its SigV4
signature verified against the signing account's secret; the region the request was signed for
picks the registry (account, region); the JSON body is validated against botocore's model; the
operation's handler (crossreg.ecr.ops, sync) runs in the thread pool; its result is serialised
with the model's output shape. Every error, whatever raised it, becomes ECR's
`{"__type", "message"}` answer in `_to_ecr_error` -- the one place that maps service-layer
errors and access denials to ECR's exceptions.

Also here: `LayerDownload`, the endpoint behind GetDownloadUrlForLayer's signed URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from crossreg import metrics
from crossreg.app import Crossreg
from crossreg.auth import sigv4
from crossreg.auth.access import AccessDenied, Caller
from crossreg.ecr import errors, protocol
from crossreg.ecr import registry as ops
from crossreg.ecr.errors import EcrError
from crossreg.ecr.ops.layers import DownloadTokenInvalid, verify_download_token
from crossreg.ecr.registry import OpContext
from crossreg.metadata.db import DatabaseUnavailable
from crossreg.services import errors as e
from crossreg.storage.base import StorageUnavailable
from crossreg.storage.streaming import open_blob_stream

log = logging.getLogger("crossreg.ecr")

# UploadLayerPart carries up to 20 MiB, base64-encoded in JSON (~27 MiB); nothing else comes close.
MAX_BODY = 30 * 1024 * 1024
# A region name as it may appear in a credential scope (the model's region pattern).
_REGION = re.compile(r"[0-9a-z-]{2,25}")


class EcrApi:
    def __init__(self, core: Crossreg):
        self.core = core
        ops.load_operations()  # import errors surface at start-up, not on the first request

    async def __call__(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        operation, caller = "Unknown", None
        params: dict = {}
        try:
            operation = protocol.operation_for_target(request.headers.get("x-amz-target"))
            body = await _read_body(request)
            caller, region = await run_in_threadpool(self._authenticate, request, body)
            op = ops.lookup(operation)
            if op is None:
                raise errors.unsupported_operation(operation)
            params = protocol.parse_request(operation, body)
            ctx = OpContext(self.core, caller, region, request_id, operation)
            _guard_registry_id(ctx, op, params)
            result = await run_in_threadpool(op.handler, ctx, params)
            payload = protocol.serialize_output(operation, result)
        except Exception as exc:  # every failure leaves as an ECR error, never as a bare 500
            err = _to_ecr_error(exc, operation, params, caller, request_id)
            metrics.ecr_operations.labels(operation, err.code).inc()
            log.debug("request %s: %s by %s -> %s", request_id, operation,
                      caller.account_id if caller else "-", err.code)
            return _error_response(err, request_id)
        metrics.ecr_operations.labels(operation, "success").inc()
        return Response(payload, media_type=protocol.CONTENT_TYPE,
                        headers={"x-amzn-RequestId": request_id})

    def _authenticate(self, request: Request, body: bytes) -> tuple[Caller, str]:
        """SigV4 with the signing account's secret; returns the account and the signed region."""
        found = {}

        def lookup_secret(access_key_id: str) -> str | None:
            account = self.core.accounts.by_access_key(access_key_id)
            if account is None:
                return None
            found["account"] = account
            return account.secret_access_key

        verified = sigv4.verify(sigv4.SignedRequest.from_asgi(request.scope, body), lookup_secret,
                                dt.datetime.now(dt.timezone.utc), service="ecr")
        region = verified.region
        if not _REGION.fullmatch(region) or not self.core.settings.serves_region(region):
            raise errors.invalid_signature(f"Credential should be scoped to a valid region, not '{region}'. ")
        return Caller(found["account"].account_id), region


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise _body_too_large()
    parts, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise _body_too_large()
        parts.append(chunk)
    return b"".join(parts)


def _body_too_large() -> EcrError:
    return EcrError("InvalidParameterException",
                    f"The request body exceeds the maximum of {MAX_BODY} bytes")


def _guard_registry_id(ctx: OpContext, op: ops.Operation, params: dict) -> None:
    """Another account's registryId reaches only handlers that authorise it themselves."""
    registry_id = params.get("registryId")
    if registry_id is None or registry_id == ctx.account_id or op.cross_account:
        return
    resource = f"repository/{params['repositoryName']}" if "repositoryName" in params else "repository/*"
    raise errors.access_denied(ctx.action, f"arn:aws:ecr:{ctx.region}:{registry_id}:{resource}",
                               principal_arn=ctx.caller.principal_arn)


def _to_ecr_error(exc: Exception, operation: str, params: dict, caller: Caller | None,
                  request_id: str) -> EcrError:
    """The ECR exception for anything a request raised."""
    if isinstance(exc, EcrError):
        return exc
    if isinstance(exc, AccessDenied):
        return errors.access_denied(exc.action, exc.resource_arn, principal_arn=exc.caller.principal_arn)
    if isinstance(exc, e.RegistryError):
        return _service_error(exc, operation, params, caller)
    if isinstance(exc, ClientDisconnect):
        return errors.serialization_error("The request body was not received completely")
    if isinstance(exc, (DatabaseUnavailable, StorageUnavailable)):
        log.warning("request %s: %s: %s", request_id, operation, exc)
        return temporarily_unavailable(exc)
    # A bug, not the client's fault. The log line has the request id the client was given; it
    # never includes request bodies or headers (signatures, policy texts, layer data).
    log.exception("request %s: %s by %s failed", request_id, operation,
                  caller.account_id if caller else "-")
    return errors.server_error(f"An internal error occurred (request id {request_id})")


def _service_error(err: e.RegistryError, operation: str, params: dict, caller: Caller | None) -> EcrError:
    name = params.get("repositoryName", "")
    registry_id = params.get("registryId") or (caller.account_id if caller else "")
    if isinstance(err, e.RepositoryNotFound):
        return errors.repository_not_found(err.name, err.registry_id)
    if isinstance(err, e.RepositoryAlreadyExists):
        return errors.repository_already_exists(err.name, err.registry_id)
    if isinstance(err, e.RepositoryNotEmpty):
        return errors.repository_not_empty(err.name, err.registry_id)
    if isinstance(err, e.ManifestNotFound):
        ref = err.reference
        image_id = {"imageDigest": ref} if ":" in ref else {"imageTag": ref}
        return errors.image_not_found(image_id, err.name, err.registry_id)
    if isinstance(err, e.UploadNotFound):
        return errors.upload_not_found(err.upload_id, err.name, err.registry_id)
    if isinstance(err, e.UploadOffsetMismatch):
        return EcrError("InvalidLayerPartException",
                        f"The part starts at byte {err.got} but the upload holds {err.expected} bytes",
                        registryId=registry_id, repositoryName=name, uploadId=params.get("uploadId"),
                        lastValidByteReceived=max(err.expected - 1, 0))
    if isinstance(err, e.DigestMismatch):
        if operation == "CompleteLayerUpload":
            return EcrError("InvalidLayerException",
                            "The layer digest calculation performed by Amazon ECR upon receipt of the "
                            f"image layer does not match the digest specified: {err.actual} != {err.claimed}")
        return EcrError("ImageDigestDoesNotMatchException",
                        f"The provided image digest '{err.claimed}' does not match the digest "
                        f"'{err.actual}' calculated for the image manifest")
    if isinstance(err, e.InvalidManifest):
        # Real ECR words manifest problems this way too ('Invalid JSON syntax').
        return errors.invalid_parameter("ImageManifest", str(err))
    if isinstance(err, e.ManifestBlobsMissing):
        return EcrError("LayersNotFoundException",
                        f"Layers with digests {err.digests} required for pushing image into repository "
                        f"with name '{name}' in registry with id '{registry_id}' do not exist")
    if isinstance(err, e.ReferencedManifestsMissing):
        return EcrError("ReferencedImagesNotFoundException",
                        f"The manifest list references images {err.digests} that do not exist in the "
                        f"repository with name '{name}' in registry with id '{registry_id}'")
    if isinstance(err, e.ImmutableTag):
        return EcrError("ImageTagAlreadyExistsException", str(err))
    if isinstance(err, e.ManifestReferencedByIndex):
        return EcrError("InvalidParameterException", str(err))
    if isinstance(err, e.BlobNotFound):
        return EcrError("LayersNotFoundException", str(err))
    kind = getattr(err, "kind", None)  # errors that name their ECR exception (InvalidSetting...)
    if isinstance(kind, str) and kind in protocol.error_codes(operation):
        return EcrError(kind, str(err))
    # Service errors are worded for users (RegistryError's contract): a client-side 400.
    return EcrError("InvalidParameterException", str(err))


def temporarily_unavailable(exc: Exception) -> EcrError:
    """The metadata database or blob storage is down for a while: ECR's ServerException with
    status 503 and Retry-After. botocore and the AWS CLI retry 503s by themselves."""
    return EcrError("ServerException", f"The service is temporarily unavailable ({exc}). Retry the request.",
                    http_status=503, retry_after=getattr(exc, "retry_after_seconds", 5))


def _error_response(err: EcrError, request_id: str) -> Response:
    body = {"__type": err.code, "message": err.message}
    body.update(_modeled_error_fields(err))
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code}
    if err.extra.get("retry_after"):
        headers["Retry-After"] = str(err.extra["retry_after"])
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=err.http_status,
                    media_type=protocol.CONTENT_TYPE, headers=headers)


def _modeled_error_fields(err: EcrError) -> dict:
    """Members an error shape declares besides `message` (InvalidLayerPartException's
    lastValidByteReceived...), taken from the error's details; botocore parses them into the
    error response. EcrError.to_body sends only `__type` and `message`, hence this."""
    if not err.extra:
        return {}
    try:
        shape = protocol.service_model().shape_for(err.code)
    except Exception:  # not an ECR-modelled code (generic AWS errors)
        return {}
    return {k: v for k, v in err.extra.items()
            if k in shape.members and k != "message" and v is not None}


# ---------------------------------------------------------------------- layer downloads
class LayerDownload:
    """GET/HEAD `/layer-download/<token>`: the URL GetDownloadUrlForLayer returns. The token is
    the authorisation (checked when the URL was issued), like a pre-signed S3 URL."""

    def __init__(self, core: Crossreg):
        self.core = core

    async def __call__(self, request: Request) -> Response:
        try:
            grant = verify_download_token(self.core, request.path_params["token"])
        except DownloadTokenInvalid:
            return PlainTextResponse("Access denied: the download link is invalid or has expired", 403)
        reg = self.core.registry
        repo = await run_in_threadpool(reg.find_repository, grant.key)
        sizes = await run_in_threadpool(reg.blob_sizes, repo, [grant.digest]) if repo else {}
        if grant.digest not in sizes:
            return PlainTextResponse("The layer no longer exists", 404)
        headers = {"Content-Length": str(sizes[grant.digest]), "ETag": f'"{grant.digest}"',
                   "Docker-Content-Digest": grant.digest}
        if request.method == "HEAD":
            return Response(b"", headers=headers, media_type="application/octet-stream")
        body = await open_blob_stream(reg.read_blob, grant.digest)
        return StreamingResponse(body, headers=headers, media_type="application/octet-stream")


