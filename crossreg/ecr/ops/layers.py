"""Layers: BatchCheckLayerAvailability, the ECR upload flow (InitiateLayerUpload,
UploadLayerPart, CompleteLayerUpload) and GetDownloadUrlForLayer.

Uploads are the service layer's upload sessions, the same ones the OCI API's chunked uploads
use, so parts must arrive in order and the digest is verified as on an OCI push. Download URLs
are short-lived HMAC-signed links to `/layer-download/<token>`, which a plain HTTP GET can fetch
without AWS credentials (as ECR's pre-signed S3 URLs can)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass

from crossreg.app import Crossreg
from crossreg.auth.tokens import server_secret
from crossreg.ecr import errors
from crossreg.ecr.registry import OpContext, operation
from crossreg.services import errors as e
from crossreg.services.models import RepoKey

# What ECR answers for partSize: the part size it expects (its quota: 5 MiB..10 MiB per part).
PART_SIZE = 10 * 1024 * 1024
DOWNLOAD_URL_LIFETIME = 15 * 60  # long enough to start a download; links are not meant to be kept
_LAYER_DIGEST = re.compile(r"[a-zA-Z0-9_+.-]+:[a-fA-F0-9]+")  # the model's LayerDigest pattern


def _invalid_part(ctx: OpContext, repo, upload_id: str, received: int, message: str) -> errors.EcrError:
    # lastValidByteReceived is the index of the last byte held (the model's minimum is 0, so an
    # empty upload also says 0).
    return errors.EcrError("InvalidLayerPartException", message, registryId=repo.account_id,
                           repositoryName=repo.name, uploadId=upload_id,
                           lastValidByteReceived=max(received - 1, 0))


@operation("BatchCheckLayerAvailability", cross_account=True)
def batch_check_layer_availability(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    digests = list(dict.fromkeys(params["layerDigests"]))
    valid = [d for d in digests if _LAYER_DIGEST.fullmatch(d)]
    sizes = ctx.core.registry.blob_sizes(repo, valid)
    layers, failures = [], []
    for digest in digests:
        if digest not in valid:
            failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                             "failureReason": f"Invalid layer digest '{digest}'"})
        elif digest not in sizes:
            failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                             "failureReason": f"Layer digest '{digest}' could not be found"})
        else:
            layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE",
                           "layerSize": sizes[digest]})
    return {"layers": layers, "failures": failures}


@operation("InitiateLayerUpload", cross_account=True)
def initiate_layer_upload(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    return {"uploadId": ctx.core.registry.start_upload(repo), "partSize": PART_SIZE}


@operation("UploadLayerPart", cross_account=True)
def upload_layer_part(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    upload_id = params["uploadId"]
    first, last, data = params["partFirstByte"], params["partLastByte"], params["layerPartBlob"]
    received = ctx.core.registry.upload_size(repo, upload_id)
    if last < first or last - first + 1 != len(data):
        raise _invalid_part(ctx, repo, upload_id, received,
                            f"The part's byte range {first}-{last} does not match its length of "
                            f"{len(data)} bytes")
    if first != received:  # parts are contiguous: each starts right after the previous one
        raise _invalid_part(ctx, repo, upload_id, received,
                            f"The part starts at byte {first} but the upload holds {received} bytes")
    chunk = ctx.core.registry.open_upload_chunk(repo, upload_id, first)
    try:
        chunk.write(data)
        size = chunk.commit()
    except BaseException:
        chunk.abort()
        raise
    return {"registryId": repo.account_id, "repositoryName": repo.name, "uploadId": upload_id,
            "lastByteReceived": size - 1}


@operation("CompleteLayerUpload", cross_account=True)
def complete_layer_upload(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    upload_id = params["uploadId"]
    digests = list(dict.fromkeys(params["layerDigests"]))
    if ctx.core.registry.upload_size(repo, upload_id) == 0:
        raise errors.EcrError("EmptyUploadException",
                              "The specified layer upload does not contain any layer parts.")
    existing = ctx.core.registry.blob_sizes(repo, digests)
    if existing:
        ctx.core.registry.cancel_upload(repo, upload_id)
        raise errors.EcrError(
            "LayerAlreadyExistsException",
            f"The layer '{next(iter(existing))}' already exists in the repository with name "
            f"'{repo.name}' in registry with id '{repo.account_id}'")
    digest = digests[0]
    try:
        ctx.core.registry.complete_upload(repo, upload_id, digest)
    except e.DigestMismatch as err:
        if err.actual not in digests[1:]:
            raise errors.EcrError(
                "InvalidLayerException",
                f"The layer digest calculation performed by Amazon ECR upon receipt of the image "
                f"layer does not match the digest specified: {err.actual} != {digest}") from None
        digest = err.actual  # one of the other listed digests is the right one
        ctx.core.registry.complete_upload(repo, upload_id, digest)
    return {"registryId": repo.account_id, "repositoryName": repo.name, "uploadId": upload_id,
            "layerDigest": digest}


@operation("GetDownloadUrlForLayer", cross_account=True)
def get_download_url_for_layer(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    digest = params["layerDigest"]
    if not ctx.core.registry.blob_sizes(repo, [digest]):
        raise errors.EcrError(
            "LayersNotFoundException",
            f"The layer with digest '{digest}' does not exist in the repository with name "
            f"'{repo.name}' in the registry with id '{repo.account_id}'")
    return {"downloadUrl": download_url(ctx.core, repo.key, digest), "layerDigest": digest}


# ---------------------------------------------------------------------- signed download links
@dataclass(frozen=True)
class DownloadGrant:
    """What a valid download token allows: reading one blob of one repository."""

    key: RepoKey
    digest: str
    expires_at: int


class DownloadTokenInvalid(Exception):
    pass


def _key(core: Crossreg) -> bytes:
    key = core.extensions.get("ecr_layer_download_key")
    if key is None:
        # Shared by every process of the installation, so any of them can serve the link.
        key = core.extensions["ecr_layer_download_key"] = server_secret(core.db, "layer_download_key")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def download_url(core: Crossreg, key: RepoKey, digest: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + DOWNLOAD_URL_LIFETIME)
    payload = json.dumps({"a": key.account_id, "r": key.region, "n": key.name, "d": digest, "e": expires},
                         separators=(",", ":")).encode()
    sig = hmac.new(_key(core), payload, hashlib.sha256).digest()
    token = f"{_b64(payload)}.{_b64(sig)}"
    return f"{core.settings.public_scheme}://{core.public_host()}/layer-download/{token}"


def verify_download_token(core: Crossreg, token: str, now: float | None = None) -> DownloadGrant:
    try:
        body, _, sig = token.partition(".")
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(sig), hmac.new(_key(core), payload, hashlib.sha256).digest()):
            raise DownloadTokenInvalid("bad signature")
        data = json.loads(payload)
        grant = DownloadGrant(RepoKey(data["a"], data["r"], data["n"]), data["d"], int(data["e"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DownloadTokenInvalid("malformed token") from exc
    if grant.expires_at <= (now or time.time()):
        raise DownloadTokenInvalid("expired")
    return grant
