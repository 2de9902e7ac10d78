"""Packages the demo model as an OCI image (image layout directory, pushable with skopeo or
crossreg's own client).

Layers (gzip'd tars, byte-for-byte reproducible for the same model):
    1. model     /opt/model/model.json       the trained model (its sha256 is in metadata.json)
    2. code      /opt/model/serve.py         the pure-Python HTTP entrypoint (/ping, /invocations)
    3. metadata  /opt/model/metadata.json    accuracy measured at build time, data set, hashes

The config declares Entrypoint ["python3", "/opt/model/serve.py"], Cmd (listen on 0.0.0.0:8080),
Env, ExposedPorts 8080/tcp and WorkingDir. The image itself ships no Python interpreter: a
container runtime can run it only on top of a layer that provides `python3` (pass `base_layout`,
an OCI layout of e.g. python:3.12-slim, to stack the model on it; see docs/walkthrough.md).
Without a runtime, `crossreg demo run-model` runs the entrypoint with this machine's Python.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from crossreg.demo.model import TrainedModel

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
MODEL_DIR = "/opt/model"
PORT = 8080
# Reproducible builds: timestamps come from SOURCE_DATE_EPOCH, else a fixed date.
_DEFAULT_EPOCH = 1704067200  # 2024-01-01T00:00:00Z


def _epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else _DEFAULT_EPOCH


def _iso(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _tar_layer(files: dict[str, tuple[bytes, int]], mtime: int) -> tuple[bytes, str]:
    """A gzip'd tar of `files` ({path: (content, mode)}) with their parent directories.
    Returns (compressed layer, diff_id of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parents[i]) for p in files for i in range(len(Path(p).parents) - 1)})
        for d in dirs:
            info = tarfile.TarInfo(d.lstrip("/") + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            info.uname = info.gname = "root"
            tar.addfile(info)
        for path in sorted(files):
            content, mode = files[path]
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(content), mode, mtime
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(tar_bytes)
    return gz.getvalue(), sha256(tar_bytes)


def entrypoint_source() -> bytes:
    return (Path(__file__).with_name("entrypoint.py")).read_bytes()


@dataclass
class ModelImage:
    manifest: bytes
    config: bytes
    layers: list[bytes]
    layer_names: list[str]
    metadata: dict
    tag: str
    layout: Path | None = None
    base_blobs: dict[str, Path] = field(default_factory=dict)  # base image layers, by digest

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    def blob_descriptors(self) -> list[dict]:
        doc = json.loads(self.manifest)
        return [doc["config"], *doc["layers"]]

    def blob_bytes(self, digest: str) -> bytes:
        if digest == self.config_digest:
            return self.config
        for layer in self.layers:
            if sha256(layer) == digest:
                return layer
        if digest in self.base_blobs:
            return self.base_blobs[digest].read_bytes()
        raise KeyError(digest)

    @property
    def size(self) -> int:
        return sum(d["size"] for d in self.blob_descriptors())


def _read_base(base_layout: Path) -> tuple[dict, dict, dict[str, Path]]:
    """(manifest, config, blob paths) of the linux/amd64 (or only) image in an OCI layout."""
    def blob(digest: str) -> Path:
        algo, hexpart = digest.split(":", 1)
        return base_layout / "blobs" / algo / hexpart

    index = json.loads((base_layout / "index.json").read_text())
    desc = index["manifests"][0]
    doc = json.loads(blob(desc["digest"]).read_bytes())
    if doc.get("mediaType") == OCI_INDEX or "manifests" in doc:
        choices = doc["manifests"]
        desc = next((m for m in choices if m.get("platform", {}).get("architecture") == "amd64"
                     and m.get("platform", {}).get("os") == "linux"), choices[0])
        doc = json.loads(blob(desc["digest"]).read_bytes())
    config = json.loads(blob(doc["config"]["digest"]).read_bytes())
    paths = {layer["digest"]: blob(layer["digest"]) for layer in doc["layers"]}
    return doc, config, paths


def build_model_image(model: TrainedModel, tag: str = "latest_eif",
                      base_layout: Path | None = None) -> ModelImage:
    mtime = _epoch()
    metadata = dict(model.metadata)
    code = entrypoint_source()
    metadata["entrypoint"] = {**metadata["entrypoint"], "sha256": hashlib.sha256(code).hexdigest()}
    metadata_bytes = json.dumps(metadata, indent=2, sort_keys=True).encode() + b"\n"
    layers, diff_ids, names = [], [], []
    for name, files in (
        ("model", {f"{MODEL_DIR}/model.json": (model.model_json, 0o644)}),
        ("code", {f"{MODEL_DIR}/serve.py": (code, 0o755)}),
        ("metadata", {f"{MODEL_DIR}/metadata.json": (metadata_bytes, 0o644)}),
    ):
        blob, diff_id = _tar_layer(files, mtime)
        layers.append(blob)
        diff_ids.append(diff_id)
        names.append(name)

    accuracy = metadata["evaluation"]["accuracy"]
    labels = {
        "org.opencontainers.image.title": "breast-cancer-classifier",
        "org.opencontainers.image.description":
            "Logistic-regression breast-cancer classifier (Wisconsin diagnostic data set), "
            "served over HTTP: GET /ping, POST /invocations (CSV or JSON in, JSON out).",
        "org.opencontainers.image.version": metadata["version"],
        "org.opencontainers.image.created": _iso(mtime),
        "io.crossreg.demo.model.sha256": model.sha256,
        "io.crossreg.demo.model.accuracy": f"{accuracy:.6f}",
        "io.crossreg.demo.requires": "python3 on PATH (no Python runtime layer in this image "
                                     "unless built on a base image)",
    }
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           f"MODEL_DIR={MODEL_DIR}", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"]
    history = [{"created": _iso(mtime), "created_by": f"crossreg demo: {n} layer"} for n in names]
    base_manifest_layers: list[dict] = []
    base_blobs: dict[str, Path] = {}
    architecture, os_name = "amd64", "linux"
    if base_layout is not None:
        base_doc, base_config, base_blobs = _read_base(Path(base_layout))
        base_manifest_layers = list(base_doc["layers"])
        diff_ids = list(base_config["rootfs"]["diff_ids"]) + diff_ids
        history = list(base_config.get("history", [])) + history
        architecture = base_config.get("architecture", architecture)
        os_name = base_config.get("os", os_name)
        base_env = {e.split("=", 1)[0]: e for e in base_config.get("config", {}).get("Env", [])}
        ours = {e.split("=", 1)[0]: e for e in env}
        if "PATH" in base_env:
            ours["PATH"] = base_env["PATH"]
        env = list({**base_env, **ours}.values())
        labels["io.crossreg.demo.requires"] = "nothing: built on a base image that provides python3"
    config = {
        "created": _iso(mtime), "architecture": architecture, "os": os_name,
        "config": {
            "Entrypoint": ["python3", f"{MODEL_DIR}/serve.py"],
            "Cmd": ["--host", "0.0.0.0", "--port", str(PORT)],
            "Env": env,
            "ExposedPorts": {f"{PORT}/tcp": {}},
            "WorkingDir": MODEL_DIR,
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_bytes = _json(config)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": base_manifest_layers + [
            {"mediaType": OCI_LAYER_GZIP, "digest": sha256(b), "size": len(b),
             "annotations": {"io.crossreg.demo.layer": n}} for b, n in zip(layers, names)],
        "annotations": {"org.opencontainers.image.title": "breast-cancer-classifier",
                        "org.opencontainers.image.created": _iso(mtime),
                        "io.crossreg.demo.model.accuracy": f"{accuracy:.6f}"},
    }
    return ModelImage(_json(manifest), config_bytes, layers, names, metadata, tag, base_blobs=base_blobs)


def write_layout(image: ModelImage, layout: Path) -> ModelImage:
    """Write (or add to) an OCI image layout directory: `skopeo copy oci:<layout>:<tag> ...`."""
    layout = Path(layout)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for data in [image.manifest, image.config, *image.layers]:
        path = blobs / sha256(data).split(":", 1)[1]
        if not path.exists():
            path.write_bytes(data)
    for digest, src in image.base_blobs.items():
        path = blobs / digest.split(":", 1)[1]
        if not path.exists():
            path.write_bytes(src.read_bytes())
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(REF_NAME) != image.tag]
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                               "size": len(image.manifest), "annotations": {REF_NAME: image.tag}})
    index_path.write_text(json.dumps(index, indent=2))
    image.layout = layout
    return image
