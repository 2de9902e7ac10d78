"""Registry-policy statements shaped exactly like the ECR console's "Generate statement" output,
and merging a statement into an existing policy document."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from crossreg.iam.arn import repository_arn, root_principal_arn
from crossreg.iam.policy import PolicyError, is_valid_aws_principal

__all__ = ["replication_statement", "pull_through_cache_statement", "merge_statement"]

REPLICATION_ACTIONS = ["ecr:CreateRepository", "ecr:ReplicateImage"]
PULL_THROUGH_CACHE_ACTIONS = ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]

_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")
# Repository name (or namespace) segments; "*" and "?" allowed so a namespace can be covered whole.
_NAME_RE = re.compile(r"[a-z0-9*?](?:[a-z0-9._/*?-]*[a-z0-9*?])?")


def _split(values: str | Sequence[str]) -> list[str]:
    """The console takes comma-separated input; accept that or a list. Blanks and repeats go."""
    items = values.split(",") if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in result:
            result.append(item)
    return result


def _one_or_many(values: list[str]) -> str | list[str]:
    # The console writes a single principal as a string and several as a list.
    return values[0] if len(values) == 1 else values


def _check_destination(region: str, account: str) -> None:
    if not _REGION_RE.fullmatch(region):
        raise ValueError(f"{region!r} is not a region")
    if not _ACCOUNT_RE.fullmatch(account):
        raise ValueError(f"{account!r} is not a 12-digit account id")


def _with_sid(sid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    if sid is None:
        return body
    if not isinstance(sid, str) or not sid:
        raise ValueError("the statement id must be a non-empty string")
    return {"Sid": sid, **body}


def replication_statement(sid: str | None, source_accounts: str | Sequence[str],
                          region: str, account: str) -> dict[str, Any]:
    """Let ``source_accounts`` replicate into every repository of the registry
    ``account``/``region``, creating repositories as needed."""
    _check_destination(region, account)
    accounts = _split(source_accounts)
    if not accounts:
        raise ValueError("at least one source account id is required")
    for acct in accounts:
        if not _ACCOUNT_RE.fullmatch(acct):
            raise ValueError(f"{acct!r} is not a 12-digit account id")
    return _with_sid(sid, {
        "Effect": "Allow",
        "Principal": {"AWS": _one_or_many([root_principal_arn(a) for a in accounts])},
        "Action": list(REPLICATION_ACTIONS),
        "Resource": [repository_arn(region, account, "*")],
    })


def pull_through_cache_statement(sid: str | None, principal_arns: str | Sequence[str],
                                 region: str, account: str, prefix: str,
                                 repository_names: str | Sequence[str] = ()) -> dict[str, Any]:
    """Let IAM users/roles populate the pull-through cache namespace ``prefix`` of the registry
    ``account``/``region``: one Resource per repository name, or the whole namespace if none."""
    _check_destination(region, account)
    principals = _split(principal_arns)
    if not principals:
        raise ValueError("at least one IAM principal ARN is required")
    for p in principals:
        if not p.startswith("arn:") or not is_valid_aws_principal(p):
            raise ValueError(f"{p!r} is not an IAM principal ARN")
    prefix = prefix.strip().strip("/")
    if not _NAME_RE.fullmatch(prefix):
        raise ValueError(f"{prefix!r} is not a valid cache namespace")
    names = _split(repository_names) or ["*"]
    for name in names:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid repository name")
    return _with_sid(sid, {
        "Effect": "Allow",
        "Principal": {"AWS": _one_or_many(principals)},
        "Action": list(PULL_THROUGH_CACHE_ACTIONS),
        "Resource": [repository_arn(region, account, f"{prefix}/{name}") for name in names],
    })


def merge_statement(existing_policy_text: str | None, statement: dict[str, Any]) -> str:
    """Append ``statement`` to a policy document (a new 2012-10-17 document when there is
    none) and return the JSON text. Raises PolicyError if the existing text is not a policy
    document or already has a statement with the same Sid. The result is not otherwise
    validated: the caller validates it with parse_policy when it stores it."""
    if not isinstance(statement, dict):
        raise TypeError("statement must be a dict")
    if existing_policy_text is None or not existing_policy_text.strip():
        doc: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}
    else:
        try:
            doc = json.loads(existing_policy_text)
        except ValueError as exc:
            raise PolicyError(f"existing policy is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise PolicyError("existing policy must be a JSON object")
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("existing policy's Statement must be an object or a list")

    sid = statement.get("Sid")
    if sid is not None and any(isinstance(s, dict) and s.get("Sid") == sid for s in statements):
        raise PolicyError(f"a statement with Sid {sid!r} already exists in the policy")
    doc["Statement"] = [*statements, statement]
    return json.dumps(doc, indent=2)
