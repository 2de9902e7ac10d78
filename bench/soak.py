#!/usr/bin/env python3
"""Soak / load test of the production layout (docs/deployment.md) on one machine: for each
process count N, `crossreg serve --workers N` and one separate `crossreg worker` on PostgreSQL
and an S3 object store (Ceph's radosgw; a shared directory if Ceph cannot start), two accounts
with cross-account replication on a repository prefix, and concurrent clients that log in,
push, pull and list for a fixed time. Every error counts; afterwards every replication must be
COMPLETE exactly once and every pushed image must pull back with verified digests, from the
source and (for replicated repositories) from the destination account. See bench/README.md.

    .venv/bin/python bench/soak.py                  # full: N=1,2,4, 64 clients, ~13 minutes
    .venv/bin/python bench/soak.py --short          # N=1,2, ~15 s each (CI)
    .venv/bin/python bench/soak.py --processes 4 --minutes 10 --json /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import shutil
import ssl
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench import servers as sv  # noqa: E402
from bench import workloads as wl  # noqa: E402
from bench.run import _configure_replication, _fmt, machine, percentile  # noqa: E402

KiB = 1 << 10
MB = 1_000_000
REGION = "us-east-1"
PROVIDER, OWNER = "bench-provider", "bench-owner"  # the accounts _configure_replication expects
PREFIX = "soak"  # the replication rule's repository prefix
# 12 repositories the rule replicates into the owner's registry, 4 it must leave alone
REPOS = [f"{PREFIX}/app-{i}" for i in range(12)] + [f"local/app-{i}" for i in range(4)]
CHUNK = 64 * KiB  # PATCH size of chunked uploads
# what a client does next, by weight (a pull needs an image, a replica pull a finished replication)
MIX = {"push": 40, "pull": 33, "pull_replica": 15, "list_tags": 10, "login": 2}


@dataclass(frozen=True)
class Plan:
    name: str
    processes: tuple[int, ...]
    clients: int
    seconds_top: float  # at the largest N
    seconds_other: float
    # Seconds of load before the measured window starts. Throughput, latency and CPU count what
    # completes inside the window; errors count from the first request to the last.
    warmup: float
    describe_sample: int  # images checked with DescribeImageReplicationStatus (0 = all)
    drain_timeout: float

    def seconds(self, n: int) -> float:
        return self.seconds_top if n == max(self.processes) else self.seconds_other


FULL = Plan("full", processes=(1, 2, 4), clients=64, seconds_top=240, seconds_other=105, warmup=10,
            describe_sample=300, drain_timeout=600)
SHORT = Plan("short", processes=(1, 2), clients=64, seconds_top=15, seconds_other=15, warmup=3,
             describe_sample=0, drain_timeout=120)


# One TLS context for every client session (plain HTTP here, but httpx builds a context per
# client otherwise, loading the CA bundle: milliseconds of client CPU per session).
TLS = ssl.create_default_context()


class Problem(Exception):
    """An unexpected answer: a status, a header or bytes that are not what they must be."""


@dataclass
class Image:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    blobs: list[tuple[str, int]]  # config and layers: (digest, size)

    @property
    def replicated(self) -> bool:
        return self.repo.startswith(PREFIX + "/")


def _basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()}


def _password(ecr) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


class Load:
    """The clients, in one asyncio loop. Each operation is a client session as `docker push` /
    `docker pull` runs one: a new connection, `GET /v2/` answered 401 with a Basic challenge,
    then the requests with the registry password (from GetAuthorizationToken, SigV4-signed)."""

    def __init__(self, xr: sv.Crossreg, db_url: str, plan: Plan, seconds: float):
        self.xr, self.db_url, self.plan, self.seconds = xr, db_url, plan, seconds
        self.ecr = {a: xr.ecr(a) for a in (PROVIDER, OWNER)}
        self.prefix = {a: f"{xr.accounts[a]['accountId']}/{REGION}/" for a in (PROVIDER, OWNER)}
        self.auth = {a: _basic(_password(self.ecr[a])) for a in (PROVIDER, OWNER)}
        self.base_layers = {repo: os.urandom(32 * KiB) for repo in REPOS}  # shared by a repo's images
        self.images: list[Image] = []
        self.by_key: dict[tuple[str, str], Image] = {}
        self.replicas: list[Image] = []  # replication COMPLETE (seen in the task table)
        self.ops: Counter = Counter()
        self.requests = 0
        self.bytes = Counter()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors = 0
        self.error_samples: list[str] = []
        self.measuring = False
        self.measure_start = self.measure_end = 0.0
        self.lock_samples: list[tuple[str | None, int]] = []  # (lock holder's state, writers waiting)

    # ------------------------------------------------------------ requests
    async def _req(self, c: httpx.AsyncClient, kind: str, method: str, url: str, expect: tuple[int, ...],
                   **kw) -> httpx.Response:
        t0 = time.perf_counter()
        r = await c.request(method, url, **kw)
        elapsed = time.perf_counter() - t0
        self.requests += self.measuring
        if r.status_code not in expect:
            raise Problem(f"{method} {kind}: {r.status_code} {r.text[:300]}")
        if self.measuring:
            self.latency[f"req_{kind}"].append(elapsed)
        return r

    @contextlib.asynccontextmanager
    async def _session(self, account: str):
        """(client, path prefix of the account's registry): a new connection, logged in."""
        async with httpx.AsyncClient(base_url=self.xr.url, timeout=60, verify=TLS) as c:
            r = await self._req(c, "challenge", "GET", "/v2/", (401,))
            if not r.headers.get("www-authenticate", "").startswith("Basic "):
                raise Problem(f"challenge: {r.headers.get('www-authenticate')!r}")
            c.headers.update(self.auth[account])
            yield c, f"/v2/{self.prefix[account]}"

    # ------------------------------------------------------------ operations
    async def push(self, rng: random.Random, client: int, seq: int) -> None:
        repo = REPOS[client % len(REPOS)]
        layers = [self.base_layers[repo]] + [os.urandom(rng.randint(4, 256) * KiB) for _ in range(rng.randint(1, 2))]
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Labels": {"soak.client": str(client), "soak.seq": str(seq)}},
                             "rootfs": {"type": "layers", "diff_ids": [wl.sha256(x) for x in layers]}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": wl.OCI_MANIFEST,
                               "config": {"mediaType": wl.OCI_CONFIG, "digest": wl.sha256(config), "size": len(config)},
                               "layers": [{"mediaType": wl.OCI_LAYER, "digest": wl.sha256(x), "size": len(x)}
                                          for x in layers]}).encode()
        async with self._session(PROVIDER) as (c, base):
            for data in (*layers, config):
                digest = wl.sha256(data)
                r = await self._req(c, "blob_head", "HEAD", f"{base}{repo}/blobs/{digest}", (200, 404))
                if r.status_code == 200:
                    continue
                r = await self._req(c, "upload_start", "POST", f"{base}{repo}/blobs/uploads/", (202,))
                location = r.headers["location"]
                if len(data) > CHUNK and rng.random() < 1 / 3:  # chunked: PATCHes, then PUT ?digest=
                    for offset in range(0, len(data), CHUNK):
                        part = data[offset:offset + CHUNK]
                        r = await self._req(c, "upload_patch", "PATCH", location, (202,), content=part, headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + len(part) - 1}"})
                        if r.headers.get("range") != f"0-{offset + len(part) - 1}":
                            raise Problem(f"PATCH Range {r.headers.get('range')!r} after {offset + len(part)} bytes")
                        location = r.headers["location"]
                    r = await self._req(c, "upload_finish", "PUT", wl._with_digest(location, digest), (201,))
                else:
                    r = await self._req(c, "upload_finish", "PUT", wl._with_digest(location, digest), (201,),
                                        content=data, headers={"Content-Type": "application/octet-stream"})
                if r.headers.get("docker-content-digest") != digest:
                    raise Problem(f"blob PUT answered digest {r.headers.get('docker-content-digest')}")
                self.bytes["pushed"] += len(data) * self.measuring
            tag = f"c{client}-{seq}"
            digest = wl.sha256(manifest)
            r = await self._req(c, "manifest_put", "PUT", f"{base}{repo}/manifests/{tag}", (201,), content=manifest,
                                headers={"Content-Type": wl.OCI_MANIFEST})
            if r.headers.get("docker-content-digest") != digest:
                raise Problem(f"manifest PUT answered digest {r.headers.get('docker-content-digest')}")
        image = Image(repo, tag, digest, manifest, [(wl.sha256(x), len(x)) for x in (config, *layers)])
        self.images.append(image)
        self.by_key[(repo, digest)] = image

    async def pull_image(self, c: httpx.AsyncClient, base: str, image: Image) -> None:
        """The manifest by tag and every blob, each checked against its digest."""
        r = await self._req(c, "manifest_get", "GET", f"{base}{image.repo}/manifests/{image.tag}", (200,),
                            headers={"Accept": wl.OCI_MANIFEST})
        if r.content != image.manifest or wl.sha256(r.content) != image.digest \
                or r.headers.get("docker-content-digest") != image.digest:
            raise Problem(f"manifest {image.repo}:{image.tag} differs from {image.digest}")
        for digest, size in image.blobs:
            r = await self._req(c, "blob_get", "GET", f"{base}{image.repo}/blobs/{digest}", (200,))
            if len(r.content) != size or wl.sha256(r.content) != digest:
                raise Problem(f"blob {digest} of {image.repo}: {len(r.content)} bytes, {wl.sha256(r.content)}")
            self.bytes["pulled"] += size * self.measuring

    async def pull(self, rng: random.Random, client: int, seq: int, account: str = PROVIDER) -> None:
        image = rng.choice(self.images if account == PROVIDER else self.replicas)
        async with self._session(account) as (c, base):
            await self.pull_image(c, base, image)

    async def pull_replica(self, rng: random.Random, client: int, seq: int) -> None:
        await self.pull(rng, client, seq, OWNER)

    async def list_tags(self, rng: random.Random, client: int, seq: int) -> None:
        """Every tag of the repository, page by page; all tags acknowledged before must be there."""
        repo = rng.choice(REPOS)
        known = {i.tag for i in self.images if i.repo == repo}
        tags: list[str] = []
        async with self._session(PROVIDER) as (c, base):
            url = f"{base}{repo}/tags/list?n=100"
            while url:
                r = await self._req(c, "tags_list", "GET", url, (200,))
                tags += r.json().get("tags") or []
                link = re.match(r"<([^>]+)>", r.headers.get("link", ""))
                url = link.group(1) if link else None
        if missing := known - set(tags):
            raise Problem(f"tags/list of {repo} lacks {len(missing)} acknowledged tags, e.g. {sorted(missing)[:3]}")
        if len(tags) != len(set(tags)):
            raise Problem(f"tags/list of {repo} repeats tags")

    async def login(self, rng: random.Random, client: int, seq: int) -> None:
        """GetAuthorizationToken (SigV4-signed, as `aws ecr get-login-password`); later sessions use it."""
        account = rng.choice((PROVIDER, OWNER))
        t0 = time.perf_counter()
        password = await asyncio.to_thread(_password, self.ecr[account])
        if self.measuring:
            self.latency["req_get_authorization_token"].append(time.perf_counter() - t0)
            self.requests += 1
        self.auth[account] = _basic(password)

    # ------------------------------------------------------------ the loop
    async def client(self, i: int, deadline: float) -> None:
        rng = random.Random(f"{i}-{time.time_ns()}")
        kinds, weights = list(MIX), list(MIX.values())
        seq = 0
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            if kind == "pull_replica" and not self.replicas:
                kind = "pull"
            if kind in ("pull", "list_tags") and not self.images:
                kind = "push"
            seq += 1
            t0 = time.perf_counter()
            try:
                await getattr(self, kind)(rng, i, seq)
            except Exception as exc:  # every failure counts, whatever it is
                self.errors += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}"[:500])
                continue
            if self.measuring:  # completed inside the measured window
                self.ops[kind] += 1
                self.latency[kind].append(time.perf_counter() - t0)

    async def _watch(self, stop: asyncio.Event, interval: float, query: str, params, handle) -> None:
        """Runs `query` on the database every `interval` seconds until `stop`; `handle` takes the rows."""
        import psycopg

        with await asyncio.to_thread(psycopg.connect, self.db_url, autocommit=True) as conn:
            while not stop.is_set():
                handle(await asyncio.to_thread(lambda: conn.execute(query, params()).fetchall()))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    def follow_replication(self, stop: asyncio.Event):
        """Images whose replication finished become candidates for replica pulls."""
        seen: set[int] = set()

        def handle(rows):
            for task_id, repo, digest in rows:
                if task_id not in seen and (image := self.by_key.get((repo, digest))):
                    seen.add(task_id)
                    self.replicas.append(image)
        return self._watch(stop, 1.0, "select id, repository_name, manifest_digest from replication_tasks "
                                      "where status = 'COMPLETE' and finished_at > %s",
                           lambda: (time.time() - 30,), handle)

    def watch_write_lock(self, stop: asyncio.Event):
        """Samples PostgreSQL's lock table during the measured window: is the write lock
        (crossreg/metadata/db.py: every write transaction takes it) held, by a transaction in
        which state, and how many writers wait for it."""
        from crossreg.metadata.db import WRITE_LOCK_KEY

        def handle(rows):
            if self.measuring:
                holder = next((state for granted, state in rows if granted), None)
                self.lock_samples.append((holder, sum(not granted for granted, _ in rows)))
        return self._watch(stop, 0.2, "select l.granted, a.state from pg_locks l join pg_stat_activity a "
                                      "on a.pid = l.pid where l.locktype = 'advisory' and l.classid = 0 "
                                      "and l.objid = %s and l.objsubid = 1", lambda: (WRITE_LOCK_KEY,), handle)

    async def run(self, on_measure_start, on_measure_end) -> None:
        stop = asyncio.Event()
        follower = asyncio.create_task(self.follow_replication(stop))
        lock_watch = asyncio.create_task(self.watch_write_lock(stop))
        start = time.monotonic()
        deadline = start + self.plan.warmup + self.seconds
        clients = [asyncio.create_task(self.client(i, deadline)) for i in range(self.plan.clients)]
        await asyncio.sleep(self.plan.warmup)
        on_measure_start()
        self.measure_start = time.monotonic()
        self.measuring = True
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        self.measuring = False
        self.measure_end = time.monotonic()
        on_measure_end()
        await asyncio.gather(*clients)  # operations in flight finish (and count if they fail)
        stop.set()
        await asyncio.gather(follower, lock_watch)

    def write_lock(self) -> dict:
        """How busy the write lock was: the fraction of samples it was held, by a transaction
        running a statement ('active') or between statements, its process busy with something
        else ('idle in transaction'); and how many writers waited for it."""
        n = len(self.lock_samples) or 1
        states = Counter(h for h, _ in self.lock_samples if h is not None)
        return {"samples": len(self.lock_samples),
                "held_fraction": round(sum(states.values()) / n, 3),
                "holder_state_fraction": {k: round(v / n, 3) for k, v in states.most_common()},
                "waiting_mean": round(sum(w for _, w in self.lock_samples) / n, 2),
                "waiting_max": max((w for _, w in self.lock_samples), default=0)}


