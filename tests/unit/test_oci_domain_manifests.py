import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossreg.domain.digests import Digest
from crossreg.domain.manifests import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_SIZE,
    OCI_EMPTY,
    OCI_IMAGE_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    ManifestError,
    normalize_media_type,
    parse_manifest,
)
from tests.support.images import build_image, build_index, build_sbom_referrer


def h(char: str) -> str:
    return "sha256:" + char * 64


def sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dumps(doc) -> bytes:
    return json.dumps(doc).encode()


def oci_manifest(**over) -> dict:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": h("c"), "size": 1469},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h("1"), "size": 3208}]}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not None}


def invalid(body: bytes, content_type: str | None = OCI_MANIFEST, code: str = "MANIFEST_INVALID") -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(body, content_type)
    assert info.value.code == code, info.value
    return info.value


# ---------------------------------------------------------------------------- realistic bodies
# As `docker push` sends it: three-space indentation, so the digest must be of these exact bytes.
DOCKER_V2 = b"""{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 772788,
         "digest": "sha256:5cc84ad355aaa64f46ea9c7bbcc319a9d808ab15088a27209c9e70ef86e5a2aa"
      }
   ]
}"""

# A Windows image: the base layer is foreign (not distributable) and named by URL.
DOCKER_V2_FOREIGN = dumps({
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2000, "digest": h("c")},
    "layers": [
        {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "size": 1654236386,
         "digest": h("f"), "urls": ["https://mcr.microsoft.com/v2/windows/servercore/blobs/" + h("f")]},
        {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1024, "digest": h("2")},
    ]})

DOCKER_LIST = dumps({
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST,
    "manifests": [
        {"mediaType": DOCKER_MANIFEST, "size": 528, "digest": h("a"),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": DOCKER_MANIFEST, "size": 528, "digest": h("b"),
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        {"mediaType": DOCKER_MANIFEST, "size": 1000, "digest": h("d"),
         "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2113",
                      "os.features": ["win32k"]}},
    ]})

# docker buildx with provenance: an attestation manifest rides along with "unknown/unknown".
BUILDX_INDEX = dumps({
    "schemaVersion": 2, "mediaType": OCI_INDEX,
    "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": h("a"), "size": 673, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": h("e"), "size": 566,
         "annotations": {"vnd.docker.reference.digest": h("a"), "vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}},
    ]})


def test_oci_image_manifest():
    image = build_image(layers=3, layer_size=100, seed=7)
    parsed = parse_manifest(image.manifest, OCI_MANIFEST)
    assert parsed.media_type == OCI_MANIFEST and not parsed.is_index
    assert parsed.digest == Digest.parse(image.manifest_digest) and parsed.size == len(image.manifest)
    assert str(parsed.config.digest) == image.config_digest and parsed.config.size == len(image.config)
    assert [str(b.digest) for b in parsed.blobs] == image.blob_digests
    assert [b.size for b in parsed.layers] == image.layer_sizes
    assert {b.media_type for b in parsed.layers} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert parsed.artifact_type == OCI_IMAGE_CONFIG == parsed.artifact_media_type
    assert parsed.manifests == () and parsed.subject is None and parsed.annotations == {}


def test_docker_schema2_digest_is_of_exact_bytes():
    parsed = parse_manifest(DOCKER_V2, DOCKER_MANIFEST)
    assert str(parsed.digest) == sha(DOCKER_V2) != sha(json.dumps(json.loads(DOCKER_V2)).encode())
    assert parsed.media_type == DOCKER_MANIFEST and parsed.size == len(DOCKER_V2)
    assert parsed.config.media_type == "application/vnd.docker.container.image.v1+json"
    assert parsed.artifact_type == "application/vnd.docker.container.image.v1+json"  # ECR's artifactMediaType
    assert [(str(b.digest), b.size) for b in parsed.blobs] == [
        ("sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a", 1457),
        ("sha256:5cc84ad355aaa64f46ea9c7bbcc319a9d808ab15088a27209c9e70ef86e5a2aa", 772788)]


def test_foreign_layers_keep_their_urls():
    parsed = parse_manifest(DOCKER_V2_FOREIGN, DOCKER_MANIFEST)
    foreign = parsed.layers[0]
    assert foreign.media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    assert foreign.urls == ("https://mcr.microsoft.com/v2/windows/servercore/blobs/" + h("f"),)
    assert foreign.size == 1654236386
    assert parsed.layers[1].urls == ()


