"""Layers through the ECR API: availability checks, the part-by-part upload flow and its errors,
and download URLs that a plain HTTP GET can fetch."""

from __future__ import annotations

import hashlib
import os
import re

import httpx
import pytest

from tests.integration.test_ecr_support import (
    basic_auth,
    client_error,
    ecr_push_blob,
    error_of,
    oci_base,
    oci_push_blob,
    unique,
)

pytestmark = pytest.mark.integration
PROVIDER = "111111111111"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def ecr(server, provider):
    return server.boto3(provider)


@pytest.fixture
def repo(ecr):
    name = unique("layers")
    ecr.create_repository(repositoryName=name)
    return name


def test_upload_in_parts_then_pull_over_http(server, provider, ecr, repo):
    data = os.urandom(3 * 1024 * 1024 + 17)
    upload = ecr.initiate_layer_upload(repositoryName=repo)
    assert UUID.fullmatch(upload["uploadId"])
    assert upload["partSize"] == 10 * 1024 * 1024
    step = 1024 * 1024
    for first in range(0, len(data), step):
        part = data[first:first + step]
        out = ecr.upload_layer_part(repositoryName=repo, uploadId=upload["uploadId"], partFirstByte=first,
                                    partLastByte=first + len(part) - 1, layerPartBlob=part)
        assert out["lastByteReceived"] == first + len(part) - 1
        assert out["uploadId"] == upload["uploadId"]
        assert out["registryId"] == PROVIDER and out["repositoryName"] == repo
    done = ecr.complete_layer_upload(repositoryName=repo, uploadId=upload["uploadId"],
                                     layerDigests=[digest_of(data)])
    assert done == {**done, "registryId": PROVIDER, "repositoryName": repo, "uploadId": upload["uploadId"],
                    "layerDigest": digest_of(data)}
    r = httpx.get(f"{oci_base(server, PROVIDER, repo)}/blobs/{digest_of(data)}",
                  headers=basic_auth(server.password(provider)))
    assert r.status_code == 200 and r.content == data


def test_batch_check_layer_availability(server, provider, ecr, repo):
    present = b"present layer"
    oci_push_blob(server, basic_auth(server.password(provider)), PROVIDER, repo, present, digest_of(present))
    missing = digest_of(b"never uploaded")
    out = ecr.batch_check_layer_availability(repositoryName=repo,
                                             layerDigests=[digest_of(present), missing, "nonsense"])
    assert out["layers"] == [{"layerDigest": digest_of(present), "layerAvailability": "AVAILABLE",
                              "layerSize": len(present)}]
    assert out["failures"] == [
        {"layerDigest": missing, "failureCode": "MissingLayerDigest",
         "failureReason": f"Layer digest '{missing}' could not be found"},
        {"layerDigest": "nonsense", "failureCode": "InvalidLayerDigest",
         "failureReason": "Invalid layer digest 'nonsense'"},
    ]


def test_blob_of_another_repository_is_not_available(ecr, repo):
    other = unique("layers-other")
    ecr.create_repository(repositoryName=other)
    data = b"only in the other repository"
    ecr_push_blob(ecr, other, data, digest_of(data))
    out = ecr.batch_check_layer_availability(repositoryName=repo, layerDigests=[digest_of(data)])
    assert out["layers"] == [] and out["failures"][0]["failureCode"] == "MissingLayerDigest"


def test_non_contiguous_part(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0, partLastByte=9,
                          layerPartBlob=b"0123456789")
    err = client_error(ecr.upload_layer_part, repositoryName=repo, uploadId=upload_id, partFirstByte=20,
                       partLastByte=24, layerPartBlob=b"abcde")
    assert error_of(err) == ("InvalidLayerPartException", "The part starts at byte 20 but the upload holds 10 bytes")
    assert err.response["lastValidByteReceived"] == 9
    assert err.response["uploadId"] == upload_id
    assert err.response["repositoryName"] == repo and err.response["registryId"] == PROVIDER
    # A part whose range does not match its bytes.
    err = client_error(ecr.upload_layer_part, repositoryName=repo, uploadId=upload_id, partFirstByte=10,
                       partLastByte=19, layerPartBlob=b"short")
    assert error_of(err)[0] == "InvalidLayerPartException"
    # The upload is intact and continues where it was.
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=10, partLastByte=14,
                          layerPartBlob=b"abcde")
    data = b"0123456789abcde"
    assert ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                     layerDigests=[digest_of(data)])["layerDigest"] == digest_of(data)


