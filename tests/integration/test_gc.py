"""Garbage collection: what is collected and what is kept (on SQLite and PostgreSQL), dry runs,
crash leftovers, and -- the point -- collection running continuously while clients push,
delete and re-push images that share layers, after which every acknowledged image still pulls
with the right digests and storage holds exactly what the remaining images reference."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import REGION, Deployment, OciClient
from tests.support.images import build_image, make_layer
from tests.support.postgres import create_database
from tests.support.server import new_server

pytestmark = [pytest.mark.integration, pytest.mark.engine_specific]


def _gc(server, *args: str) -> dict:
    out = server.cli("gc", *args)
    return json.loads(out.stdout)


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, hexpart = digest.split(":")
    return root / "blobs" / algorithm / hexpart[:2] / hexpart


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_gc_collects_garbage_and_keeps_everything_referenced(engine, tmp_path, request):
    env = {}
    if engine == "postgresql":
        env["CROSSREG_DATABASE_URL"] = create_database(request.getfixturevalue("postgres_admin_url"))
    srv = new_server(tmp_path, **env)
    provider = srv.create_account("provider", "111111111111")
    srv.start()
    storage = srv.data_dir / "blobs"
    try:
        ecr = srv.boto3(provider)
        ecr.create_repository(repositoryName="app")
        client = OciClient(srv.password(provider))
        base = client.base(srv, provider, "app")
        keep = build_image(layers=2, layer_size=3000, seed=1)
        drop = build_image(layers=3, layer_size=3000, seed=1)  # shares keep's two layers
        assert set(keep.layer_digests) < set(drop.layer_digests)
        assert client.push_image([srv], provider, "app", keep, "keep").status_code == 201
        assert client.push_image([srv], provider, "app", drop, "drop").status_code == 201
        ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "drop"}])
        # a blob unlinked through the OCI API, and an abandoned upload
        stray = os.urandom(5000)
        stray_digest = client.push_blob_chunked([srv], provider, "app", stray)
        assert client.http.delete(f"{base}/blobs/{stray_digest}").status_code == 202
        location = client.http.post(f"{base}/blobs/uploads/").headers["Location"]
        client.http.patch(f"{srv.url}{location}", content=b"abandoned" * 100)
        upload_id = location.rsplit("/", 1)[1]
        # crash leftovers: content and an upload nobody recorded
        orphan = b"orphan content"
        orphan_digest = "sha256:" + hashlib.sha256(orphan).hexdigest()
        _blob_path(storage, orphan_digest).parent.mkdir(parents=True, exist_ok=True)
        _blob_path(storage, orphan_digest).write_bytes(orphan)
        (storage / "uploads" / "11111111-2222-3333-4444-555555555555").write_bytes(b"left over")

        garbage = {stray_digest, drop.config_digest, drop.layer_digests[2]}
        # young garbage is left alone
        young = _gc(srv, "--grace-period", "1h")
        assert (young["uploads_deleted"], young["links_pruned"], young["blobs_deleted"],
                young["orphan_files_deleted"]) == (0, 0, 0, 0)
        # a dry run reports and deletes nothing
        dry = _gc(srv, "--grace-period", "0", "--dry-run", "--list")
        assert dry["dry_run"] and set(dry["digests"]) == garbage
        assert (dry["uploads_deleted"], dry["links_pruned"], dry["blobs_deleted"]) == (1, 2, 3)
        assert dry["orphan_files_deleted"] == 2
        assert all(_blob_path(storage, d).exists() for d in garbage)

        done = _gc(srv, "--grace-period", "0", "--list")
        assert set(done["digests"]) == garbage
        assert (done["uploads_deleted"], done["links_pruned"], done["blobs_deleted"],
                done["orphan_files_deleted"]) == (1, 2, 3, 2)
        assert done["bytes_freed"] == len(stray) + len(drop.config) + len(drop.layers[2])
        assert not any(_blob_path(storage, d).exists() for d in garbage | {orphan_digest})
        assert not (storage / "uploads" / upload_id).exists()
        assert client.http.get(f"{srv.url}{location}").status_code == 404
        # what is referenced stays, and pulls
        client.verify_image(srv, provider, "app", "keep", keep)
        assert sorted(p.name for p in (storage / "blobs" / "sha256").rglob("*") if p.is_file()) == sorted(
            d[7:] for d in keep.blob_digests)
        again = _gc(srv, "--grace-period", "0")
        assert (again["uploads_deleted"], again["links_pruned"], again["blobs_deleted"],
                again["orphan_files_deleted"]) == (0, 0, 0, 0)
        # the dropped image can be pushed again (its blobs re-uploaded)
        assert client.push_image([srv], provider, "app", drop, "drop").status_code == 201
        client.verify_image(srv, provider, "app", "drop", drop)
        # --no-prune-links keeps layers of deleted images linked
        ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "drop"}])
        kept = _gc(srv, "--grace-period", "0", "--no-prune-links")
        assert (kept["links_pruned"], kept["blobs_deleted"]) == (0, 0)
        client.close()
    finally:
        srv.stop()


GRACE = 4.0


def test_gc_during_concurrent_pushes_never_breaks_an_acknowledged_image(tmp_path, postgres_admin_url):
    from crossreg.app import build
    from crossreg.config import Settings
    from crossreg.gc import GarbageCollector

    seed = int(os.environ.get("CROSSREG_GC_SEED", time.time()))
    print(f"gc test seed {seed} (CROSSREG_GC_SEED reproduces the choices)")
    dep = Deployment.create(tmp_path, postgres_admin_url, api_processes=2)
    provider = dep.create_account("provider", "111111111111")
    dep.start()
    a, b = dep.servers
    try:
        ecr = a.boto3(provider)
        for repo in ("one", "two"):
            ecr.create_repository(repositoryName=repo)
        password = a.password(provider)
        # a small pool of base layers that many images share (and deleted images leave behind)
        pool_rng = random.Random(seed)
        base_layers = [make_layer(pool_rng, i, 4000)[0] for i in range(4)]

        live: dict[tuple[str, str], object] = {}
        lock = threading.Lock()
        stop = threading.Event()
        stats = {"pushed": 0, "deleted": 0, "refused_reused": 0, "refused_slow": 0, "abandoned": 0}
        violations: list[str] = []

        def make_image(rng: random.Random, n: int):
            image = build_image(layers=1, layer_size=rng.randint(1000, 20000), seed=n)
            shared = rng.sample(base_layers, rng.randint(1, 2))
            doc = json.loads(image.manifest)
            config = json.loads(image.config)
            layers = shared + image.layers
            config["rootfs"]["diff_ids"] = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
            config_bytes = json.dumps(config, sort_keys=True).encode()
            doc["config"] = {"mediaType": doc["config"]["mediaType"], "size": len(config_bytes),
                             "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest()}
            doc["layers"] = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(l),
                              "digest": "sha256:" + hashlib.sha256(l).hexdigest()} for l in layers]
            image.config, image.layers = config_bytes, layers
            image.manifest = json.dumps(doc, sort_keys=True).encode()
            return image

        def push(client: OciClient, servers, repo: str, image, tag: str, reuse: bool) -> bool:
            """Push like docker: skip blobs the registry says it has (when `reuse`)."""
            uploaded_at, reused = {}, False
            for blob in (image.config, *image.layers):
                digest = "sha256:" + hashlib.sha256(blob).hexdigest()
                if reuse and client.http.head(f"{client.base(servers[0], provider, repo)}/blobs/{digest}").status_code == 200:
                    reused = True
                    continue
                client.push_blob_chunked(servers, provider, repo, blob, chunk=8192)
                uploaded_at[digest] = time.time()
            r = client.http.put(f"{client.base(servers[-1], provider, repo)}/manifests/{tag}", content=image.manifest,
                                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            if r.status_code == 201:
                return True
            missing = r.json()["errors"][0].get("detail", {}).get("digests", []) if r.status_code == 400 else []
            if not missing:
                violations.append(f"manifest push {tag}: {r.status_code} {r.text[:200]}")
                return False
            for digest in missing:  # the grace period protects what a client uploaded
                if digest in uploaded_at and time.time() - uploaded_at[digest] < GRACE - 0.5:
                    violations.append(f"{digest} uploaded {time.time() - uploaded_at[digest]:.1f}s ago was collected")
            # what it skipped because the registry had it may be collected meanwhile (the push is
            # refused, nothing acknowledged); so may uploads older than the grace period
            stats["refused_reused" if reused else "refused_slow"] += 1
            return False

        def client_loop(n: int) -> None:
            rng = random.Random(seed * 100 + n)
            client = OciClient(password, timeout=60)
            mine: list[tuple[str, str]] = []
            k = 0
            try:
                while not stop.is_set():
                    k += 1
                    action = rng.random()
                    servers = [a, b] if rng.random() < 0.5 else [b, a]
                    if action < 0.25 and mine:  # delete one of my images
                        repo, tag = mine.pop(rng.randrange(len(mine)))
                        r = client.http.delete(f"{client.base(servers[0], provider, repo)}/manifests/"
                                               f"{live[(repo, tag)].manifest_digest}")
                        assert r.status_code == 202, r.text
                        with lock:
                            del live[(repo, tag)]
                            stats["deleted"] += 1
                    elif action < 0.32:  # abandon an upload half way
                        repo = rng.choice(["one", "two"])
                        loc = client.http.post(f"{client.base(servers[0], provider, repo)}/blobs/uploads/").headers["Location"]
                        client.http.patch(f"{servers[1].url}{loc}", content=os.urandom(3000))
                        stats["abandoned"] += 1
                    else:
                        repo, tag = rng.choice(["one", "two"]), f"c{n}-{k}"
                        image = make_image(rng, seed * 1000 + n * 100_000 + k)
                        ok = push(client, servers, repo, image, tag, reuse=True)
                        if not ok:  # like a user re-running docker push after an error: it uploads
                            ok = push(client, servers, repo, image, tag, reuse=False)
                        if ok:
                            with lock:
                                live[(repo, tag)] = image
                                stats["pushed"] += 1
                            mine.append((repo, tag))
            except Exception as exc:  # noqa: BLE001
                violations.append(f"client {n}: {exc!r}")
            finally:
                client.close()

        gc_totals = {"runs": 0, "blobs_deleted": 0, "links_pruned": 0, "uploads_deleted": 0}
        gc_core = build(Settings(data_dir=tmp_path / "gc", database_url=dep.database_url,
                                 storage_url=dep.storage_url))

        def gc_loop() -> None:
            while not stop.is_set():
                try:
                    report = GarbageCollector(gc_core.db, gc_core.store, grace_seconds=GRACE).run()
                except Exception as exc:  # noqa: BLE001
                    violations.append(f"gc: {exc!r}")
                    return
                gc_totals["runs"] += 1
                for key in ("blobs_deleted", "links_pruned", "uploads_deleted"):
                    gc_totals[key] += getattr(report, key)
                time.sleep(0.1)

        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(6)]
        threads.append(threading.Thread(target=gc_loop))
        for t in threads:
            t.start()
        time.sleep(float(os.environ.get("CROSSREG_GC_SECONDS", "25")))
        stop.set()
        for t in threads:
            t.join(timeout=120)
        print("clients:", stats, "gc:", gc_totals)
        assert violations == []
        assert stats["pushed"] >= 20 and stats["deleted"] >= 3
        assert gc_totals["runs"] >= 5 and gc_totals["blobs_deleted"] >= 1 and gc_totals["uploads_deleted"] >= 1

        client = OciClient(password)
        try:
            for (repo, tag), image in sorted(live.items()):
                for srv in (a, b):
                    client.verify_image(srv, provider, repo, tag, image)
            # the pushes are over: collect with no grace through the CLI; everything left
            # referenced still pulls, and storage holds exactly the referenced blobs
            final = json.loads(a.cli("gc", "--grace-period", "0").stdout)
            print("final gc:", final)
            for (repo, tag), image in sorted(live.items()):
                client.verify_image(b, provider, repo, tag, image)
        finally:
            client.close()
        referenced = {d for image in live.values() for d in image.blob_digests}
        stored = {f"sha256:{p.name}" for p in (tmp_path / "blobs" / "blobs" / "sha256").rglob("*") if p.is_file()}
        assert stored == referenced
        assert list((tmp_path / "blobs" / "uploads").iterdir()) == []
        gc_core.db.dispose()
    finally:
        dep.stop()
