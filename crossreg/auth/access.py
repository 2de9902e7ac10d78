"""Who may do what: one place that decides access for the OCI API, the ECR API and the console.

A caller always has full access to its own account's registries. Another account gets access
only through resource-based policies: the repository policy, or (ECR's V2 registry policy scope)
the registry policy of the repository's registry. Explicit denies win.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable


@dataclass(frozen=True)
class Caller:
    account_id: str

    @property
    def principal_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"


class AccessDenied(Exception):
    def __init__(self, caller: Caller, action: str, resource_arn: str):
        super().__init__(
            f"User: {caller.principal_arn} is not authorized to perform: {action} on resource: "
            f"{resource_arn} because no resource-based policy allows the {action} action")
        self.caller, self.action, self.resource_arn = caller, action, resource_arn


PolicyLookup = Callable[[], "list[str]"]


def is_allowed(caller: Caller, action: str, owner_account: str, resource_arn: str,
               policies: list[str], context: dict | None = None) -> bool:
    if caller.account_id == owner_account:
        return True
    if not policies:
        return False
    from crossreg.iam.evaluate import AuthzRequest, Decision, evaluate

    parsed = [p for p in map(_parsed, policies) if p is not None]
    ctx = {"aws:PrincipalAccount": caller.account_id, "aws:PrincipalArn": caller.principal_arn}
    ctx.update(context or {})
    request = AuthzRequest(principal_arn=caller.principal_arn, principal_account=caller.account_id,
                           action=action, resource_arn=resource_arn, context=ctx)
    return evaluate(parsed, request) == Decision.ALLOW


@lru_cache(maxsize=1024)
def _parsed(text: str):
    """Stored policies were validated when stored; parse each distinct text once per process.
    Repository and registry policies share the grammar evaluation needs."""
    from crossreg.iam.policy import PolicyError, parse_policy

    try:
        return parse_policy(text, "repository")
    except PolicyError:
        return None  # a stored policy that no longer parses grants nothing


def require(caller: Caller, action: str, owner_account: str, resource_arn: str,
            policies: list[str], context: dict | None = None) -> None:
    if not is_allowed(caller, action, owner_account, resource_arn, policies, context):
        raise AccessDenied(caller, action, resource_arn)
