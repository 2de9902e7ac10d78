"""Parsing and validating pushed manifests: OCI image manifests and indexes (image-spec v1.1) and
Docker schema 2 manifests and manifest lists. Schema 1 and the withdrawn OCI artifact manifest are
refused.

The parser never rewrites the body: the digest is taken over the exact bytes received, which is
also what gets stored and served.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from crossreg.domain.digests import Digest, InvalidDigest, digest_of

# ECR's PutImage limit (imageManifest 1..4194304); distribution-spec asks registries to take >= 4 MB.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SUPPORTED_MEDIA_TYPES = IMAGE_MANIFEST_TYPES | INDEX_TYPES

# Recognised only to say precisely why they are refused.
_REFUSED = {
    "application/vnd.docker.distribution.manifest.v1+json": "Docker schema 1 manifests are not supported",
    "application/vnd.docker.distribution.manifest.v1+prettyjws": "Docker schema 1 manifests are not supported",
    "application/vnd.oci.artifact.manifest.v1+json":
        "the OCI artifact manifest was withdrawn from image-spec v1.1; push an image manifest with artifactType",
}
# Content types that say nothing about which manifest this is (curl, generic HTTP libraries);
# for these the body's mediaType decides, as if no Content-Type had been sent.
_GENERIC_CONTENT_TYPES = frozenset({"application/json", "application/octet-stream", "text/plain"})

# RFC 6838 type "/" subtype (restricted-name), which image-spec requires of every mediaType.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_MAX_SIZE = 2**63 - 1  # descriptor sizes are int64


class ManifestError(ValueError):
    """A manifest that must be refused. `code` is the OCI error code to answer with."""

    def __init__(self, code: str, message: str, detail: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    def __repr__(self) -> str:
        return f"ManifestError({self.code!r}, {self.message!r}, {self.detail!r})"


def _invalid(message: str, **detail: Any) -> ManifestError:
    return ManifestError("MANIFEST_INVALID", message, detail or None)


@dataclass(frozen=True)
class Platform:
    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None
    features: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version is not None:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant is not None:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    artifact_type: str | None = None
    platform: Platform | None = None
    data: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The descriptor as JSON would carry it (e.g. for a referrers response)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform:
            out["platform"] = self.platform.to_dict()
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        return out


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    digest: Digest          # sha256 of the exact bytes
    size: int               # len(body)
    is_index: bool
    # OCI 1.1 referrers rule: `artifactType` if set; else, for image manifests, config.mediaType;
    # else (an index without one) None. For plain images this is config.mediaType, which is also
    # what ECR reports as `artifactMediaType`.
    artifact_type: str | None
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]   # children of an index, with their platforms
    subject: Descriptor | None
    annotations: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Every blob the manifest needs: config first, then layers (empty for an index)."""
        return ((self.config,) if self.config else ()) + self.layers

    @property
    def config_media_type(self) -> str | None:
        return self.config.media_type if self.config else None

    @property
    def artifact_media_type(self) -> str | None:
        """ECR's DescribeImages `artifactMediaType`: the config's media type."""
        return self.config_media_type


def normalize_media_type(content_type: str | None) -> str | None:
    """The bare media type of a Content-Type header, or None when it names none.

    Parameters are dropped (the spec says registries SHOULD ignore them); media types are
    case-insensitive, and the manifest types are all lower case.
    """
    if content_type is None:
        return None
    bare = content_type.split(";", 1)[0].strip().lower()
    return bare or None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a pushed manifest and extract what the registry records about it.

    `content_type` is the request's Content-Type (or ECR's imageManifestMediaType); it may be None
    when the body names its own mediaType. Raises ManifestError.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("manifest body must be bytes")
    body = bytes(body)
    if len(body) > MAX_MANIFEST_SIZE:
        raise ManifestError("SIZE_INVALID", f"manifest is {len(body)} bytes; the maximum is {MAX_MANIFEST_SIZE}",
                            {"size": len(body), "limit": MAX_MANIFEST_SIZE})
    doc = _load_json(body)
    media_type = _resolve_media_type(doc, content_type)
    _check_schema_version(doc)
    if media_type in INDEX_TYPES:
        parts = _parse_index(doc, media_type)
    else:
        parts = _parse_image_manifest(doc, media_type)
    return ParsedManifest(media_type=media_type, digest=digest_of(body), size=len(body), **parts)


