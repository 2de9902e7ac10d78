"""Evaluate resource policies for one request, with IAM's precedence:
an explicit Deny beats any Allow, and no matching Allow is an implicit deny.

Only resource-based policies are evaluated here (repository and registry policies); deciding
that a caller has full access to its own account is the caller's job (crossreg.auth.access).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from crossreg.iam.arn import account_of_principal, arn_match, root_principal_arn, wildcard_match
from crossreg.iam.conditions import condition_holds
from crossreg.iam.policy import Policy, Principal, Statement

__all__ = ["Decision", "AuthzRequest", "Evaluation", "evaluate", "explain", "is_allowed", "statement_applies"]


class Decision(str, Enum):
    ALLOW = "ALLOW"
    EXPLICIT_DENY = "EXPLICIT_DENY"
    IMPLICIT_DENY = "IMPLICIT_DENY"


@dataclass(frozen=True)
class AuthzRequest:
    """One authorization question: may ``principal_arn`` (of ``principal_account``) perform
    ``action`` on ``resource_arn``? ``context`` holds condition keys such as
    ``aws:SourceAccount``; ``aws:PrincipalAccount`` and ``aws:PrincipalArn`` are always
    derived from the principal when not given, as IAM does."""

    principal_arn: str
    principal_account: str
    action: str
    resource_arn: str
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Copy and freeze, so a request cannot change after it was built.
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))

    @classmethod
    def for_account(cls, account: str, action: str, resource_arn: str,
                    context: Mapping[str, Any] | None = None) -> AuthzRequest:
        """A request made by an account as a whole (``arn:aws:iam::<account>:root``)."""
        return cls(root_principal_arn(account), account, action, resource_arn, context or {})


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    # The statements that decided: the matching Denies, or else the matching Allows.
    statements: tuple[Statement, ...] = ()


def _policies(policy_or_policies: Policy | Iterable[Policy] | None) -> list[Policy]:
    if policy_or_policies is None:
        return []
    if isinstance(policy_or_policies, Policy):
        return [policy_or_policies]
    if isinstance(policy_or_policies, (str, bytes)):
        raise TypeError("evaluate takes parsed policies; call parse_policy first")
    return list(policy_or_policies)


def _context(request: AuthzRequest) -> dict[str, Any]:
    # Condition key names are case-insensitive in IAM.
    ctx = {"aws:principalaccount": request.principal_account, "aws:principalarn": request.principal_arn}
    ctx.update({key.casefold(): value for key, value in request.context.items()})
    return ctx


def _role_of_session(principal_arn: str) -> tuple[str, str] | None:
    """(account, role name) of an STS assumed-role session ARN, else None."""
    parts = principal_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        segments = parts[5].split("/")
        if len(segments) >= 3:
            return parts[4], segments[1]
    return None


def _aws_principal_matches(entry: str, request: AuthzRequest) -> bool:
    if entry == "*":
        return True
    # An account id or the account's root ARN stands for every principal of that account.
    if entry.endswith(":root") or entry.isdigit():
        return account_of_principal(entry) == request.principal_account
    if entry == request.principal_arn:
        return True
    # A role in a policy also matches sessions of that role (the path is not in session ARNs).
    session = _role_of_session(request.principal_arn)
    if session and ":role/" in entry:
        account, role_name = session
        return account_of_principal(entry) == account and entry.rsplit("/", 1)[1] == role_name
    return False


def _principal_matches(principal: Principal, request: AuthzRequest) -> bool:
    if principal.wildcard:
        return True
    if any(_aws_principal_matches(entry, request) for entry in principal.aws):
        return True
    return request.principal_arn in principal.service


def statement_applies(statement: Statement, request: AuthzRequest,
                      context: Mapping[str, Any] | None = None) -> bool:
    """Whether every element of the statement matches the request (its Effect aside)."""
    if statement.principal is not None and not _principal_matches(statement.principal, request):
        return False
    if statement.not_principal is not None and _principal_matches(statement.not_principal, request):
        return False

    def action_in(patterns: tuple[str, ...]) -> bool:
        return any(wildcard_match(p, request.action, case_sensitive=False) for p in patterns)

    if statement.actions is not None and not action_in(statement.actions):
        return False
    if statement.not_actions is not None and action_in(statement.not_actions):
        return False

    # No Resource element (repository policies): the statement covers the policy's resource.
    if statement.resources is not None and not any(arn_match(p, request.resource_arn) for p in statement.resources):
        return False
    if statement.not_resources is not None and any(arn_match(p, request.resource_arn) for p in statement.not_resources):
        return False

    ctx = _context(request) if context is None else context
    return all(condition_holds(c, ctx) for c in statement.conditions)


def explain(policy_or_policies: Policy | Iterable[Policy] | None, request: AuthzRequest) -> Evaluation:
    """The decision together with the statements that produced it."""
    ctx = _context(request)
    denies: list[Statement] = []
    allows: list[Statement] = []
    for policy in _policies(policy_or_policies):
        for statement in policy.statements:
            if statement_applies(statement, request, ctx):
                (denies if statement.effect == "Deny" else allows).append(statement)
    if denies:
        return Evaluation(Decision.EXPLICIT_DENY, tuple(denies))
    if allows:
        return Evaluation(Decision.ALLOW, tuple(allows))
    return Evaluation(Decision.IMPLICIT_DENY)


def evaluate(policy_or_policies: Policy | Iterable[Policy] | None, request: AuthzRequest) -> Decision:
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY for the request under all the given policies."""
    return explain(policy_or_policies, request).decision


def is_allowed(
    policy_or_policies: Policy | Iterable[Policy] | None,
    request: AuthzRequest | None = None,
    *,
    principal_account: str | None = None,
    action: str | None = None,
    resource_arn: str | None = None,
    principal_arn: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> bool:
    """True when the policies allow the request. Pass either a request, or its fields as
    keywords (``principal_arn`` defaults to the account's root)."""
    if request is None:
        if principal_account is None or action is None or resource_arn is None:
            raise TypeError("is_allowed needs a request or principal_account, action and resource_arn")
        request = AuthzRequest(principal_arn or root_principal_arn(principal_account),
                               principal_account, action, resource_arn, context or {})
    elif any(v is not None for v in (principal_account, action, resource_arn, principal_arn, context)):
        raise TypeError("is_allowed takes a request or keyword fields, not both")
    return evaluate(policy_or_policies, request) == Decision.ALLOW