def test_docker_manifest_list_platforms():
    parsed = parse_manifest(DOCKER_LIST, DOCKER_MANIFEST_LIST)
    assert parsed.is_index and parsed.media_type == DOCKER_MANIFEST_LIST
    assert parsed.config is None and parsed.blobs == () and parsed.artifact_type is None
    assert [str(m.digest) for m in parsed.manifests] == [h("a"), h("b"), h("d")]
    arm, windows = parsed.manifests[1].platform, parsed.manifests[2].platform
    assert (arm.os, arm.architecture, arm.variant) == ("linux", "arm", "v7")
    assert (windows.os_version, windows.os_features) == ("10.0.20348.2113", ("win32k",))
    assert windows.to_dict() == {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2113",
                                 "os.features": ["win32k"]}


def test_oci_index_from_builder_and_buildx():
    index = build_index(platforms=[("linux", "amd64"), ("linux", "arm64", "v8")], layers=1, layer_size=64)
    parsed = parse_manifest(index.manifest, OCI_INDEX)
    assert parsed.is_index and str(parsed.digest) == index.manifest_digest
    assert [str(m.digest) for m in parsed.manifests] == index.child_digests
    assert [(m.platform.architecture, m.platform.variant) for m in parsed.manifests] == [("amd64", None),
                                                                                        ("arm64", "v8")]
    buildx = parse_manifest(BUILDX_INDEX, OCI_INDEX)
    attestation = buildx.manifests[1]
    assert attestation.platform.os == "unknown"
    assert attestation.annotations["vnd.docker.reference.type"] == "attestation-manifest"


def test_sbom_referrer():
    image = build_image(layers=1, layer_size=10)
    sbom = build_sbom_referrer(image, annotations={"org.example.sbom.format": "json"})
    parsed = parse_manifest(sbom.manifest, OCI_MANIFEST)
    assert parsed.artifact_type == "application/spdx+json"
    assert str(parsed.subject.digest) == image.manifest_digest and parsed.subject.size == image.manifest_size
    assert parsed.subject.media_type == OCI_MANIFEST
    assert parsed.annotations["org.example.sbom.format"] == "json"
    assert parsed.config.media_type == OCI_EMPTY and parsed.config.size == 2
    assert parsed.artifact_media_type == OCI_EMPTY
    assert {str(b.digest) for b in parsed.blobs} == set(sbom.blobs)


def test_artifact_type_falls_back_to_config_media_type():
    # A referrer without artifactType (cosign/Helm style) is typed by its config, per the referrers API.
    helm = oci_manifest(config={"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": h("c"), "size": 9},
                        subject={"mediaType": OCI_MANIFEST, "digest": h("5"), "size": 10})
    assert parse_manifest(dumps(helm), OCI_MANIFEST).artifact_type == "application/vnd.cncf.helm.config.v1+json"
    assert parse_manifest(dumps(oci_manifest(artifactType="")), OCI_MANIFEST).artifact_type == OCI_IMAGE_CONFIG


def test_index_artifact_type_and_subject():
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.bundle",
           "manifests": [], "subject": {"mediaType": OCI_INDEX, "digest": h("9"), "size": 77},
           "annotations": {"a": "b"}}
    parsed = parse_manifest(dumps(doc), OCI_INDEX)
    assert parsed.artifact_type == "application/vnd.example.bundle"
    assert str(parsed.subject.digest) == h("9") and parsed.annotations == {"a": "b"}


def test_embedded_data_is_decoded():
    doc = oci_manifest(config={"mediaType": OCI_EMPTY, "digest": sha(b"{}"), "size": 2, "data": "e30="})
    assert parse_manifest(dumps(doc), OCI_MANIFEST).config.data == b"{}"


def test_descriptor_to_dict_round_trips():
    parsed = parse_manifest(DOCKER_LIST, DOCKER_MANIFEST_LIST)
    assert [m.to_dict() for m in parsed.manifests] == json.loads(DOCKER_LIST)["manifests"]


# ---------------------------------------------------------------------------- media type resolution
@pytest.mark.parametrize("content_type", [
    OCI_MANIFEST, None, "", OCI_MANIFEST + "; charset=utf-8", " Application/VND.oci.image.manifest.v1+json ",
    "application/json", "application/octet-stream"])
def test_content_type_agreeing_absent_or_generic(content_type):
    assert parse_manifest(dumps(oci_manifest()), content_type).media_type == OCI_MANIFEST


def test_body_without_media_type_uses_content_type():
    assert parse_manifest(dumps(oci_manifest(mediaType=None)), OCI_MANIFEST).media_type == OCI_MANIFEST
    doc = {"schemaVersion": 2, "manifests": []}
    assert parse_manifest(dumps(doc), OCI_INDEX).media_type == OCI_INDEX


def test_media_type_disagreeing_with_content_type():
    err = invalid(dumps(oci_manifest()), DOCKER_MANIFEST)
    assert "does not match Content-Type" in err.message
    assert err.detail == {"mediaType": OCI_MANIFEST, "contentType": DOCKER_MANIFEST}
    invalid(dumps(oci_manifest(mediaType="")), OCI_MANIFEST)


