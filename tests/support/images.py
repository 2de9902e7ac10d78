"""Real, deterministic test images.

Images are written as OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/..`),
which `skopeo copy oci:DIR:TAG docker://...` pushes with a stock client. Layers are real gzip'd
tars and configs list their real diff_ids, so anything that unpacks or verifies an image accepts
them. The same seed always gives the same bytes, hence the same digests.

For pushes over plain HTTP, every built object also keeps its bytes (`manifest`, `blobs`).
Referrer artifacts (an SBOM with a `subject`) are built in memory and can be added to a layout.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SPDX_JSON = "application/spdx+json"
REF_NAME = "org.opencontainers.image.ref.name"
# The image-spec's empty descriptor: the two bytes "{}".
EMPTY_JSON = b"{}"
# Fixed timestamp so rebuilding gives identical bytes.
EPOCH = "2024-01-01T00:00:00Z"
_MTIME = 1704067200


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass
class BuiltImage:
    """One image manifest with its config and layers."""
    manifest: bytes
    config: bytes
    layers: list[bytes]
    diff_ids: list[str]
    platform: tuple[str, str] = ("linux", "amd64")
    layout: Path | None = None
    tag: str | None = None
    media_type: str = OCI_MANIFEST

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def manifest_size(self) -> int:
        return len(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def layer_digests(self) -> list[str]:
        return [sha256(layer) for layer in self.layers]

    @property
    def layer_sizes(self) -> list[int]:
        return [len(layer) for layer in self.layers]

    @property
    def blob_digests(self) -> list[str]:
        """Config first, then layers: the blobs a registry must hold for this manifest."""
        return [self.config_digest, *self.layer_digests]

    @property
    def blobs(self) -> dict[str, bytes]:
        return {sha256(b): b for b in (self.config, *self.layers)}

    @property
    def image_size(self) -> int:
        """Config plus layers: what ECR reports as imageSizeInBytes."""
        return len(self.config) + sum(self.layer_sizes)

    def descriptor(self) -> dict:
        os_, arch = self.platform
        return descriptor(self.media_type, self.manifest, platform={"architecture": arch, "os": os_})

    @property
    def ref(self) -> str:
        """The skopeo/containers-image reference, e.g. `oci:/tmp/x:v1`."""
        assert self.layout is not None and self.tag is not None
        return f"oci:{self.layout}:{self.tag}"


@dataclass
class BuiltIndex:
    """A multi-platform OCI index and its per-platform images."""
    manifest: bytes
    images: list[BuiltImage]
    layout: Path | None = None
    tag: str | None = None
    media_type: str = OCI_INDEX

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def manifest_size(self) -> int:
        return len(self.manifest)

    @property
    def child_digests(self) -> list[str]:
        return [image.manifest_digest for image in self.images]

    @property
    def blobs(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for image in self.images:
            out.update(image.blobs)
        return out

    def descriptor(self) -> dict:
        return descriptor(self.media_type, self.manifest)

    @property
    def ref(self) -> str:
        assert self.layout is not None and self.tag is not None
        return f"oci:{self.layout}:{self.tag}"


@dataclass
class BuiltArtifact:
    """An artifact manifest (e.g. an SBOM) with its blobs, meant for direct HTTP pushes."""
    manifest: bytes
    artifact_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    subject: dict | None = None
    media_type: str = OCI_MANIFEST

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def manifest_size(self) -> int:
        return len(self.manifest)

    def descriptor(self) -> dict:
        return descriptor(self.media_type, self.manifest, artifactType=self.artifact_type)


# ---------------------------------------------------------------------------- content
def make_layer(rng: random.Random, index: int, size: int) -> tuple[bytes, str]:
    """A gzip'd tar with one regular file of `size` random bytes. Returns (blob, diff_id)."""
    payload = rng.randbytes(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo(f"layer{index}")
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, _MTIME
        tar.addfile(directory)
        info = tarfile.TarInfo(f"layer{index}/data.bin")
        info.size, info.mode, info.mtime = len(payload), 0o644, _MTIME
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    # mtime=0 and no file name keep the gzip header, and so the digest, reproducible.
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(tar_bytes)
    return packed.getvalue(), sha256(tar_bytes)


def build_image(layers: int = 3, layer_size: int = 4096, seed: int = 0,
                platform: tuple[str, str] = ("linux", "amd64"), variant: str | None = None,
                annotations: dict[str, str] | None = None) -> BuiltImage:
    """An image in memory: `layers` layers of `layer_size` random bytes each (before compression)."""
    os_, arch = platform
    rng = random.Random(f"{seed}/{os_}/{arch}/{variant}")
    blobs, diff_ids = [], []
    for i in range(layers):
        blob, diff_id = make_layer(rng, i, layer_size)
        blobs.append(blob)
        diff_ids.append(diff_id)
    config_doc = {
        "architecture": arch, "os": os_, "created": EPOCH,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "Labels": {"crossreg.test.seed": str(seed)}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": EPOCH, "created_by": f"crossreg test layer {i}"} for i in range(layers)],
    }
    if variant:
        config_doc["variant"] = variant
    config = canonical_json(config_doc)
    manifest_doc = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER_GZIP, blob) for blob in blobs],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    return BuiltImage(manifest=canonical_json(manifest_doc), config=config, layers=blobs,
                      diff_ids=diff_ids, platform=platform)


