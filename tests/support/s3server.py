"""A throw-away S3-compatible object store for the tests: Ceph's RADOS Gateway (radosgw, the S3
service of a real, widely deployed object store) on a one-node Ceph cluster of our own.

Debian packages `ceph-mon`, `ceph-osd`, `radosgw` and `ceph-common` (scripts/setup.sh installs
them). The cluster is one monitor and one OSD keeping its objects in memory (memstore), with
authentication between the daemons off; everything (config, data, sockets, logs) lives in one
directory of our own, every daemon runs in the foreground as our child, on free loopback ports.
Nothing of the system's Ceph (systemd units, /etc/ceph, /var/lib/ceph) is used or touched.
Starting takes a few seconds; the S3 API then answers with the credentials of a user we create.

    python -m tests.support.s3server DIR    # start one by hand (prints its environment);
                                            # Ctrl-C or SIGTERM stops it
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")


def _die_with_parent() -> None:
    """(In the child, before exec) be killed when the test process dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CephS3Server:
    access_key = "CROSSREGTESTACCESSKEY"
    secret_key = "crossreg-test-secret-key-0123456789abcdef"
    region = "us-east-1"

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.conf = self.root / "ceph.conf"
        self.mon_port = _free_port()
        self.port = _free_port()
        self.processes: list[subprocess.Popen] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and crossreg's S3 store) at this server."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": self.region}

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    # -- lifecycle --
    def _write_conf(self) -> None:
        r = self.root
        self.conf.write_text(f"""[global]
fsid = {uuid.uuid4()}
mon host = v2:127.0.0.1:{self.mon_port}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = {4 << 30}
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
pid file = {r}/run/$name.pid
log to stderr = false
err to stderr = true
[mon.a]
mon data = {r}/mon
[osd.0]
osd data = {r}/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{self.port}
rgw data = {r}/rgw
rgw enable usage log = false
""")

    def _run(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run([*args[:1], "-c", str(self.conf), *args[1:]], capture_output=True,
                                text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} {args[1]} failed: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def _daemon(self, *args: str) -> None:
        log = open(self.root / "log" / f"{args[0]}.out", "ab")
        self.processes.append(subprocess.Popen(
            [args[0], "-f", "-c", str(self.conf), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
            cwd=self.root, start_new_session=True, preexec_fn=_die_with_parent))

    def start(self, timeout: float = 120) -> None:
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"Ceph is not installed (missing {', '.join(missing)})")
        deadline = time.time() + timeout
        for sub in ("mon", "osd", "rgw", "run", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_conf()
        try:
            self._run("monmaptool", "--create", "--clobber", "--fsid", self._fsid(),
                      "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]", str(self.root / "monmap"))
            self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.root / "monmap"))
            self._daemon("ceph-mon", "-i", "a")
            osd_uuid = str(uuid.uuid4())
            osd_id = self._run("ceph", "osd", "new", osd_uuid, timeout=60).strip()
            self._run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
            self._daemon("ceph-osd", "-i", osd_id)
            self._daemon("radosgw", "-n", "client.rgw")
            self._wait_http(deadline)
            self._run("radosgw-admin", "user", "create", "--uid", "crossreg-test",
                      "--display-name", "crossreg tests", "--access-key", self.access_key,
                      "--secret-key", self.secret_key, timeout=max(10, deadline - time.time()))
        except BaseException:
            logs = self.logs()
            self.stop()
            raise RuntimeError(f"could not start Ceph RGW in {self.root}:\n{logs}")

    def _fsid(self) -> str:
        for line in self.conf.read_text().splitlines():
            if line.startswith("fsid = "):
                return line.split(" = ", 1)[1]
        raise RuntimeError("no fsid")

    def _wait_http(self, deadline: float) -> None:
        while True:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
            try:
                httpx.get(self.endpoint_url, timeout=2)
                return
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise TimeoutError("radosgw did not answer")
                time.sleep(0.2)

    def logs(self, limit: int = 3000) -> str:
        text = []
        for path in sorted((self.root / "log").glob("*")):
            try:
                text.append(f"--- {path.name}\n{path.read_text(errors='replace')[-limit:]}")
            except OSError:
                pass
        return "\n".join(text)

    # -- outages: the gateway goes away while the cluster (and its objects) stays --
    def _gateway(self) -> subprocess.Popen | None:
        return next((p for p in self.processes if p.args[0] == "radosgw" and p.poll() is None), None)

    def stop_gateway(self) -> None:
        """Kill radosgw: the S3 endpoint refuses connections until `start_gateway`."""
        proc = self._gateway()
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self.processes.remove(proc)

    def start_gateway(self, timeout: float = 60) -> None:
        self._daemon("radosgw", "-n", "client.rgw")
        self._wait_http(time.time() + timeout)

    def stop(self) -> None:
        """Kill the daemons at once: the cluster keeps its data in memory and is thrown away
        (a polite shutdown can hang, e.g. radosgw waiting for a monitor that left first)."""
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.processes:
            proc.wait()
        self.processes = []


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.s3server DIR", file=sys.stderr)
        return 2
    server = CephS3Server(argv[0])
    server.start()
    for name, value in server.env().items():
        print(f"export {name}={value}")
    sys.stdout.flush()

    def leave(signum, frame):
        raise SystemExit(0)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, leave)
    try:
        signal.pause()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