# ------------------------------------------------------------------ CPU
def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class CpuMeter:
    """CPU seconds of each part of the layout over the measured window."""

    def __init__(self, xr: sv.Crossreg, pg_pid: int | None, s3_pids: list[int]):
        self.parts = {"api": lambda: sv.tree_cpu_seconds(xr.proc.pid),
                      "worker": lambda: sv.tree_cpu_seconds(xr.worker.pid),
                      "postgres": (lambda: sv.tree_cpu_seconds(pg_pid, exited=True)) if pg_pid else None,
                      "s3": (lambda: sum(sv.tree_cpu_seconds(p) for p in s3_pids)) if s3_pids else None,
                      "client": lambda: sum(os.times()[:2])}
        self.api_pids = xr.api_pids()

    def sample(self) -> dict:
        out = {k: (f() if f else None) for k, f in self.parts.items()}
        out["api_processes"] = [sv.tree_cpu_seconds(p) for p in self.api_pids]
        out["machine"] = _machine_jiffies()
        out["t"] = time.monotonic()
        return out

    @staticmethod
    def window(a: dict, b: dict) -> dict:
        wall = b["t"] - a["t"]
        seconds = {k: (round(b[k] - a[k], 1) if a[k] is not None else None)
                   for k in ("api", "worker", "postgres", "s3", "client")}
        busy = (b["machine"][0] - a["machine"][0]) / max(1, b["machine"][1] - a["machine"][1])
        cores = os.cpu_count() or 1
        known = sum(v for v in seconds.values() if v)
        return {"wall_seconds": round(wall, 1), "cpu_seconds": seconds,
                "cores_busy": {k: (round(v / wall, 2) if v is not None else None) for k, v in seconds.items()},
                "api_process_seconds": [round(y - x, 1) for x, y in zip(a["api_processes"], b["api_processes"])],
                "machine_busy_fraction": round(busy, 3),
                "machine_cores_busy": round(busy * cores, 2),
                "other_cores_busy": round(max(0.0, busy * cores - known / wall), 2)}


