"""The demo's model image and the owner's runner, without a server: reproducible bytes, the
entrypoint's HTTP/CSV contract, and refusal of tampered or unsafe images."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the demo trains its model with scikit-learn (extra 'demo')")

from crossreg.demo.image import build_model_image, write_layout  # noqa: E402
from crossreg.demo.model import train  # noqa: E402
from crossreg.demo.oci_client import VerificationError  # noqa: E402
from crossreg.demo.runner import run_http, run_stdin, unpack_layers  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return train()


@pytest.fixture(scope="module")
def unpacked(model, tmp_path_factory):
    image = build_model_image(model)
    root = tmp_path_factory.mktemp("img")
    paths = []
    for i, layer in enumerate(image.layers):
        p = root / f"layer-{i}"
        p.write_bytes(layer)
        paths.append(p)
    config = json.loads(image.config)
    unpack_layers(paths, config["rootfs"]["diff_ids"], root / "rootfs")
    return image, config, root / "rootfs"


def test_image_is_reproducible_and_well_formed(model, tmp_path):
    a, b = build_model_image(model), build_model_image(train())
    assert a.manifest_digest == b.manifest_digest
    manifest = json.loads(a.manifest)
    assert manifest["config"]["digest"] == a.config_digest
    assert [layer["annotations"]["io.crossreg.demo.layer"] for layer in manifest["layers"]] == \
        ["model", "code", "metadata"]
    config = json.loads(a.config)
    assert config["config"]["Entrypoint"] == ["python3", "/opt/model/serve.py"]
    assert config["config"]["Cmd"] == ["--host", "0.0.0.0", "--port", "8080"]
    assert "MODEL_DIR=/opt/model" in config["config"]["Env"]
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert len(config["rootfs"]["diff_ids"]) == 3
    assert 0.9 < model.accuracy <= 1.0
    assert a.metadata["evaluation"]["agreement_with_sklearn_predict"] == 1.0
    layout = write_layout(a, tmp_path / "layout").layout
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == a.manifest_digest
    for d in a.blob_descriptors():
        assert (layout / "blobs" / "sha256" / d["digest"][7:]).exists()


def test_model_sha256_is_recorded_and_checked(unpacked, model):
    image, config, rootfs = unpacked
    meta = json.loads((rootfs / "opt/model/metadata.json").read_text())
    assert meta["model"]["sha256"] == hashlib.sha256((rootfs / "opt/model/model.json").read_bytes()).hexdigest()
    assert meta["evaluation"]["accuracy"] == model.accuracy


def test_entrypoint_http_csv_and_json(unpacked, model):
    image, config, rootfs = unpacked
    csv_body = model.holdout_csv().encode()
    result = run_http(config, rootfs, csv_body)
    assert len(result["predictions"]) == len(model.holdout_y)
    assert result["evaluation"]["accuracy"] == pytest.approx(model.accuracy, abs=1e-6)
    # JSON in: instances as lists and as objects give the same predictions as the CSV.
    rows = model.holdout_X[:5]
    as_lists = run_http(config, rootfs, json.dumps({"instances": rows}).encode(), "application/json")
    as_objects = run_http(config, rootfs, json.dumps(
        {"instances": [dict(zip(model.feature_names, r)) for r in rows]}).encode(), "application/json")
    assert as_lists["predictions"] == as_objects["predictions"] == result["predictions"][:5]


def test_entrypoint_rejects_bad_input_over_http(unpacked):
    import httpx

    image, config, rootfs = unpacked
    from crossreg.demo.runner import command_for

    argv, env = command_for(config, rootfs, ["--host", "127.0.0.1", "--port", "0"], sys.executable)
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        import re

        port = re.search(r":(\d+)\s*$", proc.stderr.readline().decode()).group(1)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/ping").json() == {"status": "healthy"}
        assert httpx.get(f"{url}/metadata").json()["name"] == "breast-cancer-classifier"
        r = httpx.post(f"{url}/invocations", content=b"1,2,3\n", headers={"Content-Type": "text/csv"})
        assert r.status_code == 400 and "expected 30" in r.json()["error"]
        r = httpx.post(f"{url}/invocations", content=b"x", headers={"Content-Type": "image/png"})
        assert r.status_code == 415
        assert httpx.get(f"{url}/nope").status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


def test_entrypoint_refuses_a_tampered_model(unpacked, tmp_path):
    image, config, rootfs = unpacked
    import shutil

    copy = tmp_path / "rootfs"
    shutil.copytree(rootfs, copy)
    spec = json.loads((copy / "opt/model/model.json").read_text())
    spec["intercept"] += 1.0
    (copy / "opt/model/model.json").write_text(json.dumps(spec))
    with pytest.raises(RuntimeError, match="does not match"):
        run_stdin(config, copy, b"1")


def test_unpack_verifies_diff_ids_and_refuses_escapes(tmp_path):
    def layer(name: str, data: bytes = b"x", **kw) -> Path:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for k, v in kw.items():
                setattr(info, k, v)
            tar.addfile(info, io.BytesIO(data))
        p = tmp_path / f"l{abs(hash(name))}"
        p.write_bytes(gzip.compress(raw.getvalue()))
        return p, "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()

    good, good_id = layer("opt/ok.txt")
    with pytest.raises(VerificationError, match="diff_id"):
        unpack_layers([good], ["sha256:" + "0" * 64], tmp_path / "r1")
    evil, evil_id = layer("../../escape.txt")
    with pytest.raises(VerificationError, match="unsafe"):
        unpack_layers([evil], [evil_id], tmp_path / "r2")
    assert not (tmp_path / "escape.txt").exists()
    link, link_id = layer("opt/link", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    with pytest.raises(VerificationError, match="unsafe"):
        unpack_layers([link], [link_id], tmp_path / "r3")
    # Whiteouts remove what a lower layer added.
    wh, wh_id = layer("opt/.wh.ok.txt", b"")
    unpack_layers([good, wh], [good_id, wh_id], tmp_path / "r4")
    assert not (tmp_path / "r4" / "opt" / "ok.txt").exists()


def test_build_on_a_base_layout(model, tmp_path):
    """--base-layout stacks the model's layers on a base image (here a synthetic one)."""
    from tests.support.images import build_image_layout

    base = build_image_layout(tmp_path / "base", tag="base", layers=2, seed=3)
    image = build_model_image(model, base_layout=base.layout)
    manifest = json.loads(image.manifest)
    config = json.loads(image.config)
    assert [layer["digest"] for layer in manifest["layers"][:2]] == base.layer_digests
    assert config["rootfs"]["diff_ids"][:2] == base.diff_ids and len(config["rootfs"]["diff_ids"]) == 5
    layout = write_layout(image, tmp_path / "out").layout
    for d in image.blob_descriptors():
        assert (layout / "blobs" / "sha256" / d["digest"][7:]).exists()
