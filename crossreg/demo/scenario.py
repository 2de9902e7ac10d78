"""`crossreg demo`: the seed scenario end to end, through the public APIs, as users would do it.

The model provider creates `breast-cancer-classifier` and a cross-account replication rule to
the data owner (us-east-1, filter `breast-cancer-classifier`); the data owner adds the console's
generated cross-account replication statement to its registry policy; the provider trains,
packages and pushes the model image; the demo watches the replication arrive in the owner's
registry; the owner pulls the image from its own registry, verifies it and runs the model on its
own CSV. Each step prints the AWS CLI / skopeo commands that do the same by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from crossreg.demo.display import Clock, Display, human

REPOSITORY = "breast-cancer-classifier"
TAG = "latest_eif"
REGION = "us-east-1"
STATEMENT_ID = "ReplicationAccessCrossAccount"
PROVIDER, OWNER = "model-provider", "data-owner"
TOTAL_STEPS = 10


@dataclass
class Options:
    data_dir: Path
    endpoint: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    region: str = REGION
    repository: str = REPOSITORY
    tag: str = TAG
    yes: bool = False
    keep_running: bool = False
    timeout: float = 60.0
    mode: str = "http"
    summary_json: Path | None = None
    base_layout: Path | None = None
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())


class DemoError(Exception):
    pass


# ---------------------------------------------------------------------- helpers
def crossreg_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "crossreg.cli.main", "--log-level", "WARNING", *args]


def demo_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_credentials(data_dir: Path) -> dict:
    path = Path(data_dir) / "demo" / "credentials.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_credentials(data_dir: Path, creds: dict) -> Path:
    path = demo_dir(data_dir) / "credentials.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=2)
    return path


def ecr_client(endpoint: str, creds: dict, region: str):
    import boto3

    return boto3.client("ecr", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=creds["accessKeyId"],
                        aws_secret_access_key=creds["secretAccessKey"])


def registry_password(ecr) -> str:
    import base64

    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Server:
    """A crossreg server the demo started (`crossreg serve`, as the README runs it)."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.port = opts.port or free_port(opts.host)
        self.url = f"http://{opts.host}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = demo_dir(opts.data_dir) / "server.log"

    @property
    def argv(self) -> list[str]:
        return crossreg_cmd("serve", "--host", self.opts.host, "--port", str(self.port),
                            "--data-dir", str(self.opts.data_dir))

    def start(self, timeout: float = 30) -> None:
        if not _port_free(self.opts.host, self.port):
            hint = (f" A crossreg server already answers there: use --endpoint {self.url} --data-dir <its data dir>."
                    if _healthy(self.url) else "")
            raise DemoError(f"port {self.port} is in use; choose another with --port.{hint}")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DemoError(f"the server exited; its log:\n{self.log.read_text()[-2000:]}")
            if _healthy(self.url):
                return
            time.sleep(0.1)
        raise DemoError(f"the server did not become healthy in {timeout:.0f}s (log: {self.log})")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# ---------------------------------------------------------------------- the scenario
