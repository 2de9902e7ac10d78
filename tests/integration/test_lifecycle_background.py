"""Lifecycle policies run by themselves in the server's background runner (no API call)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.images import build_image
from tests.support.server import new_server

pytestmark = pytest.mark.integration


def test_server_expires_images_by_itself(tmp_path):
    srv = new_server(tmp_path)
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    try:
        ecr = srv.boto3(provider)
        ecr.create_repository(repositoryName="nightly")
        base = f"/v2/{provider.account_id}/us-east-1/nightly"
        digests = []
        with httpx.Client(base_url=srv.url, headers=srv.basic_auth(provider)) as client:
            for i in range(3):
                image = build_image(seed=70 + i)
                for digest, data in image.blobs.items():
                    client.post(f"{base}/blobs/uploads/", params={"digest": digest}, content=data)
                r = client.put(f"{base}/manifests/v{i}", content=image.manifest,
                               headers={"Content-Type": json.loads(image.manifest)["mediaType"]})
                assert r.status_code == 201
                digests.append(image.manifest_digest)
                time.sleep(0.05)  # distinct push times: "newest" is well defined
        ecr.put_lifecycle_policy(repositoryName="nightly", lifecyclePolicyText=json.dumps({"rules": [{
            "rulePriority": 1, "description": "keep the newest nightly",
            "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan",
                          "countNumber": 1},
            "action": {"type": "expire"}}]}))
        srv.stop()
        srv.start()  # the runner checks due policies when it starts, then every minute
        deadline = time.time() + 20
        while time.time() < deadline:
            left = [i["imageDigest"] for i in ecr.list_images(repositoryName="nightly")["imageIds"]]
            if len(left) == 1:
                break
            time.sleep(0.3)
        assert left == [digests[-1]]
        with httpx.Client(base_url=srv.url, headers=srv.basic_auth(provider)) as client:
            assert client.get(f"{base}/manifests/v0").status_code == 404
            assert client.get(f"{base}/manifests/v2").status_code == 200
    finally:
        srv.stop()
