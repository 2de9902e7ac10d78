"""Parsing and validation of ECR repository and registry policies (IAM JSON policy documents).

``parse_policy`` turns policy text into an immutable ``Policy`` or raises ``PolicyError`` whose
``reason`` says exactly what is wrong and where (``Statement[0].Resource: ...``). Callers wrap
it in ECR's message ("Invalid parameter at 'PolicyText' failed to satisfy constraint:
'Invalid repository policy provided'").

Deliberate strictness beyond AWS (see containers-roadmap #2675, where a malformed Resource
was accepted and replication then failed silently): a Resource must be ``*`` or a well-formed
ECR repository ARN, and an ``ecr:`` action must name (or, with wildcards, cover) a real ECR
action. Both mistakes would otherwise grant nothing without telling anyone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from crossreg.iam.actions import REGISTRY_POLICY_V1_ACTIONS, actions_matching, ecr_actions
from crossreg.iam.arn import ArnError, parse_arn, wildcard_match
from crossreg.iam.conditions import Condition, parse_condition_block

__all__ = ["PolicyError", "Principal", "Statement", "Policy", "parse_policy", "is_valid_aws_principal", "VERSIONS"]

PolicyKind = Literal["repository", "registry"]
RegistryPolicyScope = Literal["V1", "V2"]

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_LEVEL_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {
    "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
    "Resource", "NotResource", "Condition",
}

_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_PARTITION = r"aws(?:-[a-z]+)*"
_IAM_PRINCIPAL_RE = re.compile(
    rf"arn:{_PARTITION}:iam::[0-9]{{12}}:(?:root|(?:user|role)/[\w+=,.@/-]+)"
)
_STS_PRINCIPAL_RE = re.compile(rf"arn:{_PARTITION}:sts::[0-9]{{12}}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+")
_SERVICE_PRINCIPAL_RE = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+")
_ACTION_RE = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")
_REPOSITORY_PREFIX = "repository/"


def is_valid_aws_principal(value: str) -> bool:
    """An ``AWS`` principal as ECR accepts it: ``*``, a 12-digit account id, an IAM root,
    user or role ARN, or an STS assumed-role session ARN. No other wildcards."""
    return bool(value == "*" or _ACCOUNT_RE.fullmatch(value) or _IAM_PRINCIPAL_RE.fullmatch(value)
                or _STS_PRINCIPAL_RE.fullmatch(value))


class PolicyError(ValueError):
    """The policy text is not a valid policy of the requested kind; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """A Principal or NotPrincipal element."""

    wildcard: bool = False          # "*" or {"AWS": "*"}: everyone
    aws: tuple[str, ...] = ()       # account ids and iam/sts ARNs, as written
    service: tuple[str, ...] = ()   # service principals, e.g. "replication.ecr.amazonaws.com"


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: Literal["Allow", "Deny"]
    principal: Principal | None = None
    not_principal: Principal | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None      # None with not_resources None: the policy's own resource
    not_resources: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None


def parse_policy(
    text: str,
    kind: PolicyKind,
    registry_policy_scope: RegistryPolicyScope = "V2",
) -> Policy:
    """Parse and validate a policy document. Raises PolicyError on any invalid input;
    ValueError only for an invalid ``kind`` or ``registry_policy_scope`` (a caller bug)."""
    if kind not in ("repository", "registry"):
        raise ValueError(f"unknown policy kind {kind!r}")
    if registry_policy_scope not in ("V1", "V2"):
        raise ValueError(f"unknown registry policy scope {registry_policy_scope!r}")
    return _Parser(kind, registry_policy_scope).parse(text)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would silently keep the last value; a policy with two "Effect"s is ambiguous.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PolicyError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise PolicyError(f"{name} is not valid JSON")


