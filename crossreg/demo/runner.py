"""The data owner's side: run a replicated model image on this machine without a container
runtime.

1. Pull the image from the owner's own registry over the OCI API, verifying every digest
   (manifest, config, each layer) and each layer's uncompressed diff_id from the config.
2. Unpack the layers in order into a temporary root file system (tar entries that would escape
   it, device files and links out of the tree are refused; OCI whiteouts are applied).
3. Run the image's Entrypoint as a subprocess: its `python3` is this machine's Python, and
   paths inside the image are mapped into the unpacked tree. The process gets a minimal
   environment (no credentials, no proxies) and needs no network: in `http` mode it listens on
   127.0.0.1 only and the CSV is POSTed to /invocations; in `stdin` mode it reads the CSV from
   standard input, inside a network namespace with no interfaces where `unshare -n` works.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx

from crossreg.demo.oci_client import OciClient, Progress, VerificationError, pull_image

_GZIP_MAGIC = b"\x1f\x8b"


def _open_layer(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def _diff_id(path: Path) -> str:
    h = hashlib.sha256()
    with _open_layer(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def unpack_layers(layers: list[Path], diff_ids: list[str], rootfs: Path) -> list[str]:
    """Verify each layer's diff_id, then extract the layers in order into `rootfs`."""
    if len(layers) != len(diff_ids):
        raise VerificationError(f"{len(layers)} layers but {len(diff_ids)} diff_ids in the config")
    rootfs.mkdir(parents=True, exist_ok=True)
    for path, expected in zip(layers, diff_ids):
        actual = _diff_id(path)
        if actual != expected:
            raise VerificationError(f"layer {path.name}: uncompressed digest {actual} != diff_id {expected}")
        with _open_layer(path) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                name = name.strip("/")
                if not name:
                    continue
                parent, _, base = name.rpartition("/")
                if base.startswith(".wh."):  # OCI whiteouts
                    target = rootfs / parent / base[4:]
                    if base == ".wh..wh..opq":
                        for child in (rootfs / parent).glob("*"):
                            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
                    elif target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists() or target.is_symlink():
                        target.unlink()
                    continue
                try:
                    # 'data' refuses absolute names, '..', links leaving the tree, devices.
                    tar.extract(member, rootfs, filter="data")
                except (tarfile.FilterError, OSError) as exc:
                    if isinstance(exc, tarfile.FilterError):
                        raise VerificationError(f"refusing unsafe layer entry {member.name!r}: {exc}")
                    raise
    return diff_ids


def _inside(rootfs: Path, value: str) -> str:
    """An absolute path of the image mapped into the unpacked tree, when it exists there."""
    if value.startswith("/") and (rootfs / value.lstrip("/")).exists():
        return str(rootfs / value.lstrip("/"))
    return value


def command_for(config: dict, rootfs: Path, args: list[str], python: str) -> tuple[list[str], dict]:
    """(argv, env) to run the image's Entrypoint with `args` in place of its Cmd."""
    cfg = config.get("config") or {}
    entrypoint = list(cfg.get("Entrypoint") or [])
    if not entrypoint:
        raise ValueError("the image declares no Entrypoint")
    if Path(entrypoint[0]).name.startswith("python"):
        # `python3` is provided by this machine (the image may declare it expects a runtime
        # layer with it); -I: ignore the user's site-packages and PYTHON* variables.
        argv = [python, "-I"] + [_inside(rootfs, a) for a in entrypoint[1:]]
    else:
        argv = [_inside(rootfs, a) for a in entrypoint]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(rootfs)}
    for item in cfg.get("Env") or []:
        name, _, value = item.partition("=")
        if name != "PATH":
            env[name] = _inside(rootfs, value)
    return argv + list(args), env


def _network_isolation() -> list[str]:
    """A prefix that runs a command in a new network namespace with no interfaces, if this
    machine allows it (root, or unprivileged user namespaces)."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--map-root-user", "--net"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            pass
    return []


def run_http(config: dict, rootfs: Path, body: bytes, content_type: str = "text/csv",
             python: str = sys.executable, timeout: float = 30.0) -> dict:
    """Start the entrypoint on 127.0.0.1 (a free port), wait for /ping, POST /invocations."""
    argv, env = command_for(config, rootfs, ["--host", "127.0.0.1", "--port", "0"], python)
    cfg = config.get("config") or {}
    cwd = _inside(rootfs, cfg.get("WorkingDir") or "/")
    proc = subprocess.Popen(argv, env=env, cwd=cwd if Path(cwd).is_dir() else str(rootfs),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline().decode(errors="replace")
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            proc.wait(timeout=5)
            raise RuntimeError(f"the model did not start: {line}{proc.stderr.read().decode(errors='replace')}")
        url = f"http://127.0.0.1:{m.group(1)}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the model did not answer /ping")
            time.sleep(0.05)
        r = httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": content_type},
                       timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError(f"/invocations answered HTTP {r.status_code}: {r.text[:500]}")
        result = r.json()
        result["run"] = {"mode": "http", "listen": url, "argv": _display(argv, rootfs)}
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def run_stdin(config: dict, rootfs: Path, body: bytes, python: str = sys.executable,
              timeout: float = 60.0) -> dict:
    """Run the entrypoint's batch mode (`--predict -`) with the CSV on standard input, without
    network interfaces where possible."""
    argv, env = command_for(config, rootfs, ["--predict", "-"], python)
    prefix = _network_isolation()
    out = subprocess.run([*prefix, *argv], env=env, input=body, capture_output=True, timeout=timeout,
                         cwd=str(rootfs))
    if out.returncode != 0:
        raise RuntimeError(f"the model exited with {out.returncode}: {out.stderr.decode(errors='replace')}")
    result = json.loads(out.stdout)
    result["run"] = {"mode": "stdin", "network": "none (unshare --net)" if prefix else "not isolated",
                     "argv": _display(argv, rootfs)}
    return result


def _display(argv: list[str], rootfs: Path) -> list[str]:
    return [a.replace(str(rootfs), "<rootfs>") for a in argv]


def pull_and_run(endpoint: str, password: str, repo_path: str, reference: str, body: bytes,
                 workdir: Path, mode: str = "http", progress: Progress | None = None,
                 python: str = sys.executable) -> dict:
    """Everything the data owner does: pull + verify, unpack, run, predict."""
    with OciClient(endpoint, password) as client:
        pulled = pull_image(client, repo_path, reference, workdir / "blobs", progress)
    config = pulled["config"]
    rootfs = workdir / "rootfs"
    unpack_layers(pulled["layers"], config["rootfs"]["diff_ids"], rootfs)
    if mode == "stdin":
        result = run_stdin(config, rootfs, body, python)
    else:
        result = run_http(config, rootfs, body, python=python)
    metadata_path = rootfs / "opt/model/metadata.json"
    result["image"] = {
        "reference": f"{repo_path}:{reference}" if ":" not in reference else f"{repo_path}@{reference}",
        "manifest_digest": pulled["manifest_digest"],
        "verified_digests": pulled["verified"],
        "diff_ids_verified": config["rootfs"]["diff_ids"],
        "metadata": json.loads(metadata_path.read_text()) if metadata_path.exists() else None,
    }
    return result