# ---------------------------------------------------------------------------- JSON and media type
def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # Two parsers that keep different duplicates would see different manifests under one digest.
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _invalid(f"duplicate key '{key}' in manifest JSON", key=key)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise _invalid(f"{name} is not valid JSON")


def _load_json(body: bytes) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"manifest is not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        doc = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except ManifestError:
        raise
    except json.JSONDecodeError as exc:
        raise _invalid(f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        raise _invalid("manifest JSON is nested too deeply")
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    return doc


def _resolve_media_type(doc: dict, content_type: str | None) -> str:
    declared = normalize_media_type(content_type)
    if declared in _GENERIC_CONTENT_TYPES:
        declared = None
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType must be a string", field="mediaType")
    if body_type is not None and declared is not None and body_type != declared:
        raise _invalid(f"manifest mediaType '{body_type}' does not match Content-Type '{declared}'",
                       mediaType=body_type, contentType=declared)
    media_type = body_type or declared
    if media_type is None:
        raise _invalid("manifest media type unknown: send a Content-Type header or a mediaType field")
    if media_type in _REFUSED:
        raise _invalid(_REFUSED[media_type], mediaType=media_type)
    if media_type not in SUPPORTED_MEDIA_TYPES:
        raise _invalid(f"unsupported manifest media type '{media_type}'", mediaType=media_type,
                       supported=sorted(SUPPORTED_MEDIA_TYPES))
    # Docker schema 2 makes the field mandatory (Distribution refuses it missing too).
    if media_type in (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST) and body_type is None:
        raise _invalid(f"a Docker schema 2 manifest must carry \"mediaType\": \"{media_type}\"", field="mediaType")
    return media_type


def _check_schema_version(doc: dict) -> None:
    version = doc.get("schemaVersion")
    if "schemaVersion" not in doc:
        raise _invalid("schemaVersion is required", field="schemaVersion")
    if type(version) is not int or version != 2:  # type() also refuses True and 2.0
        raise _invalid(f"schemaVersion must be 2, not {json.dumps(version)}", field="schemaVersion")


# ---------------------------------------------------------------------------- manifest kinds
def _parse_image_manifest(doc: dict, media_type: str) -> dict:
    # An image manifest with `manifests` (or an index with `config`/`layers`) could be read as the
    # other kind by a client that ignores mediaType; refuse the ambiguity (as Distribution does).
    if "manifests" in doc:
        raise _invalid("an image manifest must not have a 'manifests' field", field="manifests")
    if "config" not in doc:
        raise _invalid("config is required in an image manifest", field="config")
    config = _descriptor(doc["config"], "config")
    if "layers" not in doc:
        raise _invalid("layers is required in an image manifest", field="layers")
    layers = tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(_array(doc["layers"], "layers")))
    is_oci = media_type == OCI_MANIFEST
    # Docker schema 2 has no artifactType, subject or annotations; unknown fields are ignored.
    artifact_type = _optional_media_type(doc, "artifactType") if is_oci else None
    subject = _descriptor(doc["subject"], "subject") if is_oci and doc.get("subject") is not None else None
    annotations = _string_map(doc.get("annotations"), "annotations") if is_oci else {}
    return dict(is_index=False, artifact_type=artifact_type or config.media_type, config=config,
                layers=layers, manifests=(), subject=subject, annotations=annotations)


