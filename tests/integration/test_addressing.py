"""Registry addressing: the repositoryUri CreateRepository returns is what clients push to; with
a configured domain, ECR-style host names <account>.dkr.ecr.<region>.<domain> name registries."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.support.server import new_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def domain_server(tmp_path_factory):
    srv = new_server(tmp_path_factory.mktemp("domain"), CROSSREG_DOMAIN="registry.test")
    srv.create_account("provider", "111111111111")
    srv.start()
    yield srv
    srv.stop()


def test_ecr_style_host_names_with_a_domain(domain_server):
    srv = domain_server
    provider = srv.accounts["provider"]
    repo = srv.boto3(provider, region="eu-west-1").create_repository(repositoryName="models/app")["repository"]
    host = f"111111111111.dkr.ecr.eu-west-1.registry.test:{srv.port}"
    assert repo["repositoryUri"] == f"{host}/models/app"
    token = srv.boto3(provider, region="eu-west-1").get_authorization_token()["authorizationData"][0]
    assert token["proxyEndpoint"] == f"http://{host}"
    headers = {"Host": host, "Authorization": f"Basic {token['authorizationToken']}"}
    data = b"layer via ECR-style host"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=srv.url, headers=headers) as client:
        r = client.post("/v2/models/app/blobs/uploads/", params={"digest": digest}, content=data)
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"/v2/models/app/blobs/{digest}"
        assert client.get(f"/v2/models/app/blobs/{digest}").content == data
        # the same registry through the path form
        del client.headers["Host"]
        assert client.get(f"/v2/111111111111/eu-west-1/models/app/blobs/{digest}").content == data
        # another region's host name is another registry
        other = client.get("/v2/models/app/blobs/" + digest,
                           headers={"Host": f"111111111111.dkr.ecr.us-east-1.registry.test:{srv.port}"})
        assert other.status_code == 404 and other.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_repository_uri_without_domain_is_host_account_region_name(server, provider):
    repo = server.boto3(provider).create_repository(repositoryName="uri-check")["repository"]
    assert repo["repositoryUri"] == f"{server.host}/{provider.account_id}/us-east-1/uri-check"
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-1:{provider.account_id}:repository/uri-check"
