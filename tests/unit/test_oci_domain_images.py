"""The test-image builder: layouts must be real images that stock tools accept."""

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from crossreg.domain.manifests import OCI_INDEX, OCI_MANIFEST, parse_manifest
from tests.support.images import (
    REF_NAME,
    build_image,
    build_image_layout,
    build_multiarch_layout,
    build_sbom_referrer,
    read_layout_blob,
    write_artifact,
)

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def index_json(layout) -> dict:
    return json.loads((layout / "index.json").read_text())


def test_layout_structure_and_blob_addresses(tmp_path):
    image = build_image_layout(tmp_path, tag="v1", layers=3, layer_size=1000, seed=1)
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    [entry] = index_json(tmp_path)["manifests"]
    assert entry == {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": image.manifest_size,
                     "annotations": {REF_NAME: "v1"}}
    stored = sorted((tmp_path / "blobs" / "sha256").iterdir())
    assert len(stored) == 5  # manifest, config, 3 layers
    for path in stored:  # content-addressed: every file name is the hash of its bytes
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert read_layout_blob(tmp_path, image.manifest_digest) == image.manifest
    assert image.ref == f"oci:{tmp_path}:v1"


def test_layers_are_gzipped_tars_matching_the_config_diff_ids(tmp_path):
    image = build_image_layout(tmp_path, layers=2, layer_size=5000, seed=3)
    config = json.loads(read_layout_blob(tmp_path, image.config_digest))
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["rootfs"] == {"type": "layers", "diff_ids": image.diff_ids}
    assert len(config["history"]) == 2
    for digest, diff_id in zip(image.layer_digests, image.diff_ids):
        tar_bytes = gzip.decompress(read_layout_blob(tmp_path, digest))
        assert sha(tar_bytes) == diff_id
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            files = [m for m in tar.getmembers() if m.isfile()]
            assert len(files) == 1 and files[0].size == 5000


def test_builds_are_deterministic_per_seed():
    a, b, c = build_image(seed=5), build_image(seed=5), build_image(seed=6)
    assert a.manifest == b.manifest and a.blobs == b.blobs
    assert a.manifest_digest != c.manifest_digest
    assert not set(a.layer_digests) & set(c.layer_digests)


def test_registry_parser_accepts_built_manifests(tmp_path):
    image = build_image_layout(tmp_path, layers=2, layer_size=10)
    parsed = parse_manifest(image.manifest, OCI_MANIFEST)
    assert [str(d.digest) for d in parsed.blobs] == image.blob_digests
    assert sum(d.size for d in parsed.blobs) == image.image_size


def test_multiarch_layout(tmp_path):
    index = build_multiarch_layout(tmp_path, tag="multi", platforms=[("linux", "amd64"), ("linux", "arm64"),
                                                                     ("linux", "arm", "v7")])
    [entry] = index_json(tmp_path)["manifests"]
    assert (entry["mediaType"], entry["digest"]) == (OCI_INDEX, index.manifest_digest)
    parsed = parse_manifest(read_layout_blob(tmp_path, index.manifest_digest), OCI_INDEX)
    assert [str(m.digest) for m in parsed.manifests] == index.child_digests
    assert [(m.platform.architecture, m.platform.variant) for m in parsed.manifests] == [
        ("amd64", None), ("arm64", None), ("arm", "v7")]
    for child, image in zip(parsed.manifests, index.images):
        config = json.loads(read_layout_blob(tmp_path, image.config_digest))
        assert config["architecture"] == child.platform.architecture
        assert config.get("variant") == child.platform.variant
    assert len(set(index.child_digests)) == 3  # each platform has its own content
    assert set(index.blobs) == {d for image in index.images for d in image.blob_digests}


def test_tags_accumulate_and_retagging_replaces(tmp_path):
    first = build_image_layout(tmp_path, tag="v1", seed=1, layers=1, layer_size=10)
    build_image_layout(tmp_path, tag="v2", seed=2, layers=1, layer_size=10)
    third = build_image_layout(tmp_path, tag="v1", seed=3, layers=1, layer_size=10)
    tags = {m["annotations"][REF_NAME]: m["digest"] for m in index_json(tmp_path)["manifests"]}
    assert set(tags) == {"v1", "v2"} and tags["v1"] == third.manifest_digest != first.manifest_digest


def test_sbom_referrer_points_at_its_subject(tmp_path):
    image = build_image_layout(tmp_path, layers=1, layer_size=10)
    sbom = write_artifact(tmp_path, build_sbom_referrer(image, seed=1))
    doc = json.loads(sbom.manifest)
    assert doc["subject"] == {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                              "size": image.manifest_size}
    assert doc["artifactType"] == "application/spdx+json"
    [layer] = doc["layers"]
    assert json.loads(sbom.blobs[layer["digest"]])["spdxVersion"] == "SPDX-2.3"
    assert sbom.blobs[doc["config"]["digest"]] == b"{}"
    untagged = [m for m in index_json(tmp_path)["manifests"] if "annotations" not in m]
    assert untagged == [{"mediaType": OCI_MANIFEST, "digest": sbom.manifest_digest, "size": sbom.manifest_size,
                         "artifactType": "application/spdx+json"}]


# ---------------------------------------------------------------------------- with skopeo
def skopeo(*args: str) -> str:
    return subprocess.run([SKOPEO, *args], check=True, capture_output=True, text=True, timeout=120).stdout


@needs_skopeo
def test_skopeo_inspects_single_platform_layout(tmp_path):
    image = build_image_layout(tmp_path / "l", tag="v1", layers=3, layer_size=2000, seed=11)
    info = json.loads(skopeo("inspect", image.ref))
    assert info["Digest"] == image.manifest_digest
    assert info["Layers"] == image.layer_digests
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    assert skopeo("inspect", "--raw", image.ref).encode() == image.manifest


@needs_skopeo
def test_skopeo_copy_recomputes_the_same_diff_ids(tmp_path):
    # docker-archive stores layers uncompressed under their diff_id, so skopeo has to decompress them.
    image = build_image_layout(tmp_path / "l", tag="v1", layers=2, layer_size=3000, seed=12)
    archive = tmp_path / "image.tar"
    skopeo("copy", "--quiet", image.ref, f"docker-archive:{archive}:test/image:v1")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    layers = [name.split("/")[0].removesuffix(".tar") for name in manifest[0]["Layers"]]
    assert ["sha256:" + name for name in layers] == image.diff_ids


@needs_skopeo
def test_skopeo_inspects_multiarch_layout(tmp_path):
    index = build_multiarch_layout(tmp_path / "l", tag="multi")
    assert skopeo("inspect", "--raw", index.ref).encode() == index.manifest
    arm = json.loads(skopeo("inspect", "--override-os", "linux", "--override-arch", "arm64", "--config", index.ref))
    assert arm["architecture"] == "arm64"
    assert arm["rootfs"]["diff_ids"] == index.images[1].diff_ids
