"""Artifacts and referrers with an OCI client library (oras-py), as ORAS users push them."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration
REGION = "us-east-1"


@pytest.fixture(scope="module")
def registry(server, provider):
    oras_provider = pytest.importorskip("oras.provider")
    server.boto3(provider).create_repository(repositoryName="artifacts/model-card")
    reg = oras_provider.Registry(hostname=server.host, insecure=True, auth_backend="basic")
    reg.login(username="AWS", password=server.password(provider), hostname=server.host)
    return reg


def test_push_and_pull_an_artifact_and_a_referrer(server, provider, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model-card.md").write_text("# breast-cancer-classifier\naccuracy: 0.96\n")
    target = f"{server.host}/{provider.account_id}/{REGION}/artifacts/model-card:v1"
    response = registry.push(target, files=["model-card.md:text/markdown"])
    assert response.status_code == 201
    subject_digest = response.headers["Docker-Content-Digest"]

    (tmp_path / "sbom.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "model-card"}))
    from oras.oci import Subject

    subject_bytes = httpx.get(f"{server.url}/v2/{provider.account_id}/{REGION}/artifacts/model-card/manifests/v1",
                              headers=server.basic_auth(provider)).content
    subject = Subject(json.loads(subject_bytes)["mediaType"], subject_digest, len(subject_bytes))
    response = registry.push(f"{server.host}/{provider.account_id}/{REGION}/artifacts/model-card:sbom",
                             files=["sbom.json:application/spdx+json"], subject=subject)
    assert response.status_code == 201
    sbom_digest = response.headers["Docker-Content-Digest"]

    out = tmp_path / "pulled"
    files = registry.pull(target, outdir=str(out))
    assert [p.split("/")[-1] for p in files] == ["model-card.md"]
    assert (out / "model-card.md").read_text().startswith("# breast-cancer-classifier")

    referrers = httpx.get(f"{server.url}/v2/{provider.account_id}/{REGION}/artifacts/model-card/referrers/{subject_digest}",
                          headers=server.basic_auth(provider)).json()["manifests"]
    assert [m["digest"] for m in referrers] == [sbom_digest]
    listed = server.boto3(provider).list_image_referrers(
        repositoryName="artifacts/model-card", subjectId={"imageDigest": subject_digest})
    assert [r["digest"] for r in listed["referrers"]] == [sbom_digest]