def _string_or_list(value: Any, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise PolicyError(f"{where}: must not be an empty list")
    for v in values:
        if not isinstance(v, str):
            raise PolicyError(f"{where}: {v!r} is not a string")
    return tuple(values)


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class _Parser:
    def __init__(self, kind: PolicyKind, scope: RegistryPolicyScope):
        self.kind = kind
        self.scope = scope

    def parse(self, text: Any) -> Policy:
        if not isinstance(text, str):
            raise PolicyError("policy text must be a string")
        try:
            doc = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
        except PolicyError:
            raise
        except (ValueError, RecursionError) as exc:
            raise PolicyError(f"policy is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise PolicyError("policy must be a JSON object")
        unknown = sorted(set(doc) - _TOP_LEVEL_KEYS)
        if unknown:
            raise PolicyError(f"unknown top-level element {unknown[0]!r}")

        if "Version" not in doc:
            raise PolicyError("Version is required")
        version = doc["Version"]
        if version not in VERSIONS:
            raise PolicyError(f"Version: {version!r} is not one of {', '.join(VERSIONS)}")
        policy_id = doc.get("Id")
        if policy_id is not None and not isinstance(policy_id, str):
            raise PolicyError("Id: must be a string")

        if "Statement" not in doc:
            raise PolicyError("Statement is required")
        raw = doc["Statement"]
        raw_statements = raw if isinstance(raw, list) else [raw]
        if not raw_statements:
            raise PolicyError("Statement: must not be empty")
        statements = tuple(self._statement(s, f"Statement[{i}]") for i, s in enumerate(raw_statements))

        if self.kind == "registry":
            # Repository policies may repeat Sids (AWS accepts it); registry policies may not.
            seen: set[str] = set()
            for i, st in enumerate(statements):
                if st.sid is not None:
                    if st.sid in seen:
                        raise PolicyError(f"Statement[{i}].Sid: duplicate Sid {st.sid!r}")
                    seen.add(st.sid)
        return Policy(kind=self.kind, version=version, statements=statements, id=policy_id)

    # --- statement ---------------------------------------------------------------------------

    def _statement(self, raw: Any, where: str) -> Statement:
        if not isinstance(raw, dict):
            raise PolicyError(f"{where}: must be an object")
        unknown = sorted(set(raw) - _STATEMENT_KEYS)
        if unknown:
            raise PolicyError(f"{where}: unknown element {unknown[0]!r}")

        sid = raw.get("Sid")
        if sid is not None and not isinstance(sid, str):
            raise PolicyError(f"{where}.Sid: must be a string")

        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}.Effect: must be 'Allow' or 'Deny', not {effect!r}")

        principal_key = self._exactly_one(raw, "Principal", "NotPrincipal", where, required=True)
        principal = self._principal(raw[principal_key], f"{where}.{principal_key}")

        action_key = self._exactly_one(raw, "Action", "NotAction", where, required=True)
        actions = self._actions(raw[action_key], f"{where}.{action_key}", negated=action_key == "NotAction")

        # moto and AWS let a repository policy omit Resource: it then means the repository itself.
        resource_key = self._exactly_one(raw, "Resource", "NotResource", where, required=self.kind == "registry")
        resources = None
        if resource_key is not None:
            resources = self._resources(raw[resource_key], f"{where}.{resource_key}")

        conditions: tuple[Condition, ...] = ()
        if "Condition" in raw:
            try:
                conditions = parse_condition_block(raw["Condition"], f"{where}.Condition")
            except ValueError as exc:
                raise PolicyError(str(exc)) from None

        return Statement(
            sid=sid,
            effect=effect,
            principal=principal if principal_key == "Principal" else None,
            not_principal=principal if principal_key == "NotPrincipal" else None,
            actions=actions if action_key == "Action" else None,
            not_actions=actions if action_key == "NotAction" else None,
            resources=resources if resource_key == "Resource" else None,
            not_resources=resources if resource_key == "NotResource" else None,
            conditions=conditions,
        )

    @staticmethod
    def _exactly_one(raw: dict, key: str, not_key: str, where: str, required: bool) -> str | None:
        if key in raw and not_key in raw:
            raise PolicyError(f"{where}: {key} and {not_key} cannot both be present")
        if key in raw:
            return key
        if not_key in raw:
            return not_key
        if required:
            raise PolicyError(f"{where}: {key} or {not_key} is required")
        return None

    # --- principal ---------------------------------------------------------------------------

    def _principal(self, raw: Any, where: str) -> Principal:
        if raw == "*":
            return Principal(wildcard=True)
        if not isinstance(raw, dict) or not raw:
            raise PolicyError(f"{where}: must be \"*\" or an object such as {{\"AWS\": ...}}")
        aws: tuple[str, ...] = ()
        service: tuple[str, ...] = ()
        for ptype, value in raw.items():
            here = f"{where}.{ptype}"
            if ptype == "AWS":
                aws = _string_or_list(value, here)
                for p in aws:
                    if not is_valid_aws_principal(p):
                        raise PolicyError(f"{here}: {p!r} is not a valid AWS principal "
                                          "(an account id, an IAM root/user/role ARN, or \"*\")")
            elif ptype == "Service":
                service = _string_or_list(value, here)
                for p in service:
                    if not _SERVICE_PRINCIPAL_RE.fullmatch(p):
                        raise PolicyError(f"{here}: {p!r} is not a valid service principal")
            else:
                raise PolicyError(f"{where}: unsupported principal type {ptype!r} (expected AWS or Service)")
        return Principal(wildcard="*" in aws, aws=aws, service=service)

    # --- actions -----------------------------------------------------------------------------

    def _actions(self, raw: Any, where: str, negated: bool) -> tuple[str, ...]:
        actions = _string_or_list(raw, where)
        for action in actions:
            if action == "*":
                continue
            if not _ACTION_RE.fullmatch(action):
                raise PolicyError(f"{where}: {action!r} is not a valid action (expected 'service:Action')")
            service = action.split(":", 1)[0].lower()
            if service == "ecr":
                if not actions_matching(action):
                    raise PolicyError(f"{where}: {action!r} is not a known ECR action")
            elif self.kind == "registry":
                raise PolicyError(f"{where}: {action!r} is not allowed in a registry policy (only ecr: actions)")
        if self.kind == "registry" and self.scope == "V1":
            self._check_v1_scope(actions, where, negated)
        return actions

    @staticmethod
    def _check_v1_scope(actions: tuple[str, ...], where: str, negated: bool) -> None:
        allowed = ", ".join(sorted(REGISTRY_POLICY_V1_ACTIONS)) + ", ecr:*"
        if negated:
            # NotAction covers every action it does not list; all of those must be V1 actions.
            covered = ecr_actions() - frozenset().union(*(actions_matching(a) for a in actions))
            extra = sorted(covered - REGISTRY_POLICY_V1_ACTIONS)
            if extra:
                raise PolicyError(f"{where}: covers {extra[0]!r}, which is not allowed in a registry "
                                  f"policy with scope V1 (allowed: {allowed})")
            return
        for action in actions:
            if action == "*" or action.lower() == "ecr:*":
                continue
            if not actions_matching(action) <= REGISTRY_POLICY_V1_ACTIONS:
                raise PolicyError(f"{where}: {action!r} is not allowed in a registry policy with "
                                  f"scope V1 (allowed: {allowed})")

    # --- resources ---------------------------------------------------------------------------

    def _resources(self, raw: Any, where: str) -> tuple[str, ...]:
        resources = _string_or_list(raw, where)
        for resource in resources:
            if resource != "*":
                problem = _repository_arn_problem(resource)
                if problem:
                    raise PolicyError(f"{where}: {resource!r} is not a valid ARN ({problem})")
        return resources


def _repository_arn_problem(text: str) -> str | None:
    """Why ``text`` is not a (possibly wildcarded) ECR repository ARN, or None if it is one."""
    try:
        arn = parse_arn(text)
    except ArnError:
        return "expected arn:partition:ecr:region:account:repository/name"

    def component_ok(value: str, exact: re.Pattern[str], charset: str) -> bool:
        if _has_wildcard(value):
            return re.fullmatch(f"[*?{charset}]+", value) is not None
        return exact.fullmatch(value) is not None

    if not component_ok(arn.partition, re.compile(_PARTITION), "a-z-"):
        return f"partition {arn.partition!r} is not an AWS partition"
    if not wildcard_match(arn.service, "ecr"):
        return f"service is {arn.service!r}, expected 'ecr'"
    if not component_ok(arn.region, _REGION_RE, "a-z0-9-"):
        return f"region {arn.region!r} is not a region"
    if not component_ok(arn.account, _ACCOUNT_RE, "0-9"):
        return f"account {arn.account!r} is not a 12-digit account id"
    # The literal text before the first wildcard must be consistent with "repository/<name>".
    literal = re.split(r"[*?]", arn.resource, maxsplit=1)[0]
    if _has_wildcard(arn.resource):
        consistent = literal.startswith(_REPOSITORY_PREFIX) or _REPOSITORY_PREFIX.startswith(literal)
    else:
        consistent = literal.startswith(_REPOSITORY_PREFIX) and len(literal) > len(_REPOSITORY_PREFIX)
    if not consistent:
        return f"resource {arn.resource!r} is not repository/<name>"
    return None