def test_unknown_upload(ecr, repo):
    upload_id = "0bd1ac9c-1b1d-4bc0-9c3e-3bd6c1cd3f5a"
    expected = ("UploadNotFoundException",
                f"Upload with id '{upload_id}' could not be found for the repository with name '{repo}' in "
                f"the registry with id '{PROVIDER}'")
    err = client_error(ecr.upload_layer_part, repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                       partLastByte=0, layerPartBlob=b"x")
    assert error_of(err) == expected
    err = client_error(ecr.complete_layer_upload, repositoryName=repo, uploadId=upload_id,
                       layerDigests=[digest_of(b"x")])
    assert error_of(err) == expected


def test_upload_belongs_to_its_repository(ecr, repo):
    other = unique("layers-elsewhere")
    ecr.create_repository(repositoryName=other)
    upload_id = ecr.initiate_layer_upload(repositoryName=other)["uploadId"]
    err = client_error(ecr.upload_layer_part, repositoryName=repo, uploadId=upload_id, partFirstByte=0,
                       partLastByte=0, layerPartBlob=b"x")
    assert error_of(err)[0] == "UploadNotFoundException"


def test_complete_with_wrong_digest(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0, partLastByte=2,
                          layerPartBlob=b"abc")
    wrong = digest_of(b"xyz")
    err = client_error(ecr.complete_layer_upload, repositoryName=repo, uploadId=upload_id, layerDigests=[wrong])
    code, message = error_of(err)
    assert code == "InvalidLayerException"
    assert message.startswith("The layer digest calculation performed by Amazon ECR upon receipt of the image "
                              "layer does not match the digest specified")
    # Still completable with the right digest.
    assert ecr.complete_layer_upload(repositoryName=repo, uploadId=upload_id,
                                     layerDigests=[digest_of(b"abc")])["layerDigest"] == digest_of(b"abc")


def test_complete_empty_upload(ecr, repo):
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    err = client_error(ecr.complete_layer_upload, repositoryName=repo, uploadId=upload_id,
                       layerDigests=[digest_of(b"")])
    assert error_of(err) == ("EmptyUploadException", "The specified layer upload does not contain any layer parts.")


def test_complete_existing_layer(ecr, repo):
    data = b"already here"
    ecr_push_blob(ecr, repo, data, digest_of(data))
    upload_id = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=upload_id, partFirstByte=0, partLastByte=len(data) - 1,
                          layerPartBlob=data)
    err = client_error(ecr.complete_layer_upload, repositoryName=repo, uploadId=upload_id,
                       layerDigests=[digest_of(data)])
    assert error_of(err)[0] == "LayerAlreadyExistsException"
    assert isinstance(err, ecr.exceptions.LayerAlreadyExistsException)


def test_download_url_is_a_plain_http_get(server, ecr, repo):
    data = os.urandom(200_000)
    ecr_push_blob(ecr, repo, data, digest_of(data))
    out = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest_of(data))
    assert out["layerDigest"] == digest_of(data)
    assert out["downloadUrl"].startswith(f"http://{server.host}/layer-download/")
    r = httpx.get(out["downloadUrl"])  # no credentials at all
    assert r.status_code == 200 and r.content == data
    head = httpx.head(out["downloadUrl"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
    # A link someone edited is refused.
    tampered = out["downloadUrl"][:-3] + ("AAA" if not out["downloadUrl"].endswith("AAA") else "BBB")
    assert httpx.get(tampered).status_code == 403
    assert httpx.get(f"{server.url}/layer-download/garbage").status_code == 403


def test_download_url_for_missing_layer(ecr, repo):
    missing = digest_of(b"absent")
    err = client_error(ecr.get_download_url_for_layer, repositoryName=repo, layerDigest=missing)
    assert error_of(err) == ("LayersNotFoundException",
                             f"The layer with digest '{missing}' does not exist in the repository with name "
                             f"'{repo}' in the registry with id '{PROVIDER}'")


def test_download_url_stops_working_when_the_repository_goes(server, ecr, repo):
    data = b"short-lived"
    ecr_push_blob(ecr, repo, data, digest_of(data))
    url = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest_of(data))["downloadUrl"]
    ecr.delete_repository(repositoryName=repo, force=True)
    assert httpx.get(url).status_code == 404