def build_index(platforms=(("linux", "amd64"), ("linux", "arm64")), layers: int = 2,
                layer_size: int = 2048, seed: int = 0) -> BuiltIndex:
    """A multi-platform index in memory. A platform is (os, arch) or (os, arch, variant)."""
    images, entries = [], []
    for p in platforms:
        os_, arch, variant = (tuple(p) + (None,))[:3]
        image = build_image(layers=layers, layer_size=layer_size, seed=seed, platform=(os_, arch),
                            variant=variant)
        images.append(image)
        plat = {"architecture": arch, "os": os_}
        if variant:
            plat["variant"] = variant
        entries.append(descriptor(OCI_MANIFEST, image.manifest, platform=plat))
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return BuiltIndex(manifest=index, images=images)


def build_artifact(artifact_type: str, layers: list[tuple[str, bytes]], subject: dict | None = None,
                   annotations: dict[str, str] | None = None) -> BuiltArtifact:
    """An OCI 1.1 artifact: empty config, `artifactType`, the given (mediaType, bytes) layers."""
    doc: dict = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, EMPTY_JSON),
        "layers": [descriptor(mt, data) for mt, data in layers],
    }
    if subject is not None:
        doc["subject"] = {k: subject[k] for k in ("mediaType", "digest", "size")}
    if annotations:
        doc["annotations"] = dict(annotations)
    blobs = {sha256(EMPTY_JSON): EMPTY_JSON, **{sha256(data): data for _, data in layers}}
    return BuiltArtifact(manifest=canonical_json(doc), artifact_type=artifact_type, blobs=blobs,
                         subject=doc.get("subject"))


def spdx_document(name: str = "crossreg-test", seed: int = 0) -> bytes:
    """A small but well-formed SPDX 2.3 JSON document."""
    return canonical_json({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
        "documentNamespace": f"https://crossreg.invalid/spdx/{name}-{seed}",
        "creationInfo": {"created": EPOCH, "creators": ["Tool: crossreg-tests"]},
        "packages": [{"SPDXID": "SPDXRef-Package-busybox", "name": "busybox", "versionInfo": f"1.36.{seed}",
                      "downloadLocation": "NOASSERTION"}],
    })


def build_sbom_referrer(subject, seed: int = 0, artifact_type: str = SPDX_JSON,
                        annotations: dict[str, str] | None = None) -> BuiltArtifact:
    """An SBOM whose `subject` is `subject` (a BuiltImage/BuiltIndex or a descriptor dict)."""
    subject_desc = subject.descriptor() if hasattr(subject, "descriptor") else dict(subject)
    notes = {"org.opencontainers.image.created": EPOCH, **(annotations or {})}
    return build_artifact(artifact_type, [(SPDX_JSON, spdx_document(seed=seed))], subject=subject_desc,
                          annotations=notes)


# ---------------------------------------------------------------------------- layouts
def _write_blob(layout: Path, data: bytes) -> None:
    algorithm, _, hexpart = sha256(data).partition(":")
    path = layout / "blobs" / algorithm / hexpart
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)


def _tag_in_layout(layout: Path, entry: dict, tag: str | None) -> None:
    """Record `entry` in index.json, named `tag`; a tag names one entry, so an old one is replaced."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = layout / "index.json"
    index = (json.loads(index_path.read_text()) if index_path.exists()
             else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    entry = dict(entry)
    if tag is not None:
        entry["annotations"] = {**entry.get("annotations", {}), REF_NAME: tag}
        index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
    index["manifests"].append(entry)
    index_path.write_text(json.dumps(index, indent=2))


def write_image(layout: Path, image: BuiltImage, tag: str | None) -> BuiltImage:
    layout = Path(layout)
    for data in (image.config, *image.layers, image.manifest):
        _write_blob(layout, data)
    _tag_in_layout(layout, descriptor(image.media_type, image.manifest), tag)
    image.layout, image.tag = layout, tag
    return image


def write_index(layout: Path, index: BuiltIndex, tag: str | None) -> BuiltIndex:
    layout = Path(layout)
    for image in index.images:
        for data in (image.config, *image.layers, image.manifest):
            _write_blob(layout, data)
        image.layout = layout
    _write_blob(layout, index.manifest)
    _tag_in_layout(layout, descriptor(index.media_type, index.manifest), tag)
    index.layout, index.tag = layout, tag
    return index


def write_artifact(layout: Path, artifact: BuiltArtifact, tag: str | None = None) -> BuiltArtifact:
    """Add an artifact (e.g. a referrer) to a layout, untagged unless `tag` is given."""
    layout = Path(layout)
    for data in (*artifact.blobs.values(), artifact.manifest):
        _write_blob(layout, data)
    _tag_in_layout(layout, artifact.descriptor(), tag)
    return artifact


def build_image_layout(path, tag: str = "v1", layers: int = 3, layer_size: int = 4096, seed: int = 0,
                       platform: tuple[str, str] = ("linux", "amd64")) -> BuiltImage:
    """Write a single-platform image into the OCI layout at `path` (created or extended) as `tag`."""
    return write_image(Path(path), build_image(layers=layers, layer_size=layer_size, seed=seed,
                                               platform=platform), tag)


def build_multiarch_layout(path, tag: str = "v1", platforms=(("linux", "amd64"), ("linux", "arm64")),
                           layers: int = 2, layer_size: int = 2048, seed: int = 0) -> BuiltIndex:
    """Write a multi-platform OCI index (and its per-platform images) into the layout at `path`."""
    return write_index(Path(path), build_index(platforms=platforms, layers=layers, layer_size=layer_size,
                                               seed=seed), tag)


def read_layout_blob(layout, digest: str) -> bytes:
    algorithm, _, hexpart = digest.partition(":")
    return (Path(layout) / "blobs" / algorithm / hexpart).read_bytes()
