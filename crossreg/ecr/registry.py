"""The ECR operation registry: modules in `crossreg.ecr.ops` register their handlers with
`@operation("<Name>")`, and the API dispatches to them by the X-Amz-Target operation name.

A handler is a plain synchronous function `(ctx: OpContext, params: dict) -> dict`: `params` has
already been validated against botocore's model, the returned dict is serialised with the
model's output shape, and any error it raises is mapped to ECR's wire format in one place
(crossreg.ecr.api). Handlers use the service layer only, so the OCI API, the ECR API and the
console share every rule.

Adding an operation: in a module of `crossreg/ecr/ops/` (imported automatically),

    @operation("GetLifecyclePolicy", cross_account=True)
    def get_lifecycle_policy(ctx: OpContext, params: dict) -> dict:
        repo = ctx.repository(params)          # resolves registryId + authorises ecr:<Operation>
        ...
        return {"registryId": repo.account_id, ...}   # keys of the model's output shape only

Operations of the model that nobody registered answer a ValidationException naming them.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from dataclasses import dataclass
from functools import cache
from typing import Callable

from crossreg.app import Crossreg
from crossreg.ecr import protocol
from crossreg.auth.access import Caller, require
from crossreg.services.errors import RepositoryNotFound
from crossreg.services.models import RepoKey, Repository
from crossreg.services.policies import policies_for, registry_policy


@dataclass(frozen=True)
class OpContext:
    """What a handler knows about the request it serves."""

    core: Crossreg
    caller: Caller
    region: str  # the region the request was signed for: (caller, region) is the caller's registry
    request_id: str
    operation: str

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    @property
    def action(self) -> str:
        """The IAM action of this operation, e.g. `ecr:DescribeImages`."""
        return f"ecr:{self.operation}"

    def registry_id(self, params: dict) -> str:
        """The registry an operation addresses: `registryId`, defaulting to the caller's own."""
        return params.get("registryId") or self.account_id

    def repo_key(self, params: dict, name_field: str = "repositoryName") -> RepoKey:
        return RepoKey(self.registry_id(params), self.region, params[name_field])

    def repository(self, params: dict, name_field: str = "repositoryName") -> Repository:
        """The addressed repository, once the caller may perform this operation on it.

        Another account's repository is governed by its repository policy and its registry's
        policy; the access check comes before the existence check, so a caller without access
        cannot probe which repositories exist."""
        key = self.repo_key(params, name_field)
        repo = self.core.registry.find_repository(key)
        self.authorize(key, repo)
        if repo is None:
            raise RepositoryNotFound(key.name, key.account_id)
        return repo

    def authorize(self, key: RepoKey, repo: Repository | None = None, action: str | None = None) -> None:
        """Raise AccessDenied unless the caller may perform `action` on the repository `key`
        (which may not exist yet, e.g. CreateRepository: then only the registry policy counts)."""
        if key.account_id == self.account_id:
            return  # one's own registry: always allowed
        if repo is not None:
            policies = policies_for(self.core.db, repo)
        else:
            policies = [p for p in [registry_policy(self.core.db, key.account_id, key.region)] if p]
        arn = f"arn:aws:ecr:{key.region}:{key.account_id}:repository/{key.name}"
        require(self.caller, action or self.action, key.account_id, arn, policies)


Handler = Callable[[OpContext, dict], dict]


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    # Whether the handler itself authorises a `registryId` naming another account (through
    # OpContext.repository / authorize). If not, the API refuses such requests up front, so a
    # handler cannot forget the check.
    cross_account: bool = False


_operations: dict[str, Operation] = {}
_load_lock = threading.Lock()


def operation(name: str, *, cross_account: bool = False) -> Callable[[Handler], Handler]:
    """Register `handler` as the implementation of the ECR operation `name`. Pass
    `cross_account=True` when the handler authorises other accounts' registryIds itself."""
    if name not in model_operations():
        raise ValueError(f"{name} is not an operation of botocore's ECR model")

    def register(handler: Handler) -> Handler:
        existing = _operations.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"ECR operation {name} is registered twice "
                             f"({existing.handler.__module__} and {handler.__module__})")
        _operations[name] = Operation(name, handler, cross_account)
        return handler

    return register


@cache
def model_operations() -> frozenset[str]:
    """Every operation name in botocore's ECR model (the API's full surface)."""
    return frozenset(protocol.operation_names())


def lookup(name: str) -> Operation | None:
    load_operations()
    return _operations.get(name)


def registered() -> dict[str, Operation]:
    load_operations()
    return dict(_operations)


_loaded = False


def load_operations() -> None:
    """Import every module of `crossreg.ecr.ops`, so each registers its operations. Modules
    added later by other subsystems need no wiring beyond living in that package."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        import crossreg.ecr.ops as ops

        for info in pkgutil.walk_packages(ops.__path__, ops.__name__ + "."):
            importlib.import_module(info.name)
        _loaded = True
