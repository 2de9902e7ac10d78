"""The OCI distribution-spec v1.1 conformance workflows (pull, push, content discovery including
referrers, content management), written from the spec and run against a real server with a
plain HTTP client, so every status code, header and error code is checked as the spec states."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.support.images import build_image, build_index, build_sbom_referrer

pytestmark = pytest.mark.integration
REGION = "us-east-1"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def oci(server, provider):
    """An httpx client authenticated as the provider, plus two repositories."""
    for name in ("conformance/one", "conformance/two"):
        server.boto3(provider).create_repository(repositoryName=name)
    client = httpx.Client(base_url=server.url, headers=server.basic_auth(provider), timeout=30)
    yield client
    client.close()


def repo(provider, name="conformance/one") -> str:
    return f"/v2/{provider.account_id}/{REGION}/{name}"


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def push_blob(oci, base: str, data: bytes) -> str:
    digest = sha256(data)
    r = oci.post(f"{base}/blobs/uploads/", params={"digest": digest}, content=data,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def push_image(oci, base: str, image, tag: str | None = None) -> str:
    for data in image.blobs.values():
        push_blob(oci, base, data)
    ref = tag or image.manifest_digest
    r = oci.put(f"{base}/manifests/{ref}", content=image.manifest,
                headers={"Content-Type": json.loads(image.manifest)["mediaType"]})
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


# ---------------------------------------------------------------- ping / auth
def test_base_endpoint_requires_auth_and_answers_200(server, oci):
    anonymous = httpx.get(f"{server.url}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert error_codes(anonymous) == ["UNAUTHORIZED"]
    r = oci.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_forged_token_is_denied(server, provider):
    forged = httpx.get(f"{server.url}/v2/", auth=("AWS", "crt1.eyJhIjoiMTExMTExMTExMTExIiwiZSI6OTk5OTk5OTk5OX0.AAAA"))
    assert forged.status_code == 403 and error_codes(forged) == ["DENIED"]


# ---------------------------------------------------------------- push
def test_post_then_put_monolithic(oci, provider):
    base = repo(provider)
    data = b"monolithic blob " * 100
    r = oci.post(f"{base}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    r = oci.put(location, params={"digest": sha256(data)}, content=data,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert r.headers["Location"].endswith(f"/blobs/{sha256(data)}")
    head = oci.head(f"{base}/blobs/{sha256(data)}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)


def test_chunked_upload_in_order_status_and_out_of_order_rejected(oci, provider):
    base = repo(provider)
    chunks = [b"a" * 1000, b"b" * 1000, b"c" * 7]
    data = b"".join(chunks)
    location = oci.post(f"{base}/blobs/uploads/").headers["Location"]
    offset = 0
    for chunk in chunks[:2]:
        r = oci.patch(location, content=chunk, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        assert r.status_code == 202, r.text
        offset += len(chunk)
        assert r.headers["Range"] == f"0-{offset - 1}"
        location = r.headers["Location"]
    status = oci.get(location)
    assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
    wrong = oci.patch(location, content=b"zzz", headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-2", "Content-Length": "3"})
    assert wrong.status_code == 416
    r = oci.put(location, params={"digest": sha256(data)}, content=chunks[2],
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert oci.get(f"{base}/blobs/{sha256(data)}").content == data


def test_streamed_patch_without_content_range(oci, provider):
    base = repo(provider)
    data = bytes(range(256)) * 50
    location = oci.post(f"{base}/blobs/uploads/").headers["Location"]
    r = oci.patch(location, content=iter([data[:5000], data[5000:]]),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202
    r = oci.put(r.headers["Location"], params={"digest": sha256(data)})
    assert r.status_code == 201
    assert oci.get(f"{base}/blobs/{sha256(data)}").content == data


def test_wrong_digest_is_rejected_and_nothing_is_stored(oci, provider):
    base = repo(provider)
    data = b"content that does not match"
    claimed = sha256(b"something else")
    r = oci.post(f"{base}/blobs/uploads/", params={"digest": claimed}, content=data,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]
    assert oci.head(f"{base}/blobs/{claimed}").status_code == 404
    assert oci.head(f"{base}/blobs/{sha256(data)}").status_code == 404


def test_cancel_upload(oci, provider):
    base = repo(provider)
    location = oci.post(f"{base}/blobs/uploads/").headers["Location"]
    oci.patch(location, content=b"partial", headers={"Content-Type": "application/octet-stream"})
    assert oci.delete(location).status_code == 204
    r = oci.get(location)
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_empty_blob_and_sha512(oci, provider):
    base = repo(provider)
    assert push_blob(oci, base, b"") == sha256(b"")
    assert oci.get(f"{base}/blobs/{sha256(b'')}").content == b""
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = oci.post(f"{base}/blobs/uploads/", params={"digest": digest}, content=data,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201
    assert oci.get(f"{base}/blobs/{digest}").content == data


def test_cross_repository_mount(oci, provider):
    one, two = repo(provider), repo(provider, "conformance/two")
    data = b"mount me" * 10
    digest = push_blob(oci, one, data)
    assert oci.head(f"{two}/blobs/{digest}").status_code == 404  # not linked to two yet
    r = oci.post(f"{two}/blobs/uploads/", params={"mount": digest, "from": "conformance/one"})
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest
    assert oci.get(f"{two}/blobs/{digest}").content == data
    # an unknown blob cannot be mounted: the registry starts a normal upload instead
    r = oci.post(f"{two}/blobs/uploads/", params={"mount": sha256(b"nope"), "from": "conformance/one"})
    assert r.status_code == 202 and "/blobs/uploads/" in r.headers["Location"]


def test_knowing_a_digest_does_not_grant_access_to_its_blob(oci, provider):
    data = b"secret layer" * 3
    digest = push_blob(oci, repo(provider), data)
    r = oci.get(f"{repo(provider, 'conformance/two')}/blobs/{digest}")
    assert r.status_code == 404 and error_codes(r) == ["BLOB_UNKNOWN"]


def test_manifest_with_missing_blob_is_rejected(oci, provider):
    image = build_image(seed=101)
    r = oci.put(f"{repo(provider)}/manifests/broken", content=image.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_BLOB_UNKNOWN"]
    assert oci.get(f"{repo(provider)}/manifests/broken").status_code == 404


def test_invalid_manifest_and_digest_mismatch(oci, provider):
    base = repo(provider)
    r = oci.put(f"{base}/manifests/bad", content=b"{not json",
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 400 and error_codes(r) == ["MANIFEST_INVALID"]
    image = build_image(seed=102)
    for data in image.blobs.values():
        push_blob(oci, base, data)
    r = oci.put(f"{base}/manifests/{sha256(b'other')}", content=image.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 400 and error_codes(r) == ["DIGEST_INVALID"]


# ---------------------------------------------------------------- pull
def test_pull_manifest_by_tag_and_digest_and_blobs_with_range(oci, provider):
    base = repo(provider)
    image = build_image(seed=103, layer_size=10_000)
    digest = push_image(oci, base, image, "pull-me")
    assert digest == image.manifest_digest
    for ref in ("pull-me", digest):
        r = oci.get(f"{base}/manifests/{ref}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200 and r.content == image.manifest
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
        head = oci.head(f"{base}/manifests/{ref}")
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(image.manifest)
    layer = image.layer_digests[0]
    whole = image.blobs[layer]
    r = oci.get(f"{base}/blobs/{layer}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == whole[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    r = oci.get(f"{base}/blobs/{layer}", headers={"Range": f"bytes={len(whole) + 5}-"})
    assert r.status_code == 416
    assert oci.get(f"{base}/manifests/no-such-tag").status_code == 404
    assert error_codes(oci.get(f"{base}/manifests/no-such-tag")) == ["MANIFEST_UNKNOWN"]
    assert error_codes(oci.get(f"{base}/blobs/{sha256(b'unknown')}")) == ["BLOB_UNKNOWN"]
    assert error_codes(oci.get(f"{base}/blobs/sha256:xyz")) == ["DIGEST_INVALID"]


def test_unknown_repository_is_name_unknown_with_ecr_message(oci, provider):
    r = oci.get(f"{repo(provider, 'does-not-exist')}/tags/list")
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]
    assert r.json()["errors"][0]["message"] == (
        f"The repository with name 'does-not-exist' does not exist in the registry with id '{provider.account_id}'")


def test_index_push_requires_children_and_pulls(oci, provider):
    base = repo(provider)
    index = build_index(seed=104)
    r = oci.put(f"{base}/manifests/multi", content=index.manifest,
                headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 400  # children not pushed yet
    for image in index.images:
        push_image(oci, base, image)
    assert push_image(oci, base, index, "multi") == index.manifest_digest
    assert oci.get(f"{base}/manifests/multi").content == index.manifest


# ---------------------------------------------------------------- content discovery
def test_tags_list_with_pagination(oci, provider):
    base = repo(provider, "conformance/two")
    image = build_image(seed=105)
    for tag in ("a", "b", "c", "d", "e"):
        push_image(oci, base, image, tag)
    assert oci.get(f"{base}/tags/list").json() == {"name": "conformance/two", "tags": ["a", "b", "c", "d", "e"]}
    r = oci.get(f"{base}/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a", "b"]
    assert 'rel="next"' in r.headers["Link"]
    next_url = r.headers["Link"].split(";")[0].strip("<>")
    assert oci.get(next_url).json()["tags"] == ["c", "d"]
    assert oci.get(f"{base}/tags/list", params={"n": 2, "last": "d"}).json()["tags"] == ["e"]
    assert oci.get(f"{base}/tags/list", params={"n": 0}).json()["tags"] == []


def test_referrers_with_artifact_type_filter(oci, provider):
    base = repo(provider)
    image = build_image(seed=106)
    subject = push_image(oci, base, image, "subject")
    sbom = build_sbom_referrer(_descriptor(image), seed=106)
    for data in sbom.blobs.values():
        push_blob(oci, base, data)
    r = oci.put(f"{base}/manifests/{sbom.manifest_digest}", content=sbom.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201 and r.headers["OCI-Subject"] == subject
    listing = oci.get(f"{base}/referrers/{subject}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    manifests = listing.json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in manifests] == [(sbom.manifest_digest, sbom.artifact_type)]
    filtered = oci.get(f"{base}/referrers/{subject}", params={"artifactType": "application/x-other"})
    assert filtered.json()["manifests"] == [] and filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert oci.get(f"{base}/referrers/{sha256(b'nothing')}").json()["manifests"] == []


def _descriptor(image) -> dict:
    return {"mediaType": json.loads(image.manifest)["mediaType"], "digest": image.manifest_digest,
            "size": len(image.manifest)}


# ---------------------------------------------------------------- content management
def test_delete_tag_manifest_and_blob(oci, provider):
    base = repo(provider)
    image = build_image(seed=107)
    digest = push_image(oci, base, image, "to-delete")
    push_image(oci, base, image, "keep")
    assert oci.delete(f"{base}/manifests/to-delete").status_code == 202
    assert oci.get(f"{base}/manifests/to-delete").status_code == 404
    assert oci.get(f"{base}/manifests/keep").status_code == 200  # the tag only was removed
    assert oci.delete(f"{base}/manifests/{digest}").status_code == 202
    assert oci.get(f"{base}/manifests/{digest}").status_code == 404
    assert oci.get(f"{base}/manifests/keep").status_code == 404
    layer = image.layer_digests[0]
    assert oci.delete(f"{base}/blobs/{layer}").status_code == 202
    assert oci.get(f"{base}/blobs/{layer}").status_code == 404
    assert oci.delete(f"{base}/blobs/{layer}").status_code == 404
