import os
import shutil
import tempfile

import pytest

from tests.support.server import new_server


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "engine_specific: picks its database engines itself (PostgreSQL, multi-process, "
        "GC tests), so scripts/test.sh leaves it out of the suite's second pass on PostgreSQL")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running crossreg with two accounts, as in the seed scenario: the model provider and
    the data owner."""
    srv = new_server(tmp_path_factory.mktemp("crossreg"))
    srv.create_account("provider", "111111111111")
    srv.create_account("owner", "222222222222")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def provider(server):
    return server.accounts["provider"]


@pytest.fixture(scope="module")
def owner(server):
    return server.accounts["owner"]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup.sh installs it)")
    return path


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A PostgreSQL server for the tests that need one: the one scripts/test.sh started, else a
    throw-away server of this session's own. Skips only if none can be started."""
    from tests.support.postgres import ENV_URL, PostgresCluster, find_bindir

    if os.environ.get(ENV_URL):
        yield os.environ[ENV_URL]
        return
    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it)")
    cluster = PostgresCluster(tempfile.mkdtemp(prefix="crossreg-pg-"))
    try:
        cluster.start()
    except Exception as exc:
        cluster.destroy()
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    yield cluster.url
    cluster.destroy()


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible object store for this test session: Ceph's radosgw on a one-node Ceph
    cluster of our own (tests/support/s3server.py). Skips if Ceph is not installed."""
    from tests.support.s3server import CephS3Server, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.skip(f"Ceph is not installed (missing {', '.join(missing)}; scripts/setup.sh installs it)")
    # A short path: the daemons' unix sockets live there.
    server = CephS3Server(tempfile.mkdtemp(prefix="crossreg-s3-"))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    """A bucket of the test object store; tests keep apart by key prefixes of their own."""
    return s3_server.create_bucket("crossreg-test")