# ------------------------------------------------------------------ checks after the load
def _sql(db_url: str, query: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def wait_for_replication(db_url: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not _sql(db_url, "select 1 from replication_tasks where status in ('PENDING', 'IN_PROGRESS') limit 1"):
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def check_replication(load: Load, db_url: str, owner_id: str, describe_sample: int) -> dict:
    """Every acknowledged image of a replicated repository has exactly one replication task,
    COMPLETE; the repositories outside the rule's prefix have none; DescribeImageReplicationStatus
    agrees (for `describe_sample` images, all if 0)."""
    rows = _sql(db_url, "select repository_name, manifest_digest, status, attempts, dest_account, dest_region, "
                        "created_at, finished_at from replication_tasks")
    tasks: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in rows:
        tasks[(row[0], row[1])].append(row)
    expected = [i for i in load.images if i.replicated]
    problems: list[str] = []
    complete_once = 0
    for image in expected:
        found = tasks.get((image.repo, image.digest), [])
        if len(found) == 1 and found[0][2] == "COMPLETE" and found[0][4:6] == (owner_id, REGION):
            complete_once += 1
        elif len(problems) < 20:
            problems.append(f"{image.repo}@{image.digest}: {[(t[2], t[3]) for t in found]}")
    acked = {(i.repo, i.digest) for i in load.images}
    unexpected = [k for k in tasks if k not in acked or not k[0].startswith(PREFIX + "/")]
    lags = sorted(r[7] - r[6] for r in rows if r[7] is not None)
    sample = expected if not describe_sample else random.sample(expected, min(describe_sample, len(expected)))

    def describe(image: Image) -> bool:
        st = load.ecr[PROVIDER].describe_image_replication_status(
            repositoryName=image.repo, imageId={"imageDigest": image.digest})["replicationStatuses"]
        return [(s["registryId"], s["region"], s["status"]) for s in st] == [(owner_id, REGION, "COMPLETE")]

    with ThreadPoolExecutor(8) as pool:
        described = sum(pool.map(describe, sample))
    return {"images_replicated_repos": len(expected), "complete_exactly_once": complete_once,
            "tasks": len(rows), "failed": sum(r[2] == "FAILED" for r in rows),
            "not_finished": sum(r[2] in ("PENDING", "IN_PROGRESS") for r in rows),
            "attempts": dict(Counter(str(r[3]) for r in rows)),
            "unexpected_tasks": len(unexpected), "problems": problems,
            "describe_checked": len(sample), "describe_complete": described,
            "lag_seconds_p50": round(percentile(lags, 50), 3) if lags else None,
            "lag_seconds_p99": round(percentile(lags, 99), 3) if lags else None,
            "ok": complete_once == len(expected) and not unexpected and described == len(sample)}


async def verify_images(load: Load, concurrency: int = 16) -> dict:
    """Every acknowledged image pulls back from the provider, every replicated one from the
    owner's registry too: manifest by tag and every blob, digests recomputed."""
    jobs = [(PROVIDER, i) for i in load.images] + [(OWNER, i) for i in load.images if i.replicated]
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    failures: list[str] = []
    done = Counter()

    async def verifier():
        async with contextlib.AsyncExitStack() as stack:
            sessions = {}
            while not queue.empty():
                account, image = queue.get_nowait()
                if account not in sessions:
                    sessions[account] = await stack.enter_async_context(load._session(account))
                try:
                    await load.pull_image(*sessions[account], image)
                    done[account] += 1
                except (Problem, httpx.HTTPError) as exc:
                    failures.append(f"{account} {image.repo}:{image.tag}: {exc}"[:300])

    t0 = time.monotonic()
    await asyncio.gather(*(verifier() for _ in range(concurrency)))
    return {"images": len(load.images), "verified": done[PROVIDER],
            "replicas": sum(i.replicated for i in load.images), "replicas_verified": done[OWNER],
            "failures": len(failures), "failure_samples": failures[:20],
            "seconds": round(time.monotonic() - t0, 1), "ok": not failures and sum(done.values()) == len(jobs)}


def server_log_problems(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
                    out.append(f"{path.name}: {line[:300]}")
    return out


def server_5xx(url: str) -> float | None:
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("crossreg_http_requests_total{") and re.search(r'status="5\d\d"', line))


# ------------------------------------------------------------------ one process count
@dataclass
class Stores:
    """The shared services: PostgreSQL (a database per process count) and S3 (a bucket per
    process count), or a directory when Ceph could not start."""
    admin_url: str
    pg_pid: int | None
    postgres: object  # a description, then a dict with the server's settings
    s3: object | None = None  # CephS3Server
    s3_note: str = ""
    notes: list[str] = field(default_factory=list)


def run_one(n: int, plan: Plan, stores: Stores, work: Path, seconds: float, worker_concurrency: int) -> dict:
    from tests.support.postgres import create_database

    print(f"\n== {n} API process{'es' if n > 1 else ''} + 1 worker, {plan.clients} clients, "
          f"{plan.warmup:.0f} s warm-up + {seconds:.0f} s ==", flush=True)
    db_url = create_database(stores.admin_url, prefix="crossreg_soak")
    env = {"CROSSREG_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
    if stores.s3 is not None:
        bucket = stores.s3.create_bucket(f"soak-{n}-{os.getpid()}")
        env.update(stores.s3.env(), CROSSREG_STORAGE_URL=f"s3://{bucket}/crossreg")
    else:
        (work / f"blobs-{n}").mkdir(parents=True, exist_ok=True)
        env["CROSSREG_STORAGE_URL"] = f"file://{work / f'blobs-{n}'}"
    xr = sv.Crossreg(work, f"crossreg-{n}", embedded_workers=False, processes=n, **env)
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    try:
        with ThreadPoolExecutor(3) as pool:  # the first of them to connect migrates the new database
            for f in [pool.submit(xr.create_account, PROVIDER), pool.submit(xr.create_account, OWNER),
                      pool.submit(xr.start)]:
                f.result()
        xr.start_worker(worker_concurrency)
        _configure_replication(xr, PREFIX)
        ecr = xr.ecr(PROVIDER)
        for repo in REPOS:
            ecr.create_repository(repositoryName=repo)
        load = Load(xr, db_url, plan, seconds)
        s3_pids = [p.pid for p in stores.s3.processes] if stores.s3 is not None else []
        meter = CpuMeter(xr, stores.pg_pid, s3_pids)
        samples = {}
        phase("setup")
        asyncio.run(load.run(lambda: samples.setdefault("a", meter.sample()),
                             lambda: samples.setdefault("b", meter.sample())))
        cpu = CpuMeter.window(samples["a"], samples["b"])
        elapsed = load.measure_end - load.measure_start
        phase("load")
        print(f"  load done: {sum(load.ops.values())} operations, {load.errors} errors; waiting for replication",
              flush=True)
        drain = wait_for_replication(db_url, plan.drain_timeout)
        phase("replication_drain")
        replication = check_replication(load, db_url, xr.accounts[OWNER]["accountId"], plan.describe_sample)
        replication["drain_seconds_after_load"] = round(drain, 1)
        phase("replication_check")
        print(f"  replication: {replication['complete_exactly_once']}/{replication['images_replicated_repos']} "
              f"COMPLETE exactly once (drained {drain:.1f} s after the load); re-pulling every image", flush=True)
        verification = asyncio.run(verify_images(load))
        phase("verification")
        fivexx = server_5xx(xr.url)
    finally:
        xr.stop()
    log_problems = server_log_problems([xr.dir / "server.log", xr.dir / "worker.log"])
    ops = dict(load.ops)
    total_ops = sum(ops.values())

    def lat(kind: str) -> dict:
        values = load.latency.get(kind) or []
        return {"count": len(values), "p50_ms": round(percentile(values, 50) * 1000, 1) if values else None,
                "p99_ms": round(percentile(values, 99) * 1000, 1) if values else None}

    result = {
        "processes": n, "clients": plan.clients, "worker_concurrency": worker_concurrency,
        "warmup_seconds": plan.warmup, "seconds": round(elapsed, 1),
        "storage": "s3" if stores.s3 is not None else "filesystem",
        "operations": ops, "operations_total": total_ops,
        "ops_per_second": {k: round(v / elapsed, 2) for k, v in sorted(ops.items())}
                          | {"total": round(total_ops / elapsed, 2)},
        "images_pushed_per_second": round(ops.get("push", 0) / elapsed, 2),
        "images_pulled_per_second": round((ops.get("pull", 0) + ops.get("pull_replica", 0)) / elapsed, 2),
        "requests": load.requests, "requests_per_second": round(load.requests / elapsed, 1),
        "mb_per_second": {k: round(v / elapsed / MB, 2) for k, v in load.bytes.items()},
        "errors": load.errors, "error_samples": load.error_samples,
        "server_5xx": fivexx, "server_log_problems": len(log_problems), "server_log_samples": log_problems[:10],
        "latency": {k: lat(k) for k in ("push", "pull", "pull_replica", "list_tags", "login")}
                   | {k: lat(k) for k in sorted(load.latency) if k.startswith("req_")},
        "cpu": cpu, "write_lock": load.write_lock(), "replication": replication, "verification": verification,
        "images_pushed_total": len(load.images),
        "loadavg_at_start": loadavg_start, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "phase_seconds": phases,
    }
    result["ok"] = (load.errors == 0 and replication["ok"] and verification["ok"] and not fivexx
                    and not log_problems)
    print(f"  {total_ops / elapsed:.1f} ops/s ({load.requests / elapsed:.0f} requests/s), errors {load.errors}, "
          f"replication {replication['complete_exactly_once']}/{replication['images_replicated_repos']}, "
          f"re-pulled {verification['verified']}/{verification['images']} + replicas "
          f"{verification['replicas_verified']}/{verification['replicas']}, "
          f"CPU busy {cpu['machine_cores_busy']}/{os.cpu_count()} cores", flush=True)
    return result


# ------------------------------------------------------------------ the shared services
def start_stores(cleanup: list, postgres_url: str | None, use_s3: bool, s3_endpoint: str | None) -> Stores:
    """PostgreSQL (a throwaway cluster with production durability settings, unless
    `postgres_url` names a server) and the S3 store; what to stop afterwards goes to `cleanup`."""
    from tests.support.postgres import PostgresCluster
    from tests.support.s3server import CephS3Server, missing_binaries

    if postgres_url:
        stores = Stores(postgres_url, None, "the server given with --postgres-url")
    else:
        cluster = PostgresCluster(tempfile.mkdtemp(prefix="crossreg-soak-pg-"))
        cleanup.append(cluster.destroy)
        cluster.init()
        with open(cluster.data / "postgresql.conf", "a") as conf:  # after the test settings: these win
            conf.write("# soak: durable commits, as in production\n"
                       "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\nshared_buffers = 256MB\n")
        cluster.start()
        pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        stores = Stores(cluster.url, pid, "throwaway cluster (initdb), fsync=on, synchronous_commit=on, "
                                          "shared_buffers=256MB, max_connections=300")
    settings = _sql(stores.admin_url, "select name, setting from pg_settings where name in "
                                      "('fsync', 'synchronous_commit', 'server_version', 'max_connections')")
    stores.postgres = {"setup": stores.postgres, **dict(settings)}
    if s3_endpoint:
        class Running(CephS3Server):
            """A test S3 server started elsewhere (its credentials are the class's), e.g. by pytest."""
            endpoint_url = s3_endpoint
            processes: list = []

            def __init__(self):
                pass
        stores.s3, stores.s3_note = Running(), "the test S3 server given with --s3-endpoint (Ceph radosgw)"
    elif use_s3 and not (missing := missing_binaries()):
        s3 = CephS3Server(tempfile.mkdtemp(prefix="crossreg-soak-s3-"))
        try:
            s3.start()
            cleanup.append(lambda: (s3.stop(), shutil.rmtree(s3.root, ignore_errors=True)))
            stores.s3, stores.s3_note = s3, "Ceph radosgw (one-node cluster, memstore), tests/support/s3server.py"
        except RuntimeError as exc:
            shutil.rmtree(s3.root, ignore_errors=True)
            stores.s3_note = f"filesystem: Ceph S3 could not start ({str(exc).splitlines()[0][:200]})"
    else:
        stores.s3_note = ("filesystem (--no-s3)" if not use_s3
                          else f"filesystem: Ceph is not installed (missing {', '.join(missing)})")
    if stores.s3 is None:
        stores.notes.append(f"blobs on a shared directory instead of S3: {stores.s3_note}")
        print(f"NOTE: {stores.notes[-1]}", flush=True)
    return stores


# ------------------------------------------------------------------ report
def curve(runs: list[dict]) -> list[dict]:
    base = next((r for r in runs if r["processes"] == 1), runs[0])
    return [{"processes": r["processes"], "ops_per_second": r["ops_per_second"]["total"],
             "requests_per_second": r["requests_per_second"],
             "ratio_to_1": round(r["ops_per_second"]["total"] / base["ops_per_second"]["total"], 2)
             if base["ops_per_second"]["total"] else None,
             "requests_ratio_to_1": round(r["requests_per_second"] / base["requests_per_second"], 2)
             if base["requests_per_second"] else None,
             "machine_cores_busy": r["cpu"]["machine_cores_busy"]} for r in runs]


def _f2(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def table(runs: list[dict]) -> str:
    lines = ["| API processes | seconds | ops/s | ratio to 1 | push/s | pull/s | replica pull/s | tag lists/s "
             "| requests/s | MB/s up / down | errors | push p50 / p99 (ms) | pull p50 / p99 (ms) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    points = {c["processes"]: c for c in curve(runs)}
    for r in runs:
        o, lat, mb = r["ops_per_second"], r["latency"], r["mb_per_second"]
        lines.append(
            f"| {r['processes']} | {r['seconds']:.0f} | {o['total']:.1f} | {_f2(points[r['processes']]['ratio_to_1'])} "
            f"| {o.get('push', 0):.1f} | {o.get('pull', 0):.1f} | {o.get('pull_replica', 0):.1f} "
            f"| {o.get('list_tags', 0):.1f} | {r['requests_per_second']:.0f} "
            f"| {mb.get('pushed', 0):.1f} / {mb.get('pulled', 0):.1f} | {r['errors']} "
            f"| {_fmt(lat['push']['p50_ms'])} / {_fmt(lat['push']['p99_ms'])} "
            f"| {_fmt(lat['pull']['p50_ms'])} / {_fmt(lat['pull']['p99_ms'])} |")
    lines += ["", "| API processes | cores busy: API / worker / PostgreSQL / S3 / clients / other | machine "
                  "| per API process (CPU s) | images | replication COMPLETE once | lag p50 / p99 (s) "
                  "| re-pulled (source + replica) |",
              "|---:|---|---:|---|---:|---:|---:|---:|"]
    for r in runs:
        b, rep, ver = r["cpu"]["cores_busy"], r["replication"], r["verification"]
        parts = " / ".join(_f2(b[k]) for k in ("api", "worker", "postgres", "s3", "client"))
        lines.append(
            f"| {r['processes']} | {parts} / {_f2(r['cpu']['other_cores_busy'])} "
            f"| {r['cpu']['machine_cores_busy']:.2f} of {os.cpu_count()} "
            f"| {', '.join(f'{x:.0f}' for x in r['cpu']['api_process_seconds'])} | {r['images_pushed_total']} "
            f"| {rep['complete_exactly_once']}/{rep['images_replicated_repos']} "
            f"| {_fmt(rep['lag_seconds_p50'])} / {_fmt(rep['lag_seconds_p99'])} "
            f"| {ver['verified']}/{ver['images']} + {ver['replicas_verified']}/{ver['replicas']} |")
    return "\n".join(lines)


def _processes(text: str) -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of process counts, e.g. 1,2,4")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="N=1,2 for 15 s each (CI; well under 2 minutes)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="load time at the largest N [full: 4; the other N get at most 1.75 minutes]")
    ap.add_argument("--processes", type=_processes, default=None, help="API process counts [full: 1,2,4; short: 1,2]")
    ap.add_argument("--clients", type=int, default=None, help="concurrent clients [64]")
    ap.add_argument("--worker-concurrency", type=int, default=8, help="the `crossreg worker`'s concurrency [8]")
    ap.add_argument("--json", type=Path, default=None,
                    help="where the results go [default: bench/results/soak-latest.json, or a temp file with --short]")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch directory [default: a temp dir]")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    ap.add_argument("--postgres-url", default=None,
                    help="an admin URL of a running PostgreSQL server to use instead of a throwaway cluster "
                         "(a new database per process count)")
    ap.add_argument("--s3-endpoint", default=None,
                    help="a running test S3 server (tests/support/s3server.py) instead of starting one")
    ap.add_argument("--no-s3", action="store_true", help="blobs on a shared directory instead of S3")
    args = ap.parse_args(argv)
    plan = SHORT if args.short else FULL
    if args.processes:
        plan = replace(plan, processes=args.processes)
    if args.clients:
        plan = replace(plan, clients=args.clients)
    if args.minutes:
        plan = replace(plan, seconds_top=args.minutes * 60, seconds_other=min(plan.seconds_other, args.minutes * 60))
    work = Path(tempfile.mkdtemp(prefix="crossreg-soak-", dir=args.workdir))
    started = time.time()
    mach = {k: v for k, v in machine().items() if k not in ("distribution", "skopeo")}
    print(f"crossreg soak ({plan.name}) — {mach['cores']} cores, {mach['memory_gib']} GiB, {mach['os']}, "
          f"load average {mach['loadavg_at_start']}; processes {list(plan.processes)}, {plan.clients} clients",
          flush=True)
    cleanup: list = []
    runs: list[dict] = []
    try:
        stores = start_stores(cleanup, args.postgres_url, not args.no_s3, args.s3_endpoint)
        for n in plan.processes:
            runs.append(run_one(n, plan, stores, work, plan.seconds(n), args.worker_concurrency))
            if stores.s3 is not None and stores.s3.processes:
                _empty_buckets(stores.s3)  # the store keeps objects in memory
    finally:
        for fn in reversed(cleanup):
            fn()
        if not args.keep:
            sv.remove(work)
    report = table(runs)
    print("\n" + report)
    ok = all(r["ok"] for r in runs)
    out = {"plan": asdict(plan) | {"processes": list(plan.processes), "mix": MIX, "repositories": REPOS,
                                   "chunk_bytes": CHUNK},
           "machine": mach, "layout": {
               "api": "crossreg serve --workers N (uvicorn processes sharing one port), CROSSREG_EMBEDDED_WORKERS=0",
               "worker": f"one crossreg worker --concurrency {args.worker_concurrency}",
               "postgres": stores.postgres, "storage": stores.s3_note,
               "clients": f"{plan.clients} asyncio clients (httpx) in one process on the same machine"},
           "notes": stores.notes, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
           "seconds": round(time.time() - started, 1), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
           "runs": runs, "curve": curve(runs), "ok": ok, "table": report}
    if args.json:
        path = args.json
    elif args.short:
        path = Path(tempfile.gettempdir()) / "crossreg-soak-short.json"
    else:
        path = Path(__file__).resolve().parent / "results" / "soak-latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwrote {path} ({time.time() - started:.0f}s): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def _empty_buckets(s3) -> None:
    client = s3.client()
    for bucket in client.list_buckets().get("Buckets", []):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket["Name"], Delete={"Objects": keys})


if __name__ == "__main__":
    sys.exit(main())
