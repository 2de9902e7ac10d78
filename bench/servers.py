"""The servers a benchmark run starts and stops: crossreg (as the README runs it), CNCF
Distribution (Debian's docker-registry, throwaway config), and two minimal loopback servers that
measure what the machine allows (a static file sent with sendfile, an upload sink)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f}s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ memory of a process tree
def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree_rss(pid: int) -> int:
    """Resident set size in bytes of a process and its descendants."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
        todo += _children(p)
    return total


def tree_cpu_seconds(pid: int, exited: bool = False) -> float:
    """User + system CPU seconds of a process and its live descendants (`exited`: and of the
    descendants that have exited and been waited for, like PostgreSQL's backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15 if exited else 13]) / tick
        except OSError:
            continue
        todo += _children(p)
    return total


class RssSampler:
    """Samples a process tree's RSS every `interval` seconds; `peak` is the maximum seen."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.peak = self.start_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start_rss = self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


# ------------------------------------------------------------------ the registries
@dataclass
class Target:
    """A registry under test, as the clients see it."""
    name: str
    url: str
    pid: int
    headers: dict = field(default_factory=dict)   # Authorization for every request
    prefix: str = ""                              # path before the repository name
    skopeo_creds: list[str] = field(default_factory=list)

    def repo(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def prepare_repository(self, name: str) -> None:
        """Create the repository where the registry needs it (ECR does; Distribution does not)."""


class Distribution:
    def __init__(self, workdir: Path):
        self.dir = workdir / "distribution"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def version(self) -> str | None:
        if not os.path.exists(DISTRIBUTION):
            return None
        out = subprocess.run([DISTRIBUTION, "--version"], capture_output=True, text=True)
        # "<path> github.com/docker/distribution 2.8.2+ds1": keep the project and version
        return " ".join(out.stdout.split()[1:]) or out.stdout.strip()

    def start(self) -> Target:
        if not os.path.exists(DISTRIBUTION):
            raise RuntimeError(f"{DISTRIBUTION} is missing: apt-get install docker-registry")
        (self.dir / "storage").mkdir(parents=True, exist_ok=True)
        config = self.dir / "config.yml"
        # Throwaway config: filesystem storage in a temp dir, HTTP on loopback, no auth.
        config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "storage")},
                        "delete": {"enabled": True}, "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": "bench-only-secret"},
        }))
        log = self.dir / "server.log"
        self.proc = subprocess.Popen([DISTRIBUTION, "serve", str(config)], stdout=open(log, "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.port}"
        _wait_http(f"{url}/v2/", self.proc, log)
        return Target("distribution", url, self.proc.pid)

    def stop(self) -> None:
        _stop(self.proc)


class CrossregTarget(Target):
    def __init__(self, *args, ecr=None, **kw):
        super().__init__(*args, **kw)
        self.ecr = ecr

    def prepare_repository(self, name: str) -> None:
        try:
            self.ecr.create_repository(repositoryName=name)
        except self.ecr.exceptions.RepositoryAlreadyExistsException:
            pass


def crossreg_command() -> list[str]:
    """`crossreg` as installed in this environment (the README's `.venv/bin/crossreg`)."""
    script = Path(sys.executable).with_name("crossreg")
    return [str(script)] if script.exists() else [sys.executable, "-m", "crossreg.cli.main"]


class Crossreg:
    """`crossreg serve` on the embedded default (SQLite + files), one API process: what
    scripts/serve.sh runs (the README's quick start). `embedded_workers=False` leaves the
    replication queue to a separate `crossreg worker`."""

    def __init__(self, workdir: Path, name: str = "crossreg", embedded_workers: bool = True,
                 processes: int = 1, **env: str):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.embedded_workers = embedded_workers
        self.processes = processes  # `serve --workers N` (N > 1 needs CROSSREG_DATABASE_URL on PostgreSQL)
        self.proc: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.accounts: dict[str, dict] = {}
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CROSSREG_", "AWS_"))},
                    "CROSSREG_DATA_DIR": str(self.dir / "data"), "CROSSREG_LOG_LEVEL": "WARNING",
                    "CROSSREG_EMBEDDED_WORKERS": "1" if embedded_workers else "0", **env}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run([*crossreg_command(), "--log-level", "WARNING", *args], env=self.env,
                             capture_output=True, text=True, cwd=REPO_ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"crossreg {' '.join(args)}: {out.stderr[-2000:]}")
        return out.stdout

    def create_account(self, name: str) -> dict:
        acct = json.loads(self.cli("accounts", "create", "--name", name))
        self.accounts[name] = acct
        return acct

    def start(self) -> None:
        log = self.dir / "server.log"
        self.proc = subprocess.Popen([*crossreg_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--workers", str(self.processes)],
                                     env=self.env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=REPO_ROOT)
        _wait_http(f"{self.url}/healthz", self.proc, log)
        deadline = time.monotonic() + 60
        while self.processes > 1 and len(self.api_pids()) < self.processes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.api_pids())} of {self.processes} API processes came up")
            time.sleep(0.1)

    def api_pids(self) -> list[int]:
        """The API processes: uvicorn's worker processes under `serve --workers N` (N > 1; not
        multiprocessing's resource tracker), else the one `serve` process."""
        if self.processes == 1:
            return [self.proc.pid]

        def spawned(pid: int) -> bool:
            try:
                return b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                return False
        return [p for p in _children(self.proc.pid) if spawned(p)]

    def start_worker(self, concurrency: int = 8) -> None:
        log = self.dir / "worker.log"
        self.worker = subprocess.Popen([*crossreg_command(), "worker", "--concurrency", str(concurrency)],
                                       env=self.env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=REPO_ROOT)

    def ecr(self, account: str, region: str = "us-east-1"):
        import boto3

        acct = self.accounts[account]
        return boto3.client("ecr", endpoint_url=self.url, region_name=region,
                            aws_access_key_id=acct["accessKeyId"],
                            aws_secret_access_key=acct["secretAccessKey"])

    def target(self, account: str, region: str = "us-east-1") -> CrossregTarget:
        import base64

        ecr = self.ecr(account, region)
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        password = base64.b64decode(token).decode().partition(":")[2]
        acct = self.accounts[account]["accountId"]
        return CrossregTarget("crossreg", self.url, self.proc.pid,
                              headers={"Authorization": f"Basic {token}"}, prefix=f"{acct}/{region}/",
                              skopeo_creds=["AWS", password], ecr=ecr)

    def stop(self) -> None:
        _stop(self.worker)
        _stop(self.proc)


# ------------------------------------------------------------------ machine limits
class StaticFileServer:
    """The least a server can do to send a file over loopback: HTTP/1.1 headers, then
    os.sendfile (zero-copy) of the whole file, one thread per connection."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._running = True

    def _serve(self) -> None:
        while self._running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            size = self.path.stat().st_size
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size)
            with open(self.path, "rb") as f:
                offset = 0
                while offset < size:
                    sent = os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)
                    if sent == 0:
                        break
                    offset += sent

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        self.sock.close()


class UploadSink:
    """The least a server can do to receive an upload over loopback into a file: read the
    request body with recv_into into a 1 MiB buffer and write it out (no hashing, no fsync)."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._running = True

    def _serve(self) -> None:
        while self._running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            scratch = bytearray(1 << 20)
            view = memoryview(scratch)
            with open(self.path, "wb", buffering=0) as f:
                f.write(rest)
                remaining = length - len(rest)
                while remaining > 0:
                    n = conn.recv_into(view, min(len(scratch), remaining))
                    if n == 0:
                        break
                    f.write(view[:n])
                    remaining -= n
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._running = False
        self.sock.close()


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