def _parse_index(doc: dict, media_type: str) -> dict:
    for key in ("config", "layers"):
        if key in doc:
            raise _invalid(f"an index must not have a '{key}' field", field=key)
    if "manifests" not in doc:
        raise _invalid("manifests is required in an index", field="manifests")
    children = tuple(_descriptor(d, f"manifests[{i}]", with_platform=True)
                     for i, d in enumerate(_array(doc["manifests"], "manifests")))
    is_oci = media_type == OCI_INDEX
    artifact_type = _optional_media_type(doc, "artifactType") if is_oci else None
    subject = _descriptor(doc["subject"], "subject") if is_oci and doc.get("subject") is not None else None
    annotations = _string_map(doc.get("annotations"), "annotations") if is_oci else {}
    return dict(is_index=True, artifact_type=artifact_type or None, config=None, layers=(),
                manifests=children, subject=subject, annotations=annotations)


# ---------------------------------------------------------------------------- descriptors
def _descriptor(obj: Any, path: str, with_platform: bool = False) -> Descriptor:
    if not isinstance(obj, dict):
        raise _invalid(f"{path} must be a descriptor object", field=path)
    media_type = obj.get("mediaType")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise _invalid(f"{path}.mediaType must be a media type string", field=f"{path}.mediaType")
    raw_digest = obj.get("digest")
    try:
        digest = Digest.parse(raw_digest)
    except InvalidDigest as exc:
        raise ManifestError("DIGEST_INVALID", f"{path}.digest: {exc}",
                            {"field": f"{path}.digest", "digest": raw_digest if isinstance(raw_digest, str) else None})
    size = obj.get("size")
    if type(size) is not int or not 0 <= size <= _MAX_SIZE:  # type() refuses booleans and floats
        raise _invalid(f"{path}.size must be an integer between 0 and 2^63-1", field=f"{path}.size")
    urls = obj.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise _invalid(f"{path}.urls must be an array of strings", field=f"{path}.urls")
    data = _embedded_data(obj.get("data"), digest, size, path)
    platform = _platform(obj.get("platform"), f"{path}.platform") if with_platform else None
    return Descriptor(media_type=media_type, digest=digest, size=size, urls=tuple(urls or ()),
                      annotations=_string_map(obj.get("annotations"), f"{path}.annotations"),
                      artifact_type=_optional_media_type(obj, "artifactType", path) or None,
                      platform=platform, data=data)


def _embedded_data(value: Any, digest: Digest, size: int, path: str) -> bytes | None:
    if value is None:
        return None
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        data = None
    if data is None:
        raise _invalid(f"{path}.data must be base64", field=f"{path}.data")
    # image-spec: the decoded data MUST be the referenced content.
    if len(data) != size or not digest.matches(data):
        raise _invalid(f"{path}.data does not match the descriptor's digest and size", field=f"{path}.data")
    return data


def _platform(value: Any, path: str) -> Platform | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(f"{path} must be an object", field=path)
    for key in ("architecture", "os"):
        if not isinstance(value.get(key), str):
            raise _invalid(f"{path}.{key} is required and must be a string", field=f"{path}.{key}")
    for key in ("os.version", "variant"):
        if key in value and not isinstance(value[key], str):
            raise _invalid(f"{path}.{key} must be a string", field=f"{path}.{key}")
    for key in ("os.features", "features"):
        if key in value and not (isinstance(value[key], list) and all(isinstance(f, str) for f in value[key])):
            raise _invalid(f"{path}.{key} must be an array of strings", field=f"{path}.{key}")
    return Platform(architecture=value["architecture"], os=value["os"], os_version=value.get("os.version"),
                    os_features=tuple(value.get("os.features", ())), variant=value.get("variant"),
                    features=tuple(value.get("features", ())))


def _array(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise _invalid(f"{path} must be an array", field=path)
    return value


def _string_map(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid(f"{path} must be a map of strings to strings", field=path)
    return dict(value)


def _optional_media_type(obj: dict, key: str, path: str | None = None) -> str | None:
    value = obj.get(key)
    where = f"{path}.{key}" if path else key
    if value is None or value == "":  # the spec treats empty like missing
        return None
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        raise _invalid(f"{where} must be a media type string", field=where)
    return value
