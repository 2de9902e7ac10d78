#!/usr/bin/env python3
"""crossreg's benchmark, side by side with CNCF Distribution (Debian's docker-registry) in the
same run on the same machine, plus the machine's own limits. See bench/README.md.

    .venv/bin/python bench/run.py            # full run (a few minutes), writes bench/results/latest.json
    .venv/bin/python bench/run.py --short    # well under 2 minutes (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench import servers as sv  # noqa: E402
from bench import workloads as wl  # noqa: E402

MiB = 1 << 20
MB = 1_000_000


@dataclass(frozen=True)
class Plan:
    name: str
    blob_size: int
    chunk_size: int
    reps: int
    small_blobs: int
    manifest_requests: int
    request_time_limit: float
    concurrency: tuple[int, ...]
    skopeo_layers: int
    skopeo_layer_size: int
    skopeo_reps: int
    replication_pushers: int
    replication_per_pusher: int
    drain_tasks: int


FULL = Plan("full", blob_size=512 * MiB, chunk_size=16 * MiB, reps=3, small_blobs=1000,
            manifest_requests=4000, request_time_limit=20.0, concurrency=(1, 8, 64),
            skopeo_layers=5, skopeo_layer_size=32 * MiB, skopeo_reps=3,
            replication_pushers=8, replication_per_pusher=25, drain_tasks=1000)
SHORT = Plan("short", blob_size=32 * MiB, chunk_size=4 * MiB, reps=1, small_blobs=48,
             manifest_requests=96, request_time_limit=1.0, concurrency=(1, 8, 64),
             skopeo_layers=3, skopeo_layer_size=1 * MiB, skopeo_reps=1,
             replication_pushers=8, replication_per_pusher=2, drain_tasks=32)

# Every row the JSON carries (the CI test checks that each one is there).
ROW_IDS = (
    ["blob_push_monolithic", "blob_push_chunked", "blob_pull", "blob_peak_rss", "blob_rss_growth"]
    + [f"small_blob_push_c{c}" for c in (1, 8, 64)]
    + [f"manifest_get_c{c}" for c in (1, 8, 64)]
    + [f"manifest_head_c{c}" for c in (1, 8, 64)]
    + ["skopeo_push", "skopeo_pull"]
    + ["replication_latency_p50", "replication_latency_p99", "replication_drain_rate"]
    + ["limit_file_copy", "limit_file_read", "limit_loopback_download", "limit_loopback_upload"]
)


class Results:
    def __init__(self):
        self.rows: dict[str, dict] = {}

    def add(self, row_id: str, label: str, unit: str, crossreg, distribution=None, better: str = "higher",
            **details) -> None:
        row = {"id": row_id, "label": label, "unit": unit, "crossreg": crossreg,
               "distribution": distribution, "better": better}
        if crossreg is not None and distribution:
            row["ratio"] = crossreg / distribution
            row["ahead"] = row["ratio"] >= 1.0 if better == "higher" else row["ratio"] <= 1.0
        if details:
            row["details"] = details
        self.rows[row_id] = row
        print(f"  {label:<44} {_fmt(crossreg):>10} {_fmt(distribution):>10}  {unit}"
              + (f"   ratio {row['ratio']:.2f}" if "ratio" in row else ""), flush=True)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3f}"


def machine() -> dict:
    def first(cmd, prefix=""):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
        except OSError:
            return None
        for line in out.splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None

    mem = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    os_name = None
    if os.path.exists("/etc/os-release"):
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=sv.REPO_ROOT).stdout.strip() or None
    return {
        "cores": os.cpu_count(), "cpu": first(["lscpu"], "Model name:"), "memory_gib": mem,
        "os": os_name, "kernel": platform.release(), "python": platform.python_version(),
        "crossreg_commit": git, "distribution": sv.Distribution(Path("/nonexistent")).version(),
        "skopeo": first(["skopeo", "--version"]), "httpx": httpx.__version__,
        "filesystem": first(["stat", "-f", "-c", "%T", tempfile.gettempdir()]),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


# ------------------------------------------------------------------ sections
def section_limits(res: Results, plan: Plan, work: Path) -> dict:
    print("\n== machine limits (the same blob size, this run) ==")
    blob = work / "limit.bin"
    wl.make_blob_file(blob, plan.blob_size)
    copy_s = [wl.file_copy(blob, work / "limit-copy.bin") for _ in range(plan.reps)]
    read_s = [wl.file_read(blob) for _ in range(plan.reps)]
    with sv.StaticFileServer(blob) as static:
        down_s = [wl.pull_blob(sv.Target("static", static.url, 0), "", "", plan.blob_size, url=f"{static.url}/blob")
                  for _ in range(plan.reps)]
    with sv.UploadSink(work / "limit-sink.bin") as sink:
        up_s = [wl.upload_to(f"{sink.url}/upload", blob) for _ in range(plan.reps)]
    for p in ("limit.bin", "limit-copy.bin", "limit-sink.bin"):
        (work / p).unlink(missing_ok=True)
    limits = {
        "limit_file_copy": plan.blob_size / median(copy_s) / MB,
        "limit_file_read": plan.blob_size / median(read_s) / MB,
        "limit_loopback_download": plan.blob_size / median(down_s) / MB,
        "limit_loopback_upload": plan.blob_size / median(up_s) / MB,
    }
    res.add("limit_file_copy", "file copy, 1 MiB read/write + fsync", "MB/s", limits["limit_file_copy"], better="info")
    res.add("limit_file_read", "file read (page cache)", "MB/s", limits["limit_file_read"], better="info")
    res.add("limit_loopback_download", "static file over loopback (sendfile)", "MB/s",
            limits["limit_loopback_download"], better="info")
    res.add("limit_loopback_upload", "upload over loopback to a file (sink)", "MB/s",
            limits["limit_loopback_upload"], better="info")
    return limits


def section_large_blobs(res: Results, plan: Plan, work: Path, targets: dict, limits: dict) -> None:
    print(f"\n== large blob: {plan.blob_size // MiB} MiB (median of {plan.reps}) ==")
    timings = {name: {"mono": [], "chunked": [], "pull": []} for name in targets}
    rss = {name: {"before": sv.tree_rss(t.pid), "peak": 0} for name, t in targets.items()}
    cpu = {name: 0.0 for name in targets}
    last_digest = {}

    def measured(name, fn, *args):
        t = targets[name]
        c0 = sv.tree_cpu_seconds(t.pid)
        with sv.RssSampler(t.pid) as sampler:
            elapsed = fn(*args)
        cpu[name] += sv.tree_cpu_seconds(t.pid) - c0
        rss[name]["peak"] = max(rss[name]["peak"], sampler.peak)
        return elapsed

    for rep in range(plan.reps):
        for kind in ("mono", "chunked"):
            blob = work / f"blob-{kind}-{rep}.bin"
            digest = wl.make_blob_file(blob, plan.blob_size)
            for name in _order(list(targets), rep):
                t = targets[name]
                t.prepare_repository("large")
                if kind == "mono":
                    s = measured(name, wl.push_monolithic, t, "large", blob, digest)
                else:
                    s = measured(name, wl.push_chunked, t, "large", blob, digest, plan.chunk_size)
                timings[name][kind].append(s)
                last_digest[name] = digest
            blob.unlink()
    for rep in range(plan.reps):
        for name in _order(list(targets), rep):
            t = targets[name]
            timings[name]["pull"].append(measured(name, wl.pull_blob, t, "large", last_digest[name], plan.blob_size))

    def rate(name, kind):
        return plan.blob_size / median(timings[name][kind]) / MB

    for kind, row_id, label, limit in (
            ("mono", "blob_push_monolithic", "blob push, monolithic (POST+PUT)", "limit_loopback_upload"),
            ("chunked", "blob_push_chunked", f"blob push, chunked ({plan.chunk_size // MiB} MiB PATCHes)",
             "limit_loopback_upload"),
            ("pull", "blob_pull", "blob pull (GET)", "limit_loopback_download")):
        x, d = rate("crossreg", kind), rate("distribution", kind)
        vs_limit = {"crossreg_vs_limit": x / limits[limit], "limit": limit} if limit in limits else {}
        res.add(row_id, label, "MB/s", x, d, seconds={n: timings[n][kind] for n in targets}, **vs_limit)
    peak = {n: rss[n]["peak"] / MiB for n in targets}
    res.add("blob_peak_rss", "peak server RSS during large-blob runs", "MiB", peak["crossreg"],
            peak["distribution"], better="lower",
            rss_before_mib={n: rss[n]["before"] / MiB for n in targets},
            cpu_seconds_per_gb={n: cpu[n] / (plan.blob_size * plan.reps * 3 / 1e9) for n in targets})
    growth = {n: max(0.0, (rss[n]["peak"] - rss[n]["before"]) / MiB) for n in targets}
    res.add("blob_rss_growth", "server RSS growth during large-blob runs", "MiB", growth["crossreg"],
            growth["distribution"], better="lower",
            note="peak minus the RSS before the first large-blob request; flat in blob size when "
                 "it does not grow with --short's 32 MiB vs the full run's 512 MiB")


ROUNDS = 4  # request-rate cells alternate between the servers (A B B A A B B A) to cancel drift


def _order(names: list[str], r: int) -> list[str]:
    return names if r % 2 == 0 else names[::-1]


def _combine(runs: list[dict]) -> dict:
    done = sum(r["count"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {"count": done, "errors": sum(r["errors"] for r in runs), "seconds": seconds,
            "per_second": done / seconds if seconds else 0.0,
            "rounds_per_second": [round(r["per_second"], 1) for r in runs]}


def section_small_blobs(res: Results, plan: Plan, targets: dict) -> None:
    print(f"\n== small blobs: {plan.small_blobs} pushes of 1 KiB (POST + PUT each), in {ROUNDS} "
          "alternating rounds ==")
    per_round = -(-plan.small_blobs // ROUNDS)
    for c in plan.concurrency:
        runs: dict[str, list] = {n: [] for n in targets}
        for name, t in targets.items():
            t.prepare_repository(f"small-c{c}")
        for r in range(ROUNDS):
            for name in _order(list(targets), r):
                runs[name].append(wl.small_blob_pushes(targets[name], f"small-c{c}", per_round, c,
                                                       time_limit=plan.request_time_limit * 6 / ROUNDS))
        out = {n: _combine(runs[n]) for n in targets}
        res.add(f"small_blob_push_c{c}", f"small-blob pushes, concurrency {c}", "pushes/s",
                out["crossreg"]["per_second"], out["distribution"]["per_second"], runs=out)


def section_manifests(res: Results, plan: Plan, targets: dict) -> None:
    print(f"\n== manifest GET / HEAD by tag (up to {plan.manifest_requests} requests or "
          f"{plan.request_time_limit:.0f}s per cell) ==")
    manifest, blobs = wl.small_image(b"manifest-bench")
    for name, t in targets.items():
        t.prepare_repository("manifests")
        with wl.client(t) as c:
            wl.push_small_image(c, t, "manifests", "v1", manifest, blobs)
    per_round = -(-plan.manifest_requests // ROUNDS)
    for method in ("GET", "HEAD"):
        for c in plan.concurrency:
            runs: dict[str, list] = {n: [] for n in targets}
            for r in range(ROUNDS):
                for name in _order(list(targets), r):
                    runs[name].append(wl.manifest_requests(targets[name], "manifests", "v1", method, per_round,
                                                           c, plan.request_time_limit / ROUNDS))
            out = {n: _combine(runs[n]) for n in targets}
            res.add(f"manifest_{method.lower()}_c{c}", f"manifest {method}, concurrency {c}", "req/s",
                    out["crossreg"]["per_second"], out["distribution"]["per_second"], runs=out)


def section_skopeo(res: Results, plan: Plan, work: Path, targets: dict) -> None:
    # A new image (new random layers) for every push: skopeo remembers where it has seen a blob
    # (its blob-info cache) and would mount it from an earlier repository instead of uploading.
    layouts = [work / f"skopeo-layout-{rep}" for rep in range(plan.skopeo_reps)]
    size = 0
    for layout in layouts:
        size = wl.write_layout(layout, plan.skopeo_layers, plan.skopeo_layer_size)
    print(f"\n== skopeo copy: image of {plan.skopeo_layers} layers, {size / MB:.1f} MB, a new one per push "
          f"(median of {plan.skopeo_reps}) ==")
    push, pull = {n: [] for n in targets}, {n: [] for n in targets}
    for rep in range(plan.skopeo_reps):
        for name in _order(list(targets), rep):
            t = targets[name]
            t.prepare_repository(f"skopeo-{rep}")
            push[name].append(wl.skopeo_push(t, layouts[rep], f"skopeo-{rep}"))
    for rep in range(plan.skopeo_reps):
        for name in _order(list(targets), rep):
            t = targets[name]
            pull[name].append(wl.skopeo_pull(t, f"skopeo-{rep}", work / f"skopeo-out-{name}"))
            sv.remove(work / f"skopeo-out-{name}")
    for layout in layouts:
        sv.remove(layout)
    for row_id, label, data in (("skopeo_push", "skopeo copy oci: → registry", push),
                                ("skopeo_pull", "skopeo copy registry → oci:", pull)):
        res.add(row_id, label, "MB/s", size / median(data["crossreg"]) / MB,
                size / median(data["distribution"]) / MB, seconds=data, image_bytes=size)


def _configure_replication(xr: sv.Crossreg, prefix: str) -> None:
    from crossreg.iam.statements import merge_statement, replication_statement

    provider, owner = xr.accounts["bench-provider"], xr.accounts["bench-owner"]
    xr.ecr("bench-provider").put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": "us-east-1", "registryId": owner["accountId"]}],
        "repositoryFilters": [{"filter": prefix, "filterType": "PREFIX_MATCH"}]}]})
    xr.ecr("bench-owner").put_registry_policy(policyText=merge_statement(None, replication_statement(
        "ReplicationAccessCrossAccount", [provider["accountId"]], "us-east-1", owner["accountId"])))


def _task_times(xr: sv.Crossreg, repo_prefix: str) -> list[dict]:
    from sqlalchemy import select

    from crossreg.app import build
    from crossreg.config import Settings
    from crossreg.metadata import schema as s

    core = build(Settings(data_dir=xr.dir / "data"), migrate=False)
    t = s.replication_tasks
    try:
        with core.db.read() as c:
            rows = c.execute(select(t.c.status, t.c.created_at, t.c.started_at, t.c.finished_at).where(
                t.c.repository_name.startswith(repo_prefix)))
            return [dict(r._mapping) for r in rows]
    finally:
        core.db.dispose()


def section_replication_latency(res: Results, plan: Plan, xr: sv.Crossreg) -> None:
    n = plan.replication_pushers * plan.replication_per_pusher
    print(f"\n== replication latency, crossreg only: {plan.replication_pushers} pushers in parallel, "
          f"{n} images, push acknowledged → DescribeImageReplicationStatus COMPLETE ==")
    _configure_replication(xr, "replicated")
    target = xr.target("bench-provider")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def pusher(i: int) -> None:
        repo = f"replicated-{i}"
        ecr = xr.ecr("bench-provider")
        target.prepare_repository(repo)
        with wl.client(target) as c:
            for k in range(plan.replication_per_pusher):
                seed = f"{i}-{k}-{time.time_ns()}".encode()
                manifest, blobs = wl.small_image(seed)
                wl.push_small_image(c, target, repo, f"t{k}", manifest, blobs)
                acked = time.perf_counter()
                deadline = acked + 60
                while True:
                    st = ecr.describe_image_replication_status(
                        repositoryName=repo, imageId={"imageDigest": wl.sha256(manifest)})["replicationStatuses"]
                    if st and st[0]["status"] in ("COMPLETE", "FAILED"):
                        break
                    if time.perf_counter() > deadline:
                        st = [{"status": "TIMEOUT"}]
                        break
                    time.sleep(0.01)
                with lock:
                    if st[0]["status"] == "COMPLETE":
                        latencies.append(time.perf_counter() - acked)
                    else:
                        errors.append(st[0]["status"])

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(plan.replication_pushers)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    server = [r["finished_at"] - r["created_at"] for r in _task_times(xr, "replicated") if r["finished_at"]]
    details = {"images": n, "errors": errors, "wall_seconds": wall, "poll_interval_s": 0.01,
               "server_recorded_p50_s": percentile(server, 50) if server else None,
               "server_recorded_p99_s": percentile(server, 99) if server else None}
    res.add("replication_latency_p50", "replication push→COMPLETE, p50 (client-observed)", "s",
            percentile(latencies, 50) if latencies else None, better="lower", **details)
    res.add("replication_latency_p99", "replication push→COMPLETE, p99 (client-observed)", "s",
            percentile(latencies, 99) if latencies else None, better="lower", **details)


def section_drain(res: Results, plan: Plan, work: Path) -> None:
    n = plan.drain_tasks
    print(f"\n== replication drain, crossreg only: {n} pending replications, then `crossreg worker` ==")
    xr = sv.Crossreg(work, "crossreg-drain", embedded_workers=False)
    xr.create_account("bench-provider")
    xr.create_account("bench-owner")
    xr.start()
    try:
        _configure_replication(xr, "drain")
        target = xr.target("bench-provider")
        target.prepare_repository("drain")
        import gzip

        layer = gzip.compress(b"shared layer " * 512, mtime=0)  # one layer, a config per image
        images = [wl.small_image(f"drain-{i}".encode(), layer=layer) for i in range(n)]

        def push_some(part: list) -> None:
            with wl.client(target) as c:
                for i, (manifest, blobs) in part:
                    wl.push_small_image(c, target, "drain", f"t{i}", manifest, blobs)

        parts = [list(enumerate(images))[k::8] for k in range(8)]
        threads = [threading.Thread(target=push_some, args=(p,)) for p in parts]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        pending = [r for r in _task_times(xr, "drain") if r["status"] == "PENDING"]
        assert len(pending) == n, f"expected {n} pending tasks, found {len(pending)}"
        t0 = time.perf_counter()
        xr.start_worker()
        deadline = t0 + max(120, n / 5)
        while True:
            rows = _task_times(xr, "drain")
            if all(r["status"] in ("COMPLETE", "FAILED") for r in rows):
                break
            if time.perf_counter() > deadline:
                break
            time.sleep(0.25)
        wall = time.perf_counter() - t0
        done = [r for r in rows if r["status"] == "COMPLETE"]
        span = (max(r["finished_at"] for r in done) - min(r["started_at"] for r in done)) if done else None
        res.add("replication_drain_rate", f"replication queue drain ({n} tasks, worker concurrency 8)",
                "tasks/s", len(done) / span if span else None, better="higher", completed=len(done),
                failed=sum(r["status"] == "FAILED" for r in rows), first_start_to_last_finish_s=span,
                wall_seconds_including_worker_start=wall)
    finally:
        xr.stop()


# ------------------------------------------------------------------ report
def table(results: Results, limits: dict) -> str:
    lines = [f"| {'measure':<50} | {'unit':<9} | {'crossreg':>10} | {'Distribution':>12} | "
             f"{'crossreg/Dist.':>14} |", f"|{'-' * 52}|{'-' * 11}|{'-' * 12}|{'-' * 14}|{'-' * 16}|"]
    for row in results.rows.values():
        if row["better"] == "info":
            continue
        ratio = row.get("ratio")
        mark = "" if ratio is None else (" ✓" if row["ahead"] else " ✗")
        note = " (lower is better)" if row["better"] == "lower" else ""
        rtext = "crossreg only" if row["distribution"] is None else f"{ratio:.2f}{mark}"
        lines.append(f"| {row['label'] + note:<50} | {row['unit']:<9} | {_fmt(row['crossreg']):>10} | "
                     f"{_fmt(row['distribution']):>12} | {rtext:>14} |")
    lines.append("")
    lines.append("Machine limits measured in this run (same client, same size):")
    for row in results.rows.values():
        if row["better"] == "info":
            lines.append(f"  {row['label']:<46} {_fmt(row['crossreg']):>10} {row['unit']}")
    for rid in ("blob_push_monolithic", "blob_push_chunked", "blob_pull"):
        row = results.rows.get(rid)
        if row and "crossreg_vs_limit" in row.get("details", {}):
            d = row["details"]
            lines.append(f"  {row['label']:<46} crossreg at {d['crossreg_vs_limit'] * 100:.0f}% of {d['limit']}")
    return "\n".join(lines)


SECTION_SECONDS: dict[str, float] = {}
SECTIONS = ("limits", "large_blobs", "small_blobs", "manifests", "skopeo", "replication_latency", "drain")


def _sections(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(SECTIONS)}")
    return names


def timed(fn, *args):
    t0 = time.perf_counter()
    try:
        return fn(*args)
    finally:
        SECTION_SECONDS[fn.__name__.removeprefix("section_")] = round(time.perf_counter() - t0, 1)
        print(f"  ({fn.__name__.removeprefix('section_')}: {time.perf_counter() - t0:.1f}s)", flush=True)


def main(argv=None) -> int:
    global ROUNDS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="small sizes and counts (CI; well under 2 minutes)")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the results [default: bench/results/latest.json, or a temp file with --short]")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch directory [default: a temp dir]")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--only", type=_sections, default=None, metavar="SECTION[,SECTION]",
                    help=f"run only these sections ({', '.join(SECTIONS)}), side by side as in a full "
                         "run; the results go to a temp file unless --json is given")
    ap.add_argument("--rounds", type=int, default=ROUNDS,
                    help=f"alternating rounds per request-rate cell, sharing its request count [default: {ROUNDS}]")
    args = ap.parse_args(argv)
    ROUNDS = max(2, args.rounds)
    plan = SHORT if args.short else FULL
    only = args.only or SECTIONS
    for tool in ("skopeo", sv.DISTRIBUTION):
        if not shutil.which(tool):
            print(f"missing {tool} (scripts/setup.sh installs it)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="crossreg-bench-", dir=args.workdir))
    started = time.time()
    mach = machine()
    print(f"crossreg benchmark ({plan.name}) — {mach['cores']} cores, {mach['memory_gib']} GiB, {mach['os']}, "
          f"{mach['distribution']}")
    res = Results()
    dist = sv.Distribution(work)
    xr = sv.Crossreg(work)
    try:
        try:
            xr.create_account("bench-provider")
            xr.create_account("bench-owner")
            xr.start()
            targets = {"crossreg": xr.target("bench-provider"), "distribution": dist.start()}
            print(f"{'':46}{'crossreg':>10} {'Distrib.':>10}")
            limits = timed(section_limits, res, plan, work) if "limits" in only else {}
            if "large_blobs" in only:
                timed(section_large_blobs, res, plan, work, targets, limits)
            if "small_blobs" in only:
                timed(section_small_blobs, res, plan, targets)
            if "manifests" in only:
                timed(section_manifests, res, plan, targets)
            if "skopeo" in only:
                timed(section_skopeo, res, plan, work, targets)
            if "replication_latency" in only:
                timed(section_replication_latency, res, plan, xr)
        finally:
            xr.stop()
            dist.stop()
        if "drain" in only:
            timed(section_drain, res, plan, work)
    finally:
        if not args.keep:
            sv.remove(work)
    report = table(res, {})
    print("\n" + report)
    out = {"plan": plan.__dict__ | {"concurrency": list(plan.concurrency)}, "machine": mach,
           "crossreg_server": "crossreg serve (embedded default: SQLite + local files, one API process, "
                              "replication workers in-process), as scripts/serve.sh runs it",
           "distribution_server": "docker-registry serve, filesystem storage, HTTP on loopback, no auth",
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
           "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
           "seconds": time.time() - started, "section_seconds": SECTION_SECONDS, "rows": list(res.rows.values()), "table": report}
    if args.json:
        path = args.json
    elif args.short or args.only:
        path = Path(tempfile.gettempdir()) / f"crossreg-bench-{'short' if args.short else 'only'}.json"
    else:
        path = Path(__file__).resolve().parent / "results" / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwrote {path} ({time.time() - started:.0f}s)")
    missing = [r for r in ROW_IDS if r not in res.rows]
    if missing and not args.only:
        print(f"missing rows: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
