"""Helpers shared by the ECR API integration tests (this module holds no tests).

Everything goes over the wire to a real server: boto3 / the AWS CLI for the ECR API, raw
SigV4-signed requests (botocore's own signer) for what botocore would refuse to send, and httpx
with the `aws ecr get-login-password` token for the OCI API."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

TARGET = "AmazonEC2ContainerRegistry_V20150921."


def unique(prefix: str) -> str:
    """A repository name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def signed_post(server, account, operation: str | None, body, *, region: str = "us-east-1",
                access_key: str | None = None, secret: str | None = None,
                extra_headers: dict | None = None) -> httpx.Response:
    """POST / signed exactly as botocore signs ECR calls, but with any body at all."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if operation is not None:
        headers["X-Amz-Target"] = TARGET + operation
    request = AWSRequest(method="POST", url=server.url + "/", data=data, headers=headers)
    credentials = Credentials(access_key or account.access_key_id, secret or account.secret_access_key)
    SigV4Auth(credentials, "ecr", region).add_auth(request)
    sent = dict(request.headers.items())
    sent.update(extra_headers or {})
    return httpx.post(server.url + "/", content=data, headers=sent, timeout=60)


def aws_error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["__type"], body["message"]


def client_error(call, *args, **kwargs) -> ClientError:
    """The ClientError a boto3 call raises (failing the test if it succeeds)."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value


def error_of(err: ClientError) -> tuple[str, str]:
    return err.response["Error"]["Code"], err.response["Error"]["Message"]


def basic_auth(password: str) -> dict:
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def oci_base(server, account_id: str, name: str, region: str = "us-east-1") -> str:
    """The OCI API prefix of a repository (no domain configured: /v2/<acct>/<region>/<name>)."""
    return f"{server.url}/v2/{account_id}/{region}/{name}"


def oci_push_blob(server, auth: dict, account_id: str, name: str, data: bytes, digest: str) -> None:
    """A monolithic OCI blob upload (POST ?digest=)."""
    r = httpx.post(f"{oci_base(server, account_id, name)}/blobs/uploads/", params={"digest": digest},
                   content=data, headers={**auth, "Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text


def oci_push_image(server, auth: dict, account_id: str, name: str, image, tag: str) -> None:
    """Push an image (tests.support.images.BuiltImage) as docker/skopeo would: blobs, then manifest."""
    for digest, data in image.blobs.items():
        oci_push_blob(server, auth, account_id, name, data, digest)
    r = httpx.put(f"{oci_base(server, account_id, name)}/manifests/{tag}", content=image.manifest,
                  headers={**auth, "Content-Type": image.media_type}, timeout=60)
    assert r.status_code == 201, r.text


def ecr_push_blob(ecr, name: str, data: bytes, digest: str, *, registry_id: str | None = None,
                  part_size: int | None = None) -> None:
    """Upload one blob through ECR's layer API, as amazon-ecr-containerd-resolver does."""
    extra = {"registryId": registry_id} if registry_id else {}
    upload = ecr.initiate_layer_upload(repositoryName=name, **extra)
    size = part_size or upload["partSize"]
    for first in range(0, len(data), size):
        part = data[first:first + size]
        ecr.upload_layer_part(repositoryName=name, uploadId=upload["uploadId"], partFirstByte=first,
                              partLastByte=first + len(part) - 1, layerPartBlob=part, **extra)
    done = ecr.complete_layer_upload(repositoryName=name, uploadId=upload["uploadId"],
                                     layerDigests=[digest], **extra)
    assert done["layerDigest"] == digest


def ecr_push_image(ecr, name: str, image, tag: str | None, *, registry_id: str | None = None) -> dict:
    """Blobs through the layer API (skipping those already there), then PutImage."""
    extra = {"registryId": registry_id} if registry_id else {}
    present = {layer["layerDigest"] for layer in ecr.batch_check_layer_availability(
        repositoryName=name, layerDigests=list(image.blobs), **extra)["layers"]}
    for digest, data in image.blobs.items():
        if digest not in present:
            ecr_push_blob(ecr, name, data, digest, registry_id=registry_id)
    kwargs = {"imageTag": tag} if tag is not None else {}
    return ecr.put_image(repositoryName=name, imageManifest=image.manifest.decode(),
                         imageManifestMediaType=image.media_type, **kwargs, **extra)["image"]