def test_no_media_type_anywhere():
    err = invalid(dumps(oci_manifest(mediaType=None)), None)
    assert "Content-Type" in err.message
    invalid(dumps(oci_manifest(mediaType=None)), "application/json")


@pytest.mark.parametrize("media_type,words", [
    ("application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1"),
    ("application/vnd.docker.distribution.manifest.v1+json", "schema 1"),
    ("application/vnd.oci.artifact.manifest.v1+json", "withdrawn"),
    ("application/vnd.example.thing+json", "unsupported manifest media type"),
])
def test_unsupported_manifest_types(media_type, words):
    err = invalid(dumps({"schemaVersion": 1, "mediaType": media_type}), media_type)
    assert words in err.message and err.detail["mediaType"] == media_type
    invalid(dumps({"schemaVersion": 2}), media_type)


def test_docker_types_need_the_field():
    body = json.loads(DOCKER_V2)
    del body["mediaType"]
    assert "mediaType" in invalid(dumps(body), DOCKER_MANIFEST).message


def test_non_string_media_type():
    invalid(dumps(oci_manifest(mediaType=["x"])), None)


def test_normalize_media_type():
    assert normalize_media_type("A/B; q=1") == "a/b"
    assert normalize_media_type("  ") is None and normalize_media_type(None) is None


# ---------------------------------------------------------------------------- body errors
@pytest.mark.parametrize("body,words", [
    (b"", "not valid JSON"), (b"{", "not valid JSON"), (b"not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"), (b"[]", "JSON object"), (b'"x"', "JSON object"), (b"null", "JSON object"),
    (b'{"schemaVersion": 2, "schemaVersion": 2}', "duplicate key 'schemaVersion'"),
    (b'{"schemaVersion": NaN}', "NaN"), (b"[" * 100_000 + b"]" * 100_000, ""),
])
def test_body_is_not_a_json_object(body, words):
    assert words in invalid(body).message


@pytest.mark.parametrize("version", [None, 1, 3, "2", 2.0, True])
def test_schema_version_must_be_2(version):
    doc = oci_manifest()
    doc["schemaVersion"] = version
    if version is None:
        del doc["schemaVersion"]
    err = invalid(dumps(doc))
    assert err.detail == {"field": "schemaVersion"}


def test_duplicate_key_inside_descriptor():
    body = dumps(oci_manifest()).replace(b'"size": 1469', b'"size": 1469, "size": 1')
    assert "duplicate key 'size'" in invalid(body).message


def test_size_limit():
    doc = dumps(oci_manifest())
    exactly = doc + b" " * (MAX_MANIFEST_SIZE - len(doc))
    assert parse_manifest(exactly, OCI_MANIFEST).size == MAX_MANIFEST_SIZE
    err = invalid(exactly + b" ", code="SIZE_INVALID")
    assert err.detail == {"size": MAX_MANIFEST_SIZE + 1, "limit": 4194304}


def test_structure_required_fields():
    assert invalid(dumps(oci_manifest(config=None))).detail == {"field": "config"}
    assert invalid(dumps(oci_manifest(layers=None))).detail == {"field": "layers"}
    assert invalid(dumps(oci_manifest(layers={"a": 1}))).detail == {"field": "layers"}
    assert invalid(dumps(oci_manifest(config=[]))).detail == {"field": "config"}
    assert invalid(dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX).detail == {"field": "manifests"}
    assert invalid(dumps(oci_manifest(annotations={"a": 1}))).detail == {"field": "annotations"}
    assert invalid(dumps(oci_manifest(artifactType="not a media type"))).detail == {"field": "artifactType"}
    assert invalid(dumps(oci_manifest(subject="sha256:" + "a" * 64))).detail == {"field": "subject"}


def test_ambiguous_manifest_kinds_are_refused():
    # CVE-2021-41190: one document readable as both an image manifest and an index.
    assert invalid(dumps(oci_manifest(manifests=[]))).detail == {"field": "manifests"}
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}
    assert invalid(dumps(doc), OCI_INDEX).detail == {"field": "layers"}


def with_layer(**fields) -> bytes:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h("1"), "size": 10}
    layer.update(fields)
    return dumps(oci_manifest(layers=[layer, {k: v for k, v in layer.items() if v is not None}]))


@pytest.mark.parametrize("digest", [None, "", "sha256:" + "A" * 64, "sha256:abc", "sha384:" + "a" * 96,
                                    "sha256:../../x", 12])
def test_descriptor_digest_must_be_valid(digest):
    err = invalid(with_layer(digest=digest), code="DIGEST_INVALID")
    assert err.detail["field"] == "layers[0].digest"
    assert err.detail["digest"] == (digest if isinstance(digest, str) else None)