class Demo:
    def __init__(self, opts: Options, display: Display | None = None):
        self.opts = opts
        self.d = display or Display(TOTAL_STEPS)
        self.dir = demo_dir(opts.data_dir)
        self.endpoint = opts.endpoint.rstrip("/") if opts.endpoint else None
        self.server: Server | None = None
        self.summary: dict = {"repository": opts.repository, "tag": opts.tag, "region": opts.region}

    # -- presentation helpers --
    def _pause(self) -> None:
        if self.opts.interactive and not self.opts.yes:
            click_pause()

    def _who(self, who: str) -> str:
        return f'eval "$(crossreg demo env {who} --data-dir {shlex.quote(str(self.opts.data_dir))})"'

    def _aws(self, *args: str) -> str:
        parts = ["aws", "ecr", *args, "--region", self.opts.region, "--endpoint-url", self.endpoint]
        return " ".join(a if a.startswith("'") else shlex.quote(a) for a in parts)

    def _registry_host(self) -> str:
        return self.endpoint.split("://", 1)[1]

    def _repo_path(self, account: str) -> str:
        return f"{account}/{self.opts.region}/{self.opts.repository}"

    # -- steps --
    def run(self) -> dict:
        o, d = self.opts, self.d
        d.title("crossreg demo — a model provider shares its model image with a data owner through "
                "cross-account replication")
        d.info(f"data dir: {o.data_dir}   files the demo writes: {self.dir}")
        try:
            self.step_server()
            provider, owner = self.step_accounts()
            p_ecr = ecr_client(self.endpoint, provider, o.region)
            o_ecr = ecr_client(self.endpoint, owner, o.region)
            self._check_keys(p_ecr)
            self.step_create_repository(p_ecr, provider)
            self.step_replication_rule(p_ecr, provider, owner)
            self.step_registry_policy(o_ecr, provider, owner)
            image = self.step_build_image()
            self.step_push(p_ecr, provider, image)
            self.step_watch_replication(p_ecr, o_ecr, provider, owner, image)
            self.step_owner_registry(o_ecr, provider, owner, image)
            self.step_run_model(o_ecr, owner, image)
            self.finish()
        except BaseException:
            # --keep-running is for a demo that worked: a failed one leaves nothing behind.
            if self.server:
                self.server.stop()
            raise
        return self.summary

    def _check_keys(self, ecr) -> None:
        from botocore.exceptions import ClientError

        try:
            ecr.get_authorization_token()
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            raise DemoError(f"{self.endpoint} refused the demo's keys ({code}): with --endpoint, give "
                            "--data-dir the data directory of that server, where the accounts live") from None

    def step_server(self) -> None:
        o, d = self.opts, self.d
        if self.endpoint:
            d.step(1, "Server", f"using the running crossreg at {self.endpoint}")
            if not _healthy(self.endpoint):
                raise DemoError(f"no crossreg answers at {self.endpoint}/healthz")
            d.ok("healthy")
            self.summary["server"] = {"endpoint": self.endpoint, "started_by_demo": False}
            return
        self.server = Server(o)
        d.step(1, "Server", f"starting crossreg on the embedded default (SQLite + files in {o.data_dir})")
        t0 = time.monotonic()
        self.server.start()
        self.endpoint = self.server.url
        d.ok(f"listening on {self.endpoint} (pid {self.server.process.pid}, "
             f"ready in {time.monotonic() - t0:.1f}s; log: {self.server.log})")
        d.commands("by hand:", [f"crossreg serve --port {self.server.port} --data-dir {shlex.quote(str(o.data_dir))}"
                                "     # or scripts/serve.sh"])
        self.summary["server"] = {"endpoint": self.endpoint, "started_by_demo": True,
                                  "pid": self.server.process.pid}

    def step_accounts(self) -> tuple[dict, dict]:
        o, d = self.opts, self.d
        d.step(2, "Accounts", "the model provider and the data owner, each with its own account and keys")
        creds = load_credentials(o.data_dir)
        for name in (PROVIDER, OWNER):
            if name in creds:
                d.ok(f"{name}: account {creds[name]['accountId']} (from {self.dir / 'credentials.json'})")
                continue
            out = subprocess.run(crossreg_cmd("accounts", "create", "--name", name, "--data-dir", str(o.data_dir)),
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise DemoError(f"crossreg accounts create failed: {out.stderr.strip()}")
            creds[name] = json.loads(out.stdout)
            d.ok(f"{name}: created account {creds[name]['accountId']} (access key {creds[name]['accessKeyId']})")
        path = _save_credentials(o.data_dir, creds)
        d.info(f"keys saved to {path} (mode 600); the parties exchange only their account ids")
        d.commands("by hand:", [f"crossreg accounts create --name {PROVIDER} --data-dir {shlex.quote(str(o.data_dir))}",
                                f"crossreg accounts create --name {OWNER} --data-dir {shlex.quote(str(o.data_dir))}",
                                f"{self._who('provider')}     # export AWS_ACCESS_KEY_ID=... for that account"])
        self.summary["provider_account"] = creds[PROVIDER]["accountId"]
        self.summary["owner_account"] = creds[OWNER]["accountId"]
        self.summary["credentials_file"] = str(path)
        self._pause()
        return creds[PROVIDER], creds[OWNER]

    def step_create_repository(self, p_ecr, provider: dict) -> None:
        o, d = self.opts, self.d
        d.step(3, "Model provider", f"create the repository {o.repository}")
        try:
            repo = p_ecr.create_repository(repositoryName=o.repository)["repository"]
            d.ok(f"created {repo['repositoryUri']}")
        except p_ecr.exceptions.RepositoryAlreadyExistsException:
            repo = p_ecr.describe_repositories(repositoryNames=[o.repository])["repositories"][0]
            d.ok(f"already there: {repo['repositoryUri']}")
        self.summary["provider_repository_uri"] = repo["repositoryUri"]
        d.commands("by hand (as the provider):", [self._who("provider"),
                   self._aws("create-repository", "--repository-name", o.repository)])
        self._pause()

    def step_replication_rule(self, p_ecr, provider: dict, owner: dict) -> None:
        o, d = self.opts, self.d
        d.step(4, "Model provider", "replication rule: cross-account to the data owner, "
                                    f"{o.region}, filter {o.repository}")
        config = {"rules": [{
            "destinations": [{"region": o.region, "registryId": owner["accountId"]}],
            "repositoryFilters": [{"filter": o.repository, "filterType": "PREFIX_MATCH"}]}]}
        current = p_ecr.describe_registry().get("replicationConfiguration", {"rules": []})
        rules = [r for r in current.get("rules", []) if r != config["rules"][0]]
        merged = {"rules": rules + config["rules"]}
        out = p_ecr.put_replication_configuration(replicationConfiguration=merged)
        path = self.dir / "replication-configuration.json"
        path.write_text(json.dumps(merged, indent=2))
        d.ok(f"replication configuration ({len(out['replicationConfiguration']['rules'])} rule(s)) "
             f"→ account {owner['accountId']} in {o.region}, repositories starting with '{o.repository}'")
        d.info("console: Private registry → Replication configuration → Edit → Add rule → "
               "Cross-account on, Cross-Region off → account id + region → filter → Submit rule")
        d.commands("by hand (as the provider):", [
            self._aws("put-replication-configuration", "--replication-configuration", f"file://{path}"),
            self._aws("describe-registry")])
        self._pause()

    def step_registry_policy(self, o_ecr, provider: dict, owner: dict) -> None:
        from crossreg.iam.statements import merge_statement, replication_statement

        o, d = self.opts, self.d
        d.step(5, "Data owner", "registry permissions: the console's generated cross-account "
                                "replication statement for the provider's account")
        statement = replication_statement(STATEMENT_ID, [provider["accountId"]], o.region, owner["accountId"])
        try:
            existing = o_ecr.get_registry_policy()["policyText"]
        except o_ecr.exceptions.RegistryPolicyNotFoundException:
            existing = None
        doc = json.loads(existing) if existing else None
        stmts = (doc or {}).get("Statement", [])
        stmts = [stmts] if isinstance(stmts, dict) else stmts
        if any(s.get("Sid") == STATEMENT_ID and s == statement for s in stmts):
            text = existing
            d.ok(f"statement {STATEMENT_ID} already in the registry policy")
        else:
            if any(s.get("Sid") == STATEMENT_ID for s in stmts):  # an older one: replace it
                doc["Statement"] = [s for s in stmts if s.get("Sid") != STATEMENT_ID]
                existing = json.dumps(doc)
            text = merge_statement(existing, statement)
            o_ecr.put_registry_policy(policyText=text)
            d.ok(f"registry policy: {provider['accountId']} may ecr:CreateRepository and "
                 f"ecr:ReplicateImage on arn:aws:ecr:{o.region}:{owner['accountId']}:repository/*")
        path = self.dir / "owner-registry-policy.json"
        path.write_text(text)
        d.info("console: Private registry → Permissions → Generate statement → "
               "Cross account replication → account id → Save")
        d.commands("by hand (as the owner):", [self._who("owner"),
                   self._aws("put-registry-policy", "--policy-text", f"file://{path}"),
                   self._aws("get-registry-policy")])
        self._pause()

    def step_build_image(self):
        from crossreg.demo.image import build_model_image, write_layout
        from crossreg.demo.model import train

        o, d = self.opts, self.d
        d.step(6, "Model provider", "train the classifier and package it as an OCI image")
        t0 = time.monotonic()
        model = train()
        ev = model.metadata["evaluation"]
        d.ok(f"trained {model.metadata['model']['algorithm']} on {model.metadata['dataset']['split']['train']} "
             f"patients of the Wisconsin diagnostic data set ({time.monotonic() - t0:.1f}s)")
        d.ok(f"accuracy on the {ev['rows']} held-out patients: {ev['accuracy']:.4f} ({ev['correct']}/{ev['rows']})")
        image = build_model_image(model, tag=o.tag, base_layout=o.base_layout)
        layout = self.dir / "image"
        write_layout(image, layout)
        d.ok(f"image {image.manifest_digest} ({human(image.size)}, layers: {', '.join(image.layer_names)})")
        d.info(f"OCI layout: {layout}; model sha256 {model.sha256[:16]}…; "
               "entrypoint: python3 /opt/model/serve.py (port 8080)")
        # The owner's "own data": held-out patients the model never saw, with their diagnosis.
        csv_path = self.dir / "owner-data.csv"
        csv_path.write_text(model.holdout_csv())
        self.summary.update({"manifest_digest": image.manifest_digest, "model_sha256": model.sha256,
                             "accuracy_at_build": ev["accuracy"], "layout": str(layout),
                             "owner_csv": str(csv_path)})
        d.commands("by hand:", [f"crossreg demo build-image --output {shlex.quote(str(layout))} --tag {o.tag}"])
        self._pause()
        return image

    def step_push(self, p_ecr, provider: dict, image) -> None:
        from crossreg.demo.oci_client import OciClient, push_image

        o, d = self.opts, self.d
        repo_path = self._repo_path(provider["accountId"])
        d.step(7, "Model provider", f"push {o.repository}:{o.tag} over the OCI API")
        password = registry_password(p_ecr)
        t0 = time.monotonic()
        with OciClient(self.endpoint, password) as client:
            digest = push_image(client, repo_path, image, progress=d.progress)
        self.pushed_at = time.monotonic()
        if digest and digest != image.manifest_digest:
            raise DemoError(f"the registry stored {digest}, expected {image.manifest_digest}")
        d.ok(f"pushed {self._registry_host()}/{repo_path}:{o.tag} in {time.monotonic() - t0:.2f}s")
        d.commands("by hand (as the provider):", [
            self._aws("get-login-password") + " \\\n  | skopeo login --tls-verify=false -u AWS --password-stdin "
            + self._registry_host(),
            f"skopeo copy --dest-tls-verify=false oci:{shlex.quote(str(self.dir / 'image'))}:{o.tag} "
            f"docker://{self._registry_host()}/{repo_path}:{o.tag}"])

    def step_watch_replication(self, p_ecr, o_ecr, provider: dict, owner: dict, image) -> None:
        o, d = self.opts, self.d
        d.step(8, "Replication", f"watching the image reach account {owner['accountId']} ({o.region})")
        clock = Clock()
        deadline = time.monotonic() + o.timeout
        timeline: list[tuple[float, str]] = []
        seen_status = None
        arrived_at = None
        statuses: list[dict] = []
        while True:
            statuses = p_ecr.describe_image_replication_status(
                repositoryName=o.repository, imageId={"imageTag": o.tag})["replicationStatuses"]
            mine = [s for s in statuses if s["registryId"] == owner["accountId"] and s["region"] == o.region]
            status = mine[0]["status"] if mine else "NOT_STARTED"
            if status != seen_status:
                timeline.append((clock(), status))
                seen_status = status
            if arrived_at is None:
                try:
                    found = o_ecr.describe_images(repositoryName=o.repository,
                                                  imageIds=[{"imageDigest": image.manifest_digest}])
                    if found["imageDetails"]:
                        arrived_at = clock()
                        timeline.append((arrived_at, "visible in the owner's registry"))
                except (o_ecr.exceptions.RepositoryNotFoundException, o_ecr.exceptions.ImageNotFoundException):
                    pass
            owner_side = "arrived" if arrived_at is not None else "not yet in owner's registry"
            d.live(f"{o.repository}:{o.tag} → {owner['accountId']}/{o.region}: {status:<11} "
                   f"{clock():5.1f}s   ({owner_side})", key=f"{status} {owner_side}")
            if status == "FAILED":
                reason = mine[0].get("failureCode", "")
                raise DemoError(f"replication FAILED {reason}; see `crossreg replication status "
                                f"--data-dir {o.data_dir}`")
            if status == "COMPLETE" and arrived_at is not None:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"replication did not complete in {o.timeout:.0f}s (last status {status})")
            time.sleep(0.05)
        took = time.monotonic() - self.pushed_at
        d.done_live(f"COMPLETE: push → owner's registry in {took:.2f}s")
        for t, what in timeline:
            d.info(f"  +{t:5.2f}s  {what}")
        self.summary["replication"] = {"statuses": statuses, "seconds_after_push": round(took, 3),
                                       "timeline": [{"t": round(t, 3), "event": e} for t, e in timeline]}
        d.commands("by hand (as the provider):", [
            self._aws("describe-image-replication-status", "--repository-name", o.repository,
                      "--image-id", f"imageTag={o.tag}"),
            f"crossreg replication status --data-dir {shlex.quote(str(o.data_dir))}     # operator's view"])
        self._pause()

    def step_owner_registry(self, o_ecr, provider: dict, owner: dict, image) -> None:
        o, d = self.opts, self.d
        d.step(9, "Data owner", "the image is in the owner's own registry")
        repo = o_ecr.describe_repositories(repositoryNames=[o.repository])["repositories"][0]
        detail = o_ecr.describe_images(repositoryName=o.repository,
                                       imageIds=[{"imageTag": o.tag}])["imageDetails"][0]
        owner_digest = detail["imageDigest"]
        p_ecr = ecr_client(self.endpoint, load_credentials(o.data_dir)[PROVIDER], o.region)
        provider_digest = p_ecr.describe_images(repositoryName=o.repository,
                                                imageIds=[{"imageTag": o.tag}])["imageDetails"][0]["imageDigest"]
        d.ok(f"{repo['repositoryUri']}:{o.tag}")
        d.info(f"provider's digest: {provider_digest}")
        d.info(f"owner's digest:    {owner_digest}")
        if owner_digest != provider_digest:
            raise DemoError("the replicated image's digest differs from the provider's")
        d.ok("identical: the owner runs exactly the bytes the provider pushed")
        self.summary.update({"owner_repository_uri": repo["repositoryUri"], "owner_digest": owner_digest,
                             "provider_digest": provider_digest})
        d.commands("by hand (as the owner):", [
            self._aws("describe-images", "--repository-name", o.repository),
            f"skopeo copy --src-tls-verify=false --src-creds AWS:$(aws ecr get-login-password --endpoint-url "
            f"{self.endpoint}) docker://{self._registry_host()}/{self._repo_path(owner['accountId'])}:{o.tag} "
            f"oci:./pulled:{o.tag}"])

    def step_run_model(self, o_ecr, owner: dict, image) -> None:
        from crossreg.demo.runner import pull_and_run

        o, d = self.opts, self.d
        csv_path = Path(self.summary["owner_csv"])
        d.step(10, "Data owner", f"run the model on the owner's own data ({csv_path.name}, "
                                 f"{csv_path.read_text().count(chr(10)) - 1} patients) — no container runtime")
        workdir = self.dir / "run"
        if workdir.exists():
            import shutil

            shutil.rmtree(workdir)
        result = pull_and_run(self.endpoint, registry_password(o_ecr), self._repo_path(owner["accountId"]),
                              o.tag, csv_path.read_bytes(), workdir, mode=o.mode, progress=d.progress)
        show_result(d, result)
        self.summary["run"] = summarize_run(result)
        d.commands("by hand (as the owner):", [
            self._who("owner"),
            f"crossreg demo run-model --endpoint {self.endpoint} --csv {shlex.quote(str(csv_path))}"])

    def finish(self) -> None:
        o, d = self.opts, self.d
        d._out()
        if self.server is not None:
            if o.keep_running:
                self.summary["server"]["kept_running"] = True
                d.ok(f"the server keeps running at {self.endpoint} (console: {self.endpoint}/console/, "
                     f"pid {self.server.process.pid}; stop it with: kill {self.server.process.pid})")
            else:
                self.server.stop()
                d.ok("server stopped (run with --keep-running to leave it up for the console)")
        d.ok(f"done. Summary: {self.write_summary()}")

    def write_summary(self) -> Path:
        path = self.opts.summary_json or (self.dir / "summary.json")
        path.write_text(json.dumps(self.summary, indent=2, default=str))
        return path


