"""The production layout of docs/deployment.md on one machine: nginx with the shipped
deploy/nginx/crossreg.conf in front of two API "hosts" (one of them `serve --workers 2`) on one
PostgreSQL database and one blob store. Stock clients (boto3, skopeo) work through the load
balancer -- SigV4 included, which needs the Host header passed on unchanged --, requests are
spread over the hosts, large blobs stream through, and losing a host loses no service."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool
from tests.support.deployment import REGION, Deployment, OciClient
from tests.support.images import build_image_layout
from tests.support.server import REPO_ROOT, free_port

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]

NGINX_CONF = REPO_ROOT / "deploy" / "nginx" / "crossreg.conf"


def nginx_config(tmp: Path, listen_port: int, upstreams: list[int]) -> Path:
    """The shipped site configuration, with this test's addresses and without TLS."""
    site = NGINX_CONF.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in upstreams)
    site, n = re.subn(r"(?m)^    server \d+\.\d+\.\d+\.\d+:\d+[^\n]*\n", "", site)
    assert n >= 1, "the upstream block of deploy/nginx/crossreg.conf changed shape"
    site = site.replace("    keepalive 64;", servers + "    keepalive 64;")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port};")
    site = re.sub(r"(?m)^\s*ssl_certificate\S*\s[^\n]*\n", "", site)
    (tmp / "crossreg.conf").write_text(site)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    main = f"""
{'user root;' if os.geteuid() == 0 else ''}
daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/crossreg.conf;
}}
"""
    (tmp / "nginx.conf").write_text(main)
    return tmp / "nginx.conf"


@pytest.fixture
def layout(tmp_path, postgres_admin_url):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (scripts/setup.sh installs it)")
    lb_port = free_port()
    dep = Deployment.create(tmp_path, postgres_admin_url, api_processes=2,
                            CROSSREG_PUBLIC_HOST=f"127.0.0.1:{lb_port}", CROSSREG_EMBEDDED_WORKERS="0")
    dep.servers[0].serve_args = ["--workers", "2"]
    dep.create_account("provider", "111111111111")
    dep.start()
    dep.start_worker("worker")
    (tmp_path / "nginx").mkdir()
    conf = nginx_config(tmp_path / "nginx", lb_port, [s.port for s in dep.servers])
    check = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([nginx, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    lb = f"http://127.0.0.1:{lb_port}"
    deadline = time.time() + 20
    while True:
        try:
            if httpx.get(f"{lb}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.time() < deadline, (tmp_path / "nginx" / "error.log").read_text()
        time.sleep(0.1)
    try:
        yield dep, lb, lb_port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        dep.stop()


def _requests_served(server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("crossreg_http_requests_total{") and 'api="other"' not in line)


def test_clients_through_the_load_balancer(layout, tmp_path):
    import boto3

    dep, lb, lb_port = layout
    provider = dep.accounts["provider"]
    ecr = boto3.client("ecr", endpoint_url=lb, region_name=REGION, aws_access_key_id=provider.access_key_id,
                       aws_secret_access_key=provider.secret_access_key)
    repo = ecr.create_repository(repositoryName="through/lb")["repository"]
    assert repo["repositoryUri"] == f"127.0.0.1:{lb_port}/{provider.account_id}/{REGION}/through/lb"
    auth = ecr.get_authorization_token()["authorizationData"][0]
    password = __import__("base64").b64decode(auth["authorizationToken"]).decode().split(":", 1)[1]

    # skopeo pushes and pulls through nginx
    skopeo = require_tool("skopeo")
    image = build_image_layout(tmp_path / "img", tag="v1", layers=3, layer_size=200_000, seed=21)
    dest = f"docker://127.0.0.1:{lb_port}/{provider.account_id}/{REGION}/through/lb:v1"
    subprocess.run([skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                    image.ref, dest], check=True, capture_output=True, text=True)
    subprocess.run([skopeo, "copy", "--quiet", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
                    dest, f"oci:{tmp_path / 'pulled'}:v1"], check=True, capture_output=True, text=True)
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest

    # a chunked upload of 40 PATCHes, spread by nginx over the hosts and their processes
    class LB:
        url = lb

    client = OciClient(password)
    try:
        data = os.urandom(40 * 32 * 1024)
        digest = client.push_blob_chunked([LB], provider, "through/lb", data, chunk=32 * 1024)
        assert client.http.get(f"{lb}/v2/{provider.account_id}/{REGION}/through/lb/blobs/{digest}").content == data
        # a large blob streams through in one request each way
        block = hashlib.sha256(b"lb").digest() * 32768  # 1 MiB
        count = 64
        whole = hashlib.sha256()
        for _ in range(count):
            whole.update(block)
        big = "sha256:" + whole.hexdigest()
        location = client.http.post(f"{lb}/v2/{provider.account_id}/{REGION}/through/lb/blobs/uploads/").headers["Location"]
        r = client.http.put(f"{lb}{location}", params={"digest": big}, content=(block for _ in range(count)),
                            headers={"Content-Length": str(count * len(block))})
        assert r.status_code == 201, r.text
        pulled = hashlib.sha256()
        with client.http.stream("GET", f"{lb}/v2/{provider.account_id}/{REGION}/through/lb/blobs/{big}") as resp:
            for part in resp.iter_bytes():
                pulled.update(part)
        assert "sha256:" + pulled.hexdigest() == big
    finally:
        client.close()
    # both hosts took part
    served = [_requests_served(s) for s in dep.servers]
    assert all(n >= 5 for n in served), served

    # one host dies: service goes on through the other
    dep.servers[1].kill()
    image2 = build_image_layout(tmp_path / "img2", tag="v2", layers=2, layer_size=50_000, seed=22)
    subprocess.run([skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                    "--retry-times", "2", image2.ref, dest.replace(":v1", ":v2")], check=True,
                   capture_output=True, text=True)
    tags = {i.get("imageTag") for i in ecr.list_images(repositoryName="through/lb")["imageIds"]}
    assert {"v1", "v2"} <= tags