@pytest.mark.parametrize("size", [None, -1, 1.5, 10.0, "10", True, 2**63, [1]])
def test_descriptor_size_must_be_a_non_negative_int64(size):
    assert invalid(with_layer(size=size)).detail == {"field": "layers[0].size"}


def test_descriptor_size_bounds_are_inclusive():
    assert parse_manifest(with_layer(size=0), OCI_MANIFEST).layers[0].size == 0
    assert parse_manifest(with_layer(size=2**63 - 1), OCI_MANIFEST).layers[0].size == 2**63 - 1


@pytest.mark.parametrize("media_type", [None, "", 5, "tar", "application/", "a b/c"])
def test_descriptor_media_type(media_type):
    assert invalid(with_layer(mediaType=media_type)).detail == {"field": "layers[0].mediaType"}


@pytest.mark.parametrize("urls", ["https://x", [1], {"u": "x"}])
def test_descriptor_urls(urls):
    assert invalid(with_layer(urls=urls)).detail == {"field": "layers[0].urls"}


def test_descriptor_annotations_and_data():
    assert invalid(with_layer(annotations={"k": 1})).detail == {"field": "layers[0].annotations"}
    assert invalid(with_layer(annotations=["k"])).detail == {"field": "layers[0].annotations"}
    assert invalid(with_layer(data="!!!")).detail == {"field": "layers[0].data"}
    # Valid base64 that is not the referenced content.
    lying = base64.b64encode(b"0123456789").decode()
    assert invalid(with_layer(data=lying)).detail == {"field": "layers[0].data"}


def test_index_child_errors_name_the_child():
    doc = json.loads(DOCKER_LIST)
    doc["manifests"][1]["platform"] = {"os": "linux"}
    assert invalid(dumps(doc), DOCKER_MANIFEST_LIST).detail == {"field": "manifests[1].platform.architecture"}
    doc["manifests"][1]["platform"] = "linux/arm"
    assert invalid(dumps(doc), DOCKER_MANIFEST_LIST).detail == {"field": "manifests[1].platform"}
    doc["manifests"][1]["platform"] = {"os": "linux", "architecture": "arm", "os.features": "x"}
    assert invalid(dumps(doc), DOCKER_MANIFEST_LIST).detail == {"field": "manifests[1].platform.os.features"}
    doc["manifests"][1] = h("b")
    assert invalid(dumps(doc), DOCKER_MANIFEST_LIST).detail == {"field": "manifests[1]"}


def test_unknown_fields_are_ignored():
    doc = oci_manifest(futureField={"x": 1})
    doc["layers"][0]["futureField"] = True
    assert parse_manifest(dumps(doc), OCI_MANIFEST).layers[0].size == 3208


def test_body_types():
    assert parse_manifest(bytearray(dumps(oci_manifest())), OCI_MANIFEST).media_type == OCI_MANIFEST
    with pytest.raises(TypeError):
        parse_manifest(json.dumps(oci_manifest()), OCI_MANIFEST)  # str, not bytes


# ---------------------------------------------------------------------------- fuzzing
@settings(max_examples=300)
@given(st.binary(max_size=400), st.sampled_from([None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "x/y"]))
def test_arbitrary_bytes_only_raise_manifest_error(body, content_type):
    try:
        parse_manifest(body, content_type)
    except ManifestError as err:
        assert err.code in ("MANIFEST_INVALID", "DIGEST_INVALID")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)
descriptor_like = st.fixed_dictionaries({}, optional={
    "mediaType": st.sampled_from(["application/vnd.oci.image.layer.v1.tar", "bad", 1]),
    "digest": st.sampled_from([h("a"), "sha256:x", None]),
    "size": st.sampled_from([0, -1, 1.5, "1", True]),
    "urls": json_values, "annotations": json_values, "platform": json_values, "data": json_values})
manifest_like = st.fixed_dictionaries({}, optional={
    "schemaVersion": st.sampled_from([2, 2, 1, "2"]),
    "mediaType": st.sampled_from([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, "x/y", 3]),
    "config": descriptor_like | json_values, "layers": st.lists(descriptor_like, max_size=3) | json_values,
    "manifests": st.lists(descriptor_like, max_size=3) | json_values, "subject": descriptor_like | json_values,
    "artifactType": json_values, "annotations": json_values})


@settings(max_examples=500)
@given(manifest_like, st.sampled_from([None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]))
def test_structured_garbage_only_raises_manifest_error(doc, content_type):
    body = dumps(doc)
    try:
        parsed = parse_manifest(body, content_type)
    except ManifestError as err:
        assert err.code in ("MANIFEST_INVALID", "DIGEST_INVALID")
    else:
        assert parsed.digest == Digest.parse(sha(body))
        assert parsed.media_type in (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