def summarize_run(result: dict) -> dict:
    preds = result["predictions"]
    counts: dict[str, int] = {}
    for p in preds:
        counts[p["label"]] = counts.get(p["label"], 0) + 1
    return {"predictions": len(preds), "counts": counts, "evaluation": result.get("evaluation"),
            "accuracy_at_build": result["model"]["accuracy_at_build"],
            "model_sha256": result["model"]["sha256"], "mode": result["run"]["mode"],
            "manifest_digest": result["image"]["manifest_digest"],
            "verified_digests": result["image"]["verified_digests"],
            "first": preds[:5]}


def show_result(d: Display, result: dict, rows: int = 5) -> None:
    img = result["image"]
    d.ok(f"pulled {img['reference']} ({img['manifest_digest'][:19]}…): "
         f"{len(img['verified_digests'])} digests and {len(img['diff_ids_verified'])} layer diff_ids verified")
    run = result["run"]
    where = run.get("listen") or run.get("network")
    d.ok(f"entrypoint ran as a subprocess ({run['mode']} mode, {where}): {' '.join(run['argv'])}")
    preds = result["predictions"]
    for i, p in enumerate(preds[:rows], 1):
        probs = ", ".join(f"{k} {v:.3f}" for k, v in p["probabilities"].items())
        d.info(f"  patient {i:>3}: {p['label']:<9} ({probs})")
    if len(preds) > rows:
        d.info(f"  … {len(preds) - rows} more")
    counts: dict[str, int] = {}
    for p in preds:
        counts[p["label"]] = counts.get(p["label"], 0) + 1
    d.ok(f"{len(preds)} predictions: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    acc = result["model"]["accuracy_at_build"]
    ev = result.get("evaluation")
    if ev:
        d.ok(f"accuracy on this CSV: {ev['accuracy']:.4f} ({ev['correct']}/{ev['rows']}); "
             f"recorded at build time: {acc:.4f}")
    else:
        d.ok(f"accuracy recorded at build time: {acc:.4f}")


def click_pause() -> None:
    import click

    click.pause(info=click.style("      press any key to continue (or run with --yes) …", dim=True))
