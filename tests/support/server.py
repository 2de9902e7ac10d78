"""Starts a real crossreg server (a separate process, as users run it) for integration tests."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
CROSSREG = [sys.executable, "-m", "crossreg.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Account:
    account_id: str
    access_key_id: str
    secret_access_key: str
    name: str

    def env(self, region: str = "us-east-1") -> dict:
        """Environment for the AWS CLI / boto3 acting as this account."""
        return {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_DEFAULT_REGION": region,
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


@dataclass
class Server:
    data_dir: Path
    port: int
    env: dict
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    accounts: dict[str, Account] = field(default_factory=dict)
    # Extra `crossreg serve` options, e.g. ["--workers", "2"].
    serve_args: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The metadata database this server uses (its own, fresh one in PostgreSQL mode)."""
        return self.env.get("CROSSREG_DATABASE_URL") or f"sqlite:///{self.data_dir / 'crossreg.db'}"

    def sql(self, query: str, params: dict | None = None) -> list[dict]:
        """Rows of a query on the server's metadata database (SQLite or PostgreSQL), as dicts;
        `:name` placeholders take `params`. For tests that inspect or tamper with state."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        from crossreg.metadata.db import engine_url

        engine = create_engine(engine_url(self.database_url), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(query), params or {})
                return [dict(r._mapping) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*CROSSREG, "--log-level", "WARNING", *args], env=self.env,
                              capture_output=True, text=True, check=check, cwd=REPO_ROOT)

    def create_account(self, name: str, account_id: str | None = None) -> Account:
        args = ["accounts", "create", "--name", name]
        if account_id:
            args += ["--account-id", account_id]
        data = json.loads(self.cli(*args).stdout)
        acct = Account(data["accountId"], data["accessKeyId"], data["secretAccessKey"], data["name"])
        self.accounts[name] = acct
        return acct

    def start(self, timeout: float = 30) -> None:
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*CROSSREG, "serve", "--port", str(self.port), *self.serve_args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9, as a crash would."""
        self.stop(signal.SIGKILL)

    def boto3(self, account: Account, service: str = "ecr", region: str = "us-east-1"):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id=account.access_key_id,
                            aws_secret_access_key=account.secret_access_key)

    def aws(self, account: Account, *args: str, region: str = "us-east-1", check: bool = True
            ) -> subprocess.CompletedProcess:
        """Run the real AWS CLI against this server."""
        result = subprocess.run([sys.executable, "-m", "awscli", *args, "--endpoint-url", self.url,
                                 "--region", region, "--output", "json"],
                                env=account.env(region), capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def password(self, account: Account, region: str = "us-east-1") -> str:
        """The registry password, obtained as users do: `aws ecr get-login-password`."""
        return self.aws(account, "ecr", "get-login-password", region=region).stdout.strip()

    def basic_auth(self, account: Account, region: str = "us-east-1") -> dict:
        token = base64.b64encode(f"AWS:{self.password(account, region)}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def new_server(tmp_path: Path, **env: str) -> Server:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    server_env = {**os.environ, "CROSSREG_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                  "CROSSREG_LOG_LEVEL": "WARNING", **env}
    if "CROSSREG_DATABASE_URL" not in env and os.environ.get("CROSSREG_TEST_DATABASE") == "postgresql":
        # PostgreSQL mode (scripts/test.sh's second pass): every server gets a fresh database.
        server_env["CROSSREG_DATABASE_URL"] = fresh_postgres_database()
    return Server(data_dir=data_dir, port=free_port(), env=server_env)


def fresh_postgres_database() -> str:
    """The URL of a new, empty database on the test PostgreSQL server (see tests/support/postgres.py)."""
    import pytest

    from tests.support.postgres import ENV_URL, create_database

    admin_url = os.environ.get(ENV_URL)
    if not admin_url:
        pytest.skip(f"no test PostgreSQL server ({ENV_URL} is unset; scripts/test.sh starts one)")
    return create_database(admin_url)
