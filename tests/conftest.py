import shutil

import pytest

from tests.support.server import new_server


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
