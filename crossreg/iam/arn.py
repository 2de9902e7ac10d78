"""ARNs and IAM-style wildcard matching.

Pure functions only. ARNs look like ``arn:partition:service:region:account:resource``; the resource
part may itself contain colons, so an ARN is split on the first five colons only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Arn",
    "ArnError",
    "parse_arn",
    "is_valid_arn",
    "repository_arn",
    "root_principal_arn",
    "account_of_principal",
    "wildcard_to_regex",
    "wildcard_match",
    "arn_match",
]

ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}$")


class ArnError(ValueError):
    """The text is not a well-formed ARN."""


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn:
    """Split an ARN into its six components; raise ArnError when it has fewer than six or
    the mandatory ones (partition, service, resource) are empty."""
    if not isinstance(text, str):
        raise ArnError(f"{text!r} is not a string")
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ArnError(f"{text!r} does not have the form arn:partition:service:region:account:resource")
    _, partition, service, region, account, resource = parts
    if not partition or not service or not resource:
        raise ArnError(f"{text!r} has an empty partition, service or resource")
    return Arn(partition, service, region, account, resource)


def is_valid_arn(text: str) -> bool:
    try:
        parse_arn(text)
    except ArnError:
        return False
    return True


def repository_arn(region: str, account: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:ecr:{region}:{account}:repository/{name}"


def root_principal_arn(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:root"


def account_of_principal(principal: str) -> str | None:
    """The account a principal belongs to: a bare 12-digit id or the account field of an
    iam/sts ARN. None when it names no account (``*``, service principals, junk)."""
    if ACCOUNT_ID_RE.match(principal):
        return principal
    try:
        arn = parse_arn(principal)
    except ArnError:
        return None
    return arn.account if ACCOUNT_ID_RE.match(arn.account) else None


@lru_cache(maxsize=4096)
def wildcard_to_regex(pattern: str, case_sensitive: bool = True) -> re.Pattern[str]:
    """Translate an IAM wildcard pattern: ``*`` is any run of characters (including none),
    ``?`` is exactly one character, everything else is literal. The whole value must match.
    For matching itself prefer wildcard_match, which cannot backtrack exponentially."""
    pattern = re.sub(r"\*+", "*", pattern)  # "**" means "*"; fewer stars, less backtracking
    body = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.compile(body, flags)


def wildcard_match(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM wildcard matching in O(len(pattern) * len(value)) time at worst.

    Policy text is user input, and a regex for a pattern like ``ecr:****...x`` backtracks
    exponentially, so this uses the classic greedy matcher: on a mismatch, let the most
    recent ``*`` absorb one more character and retry from there.
    Case-insensitive matching (for action names, which are ASCII) compares lowercased text.
    """
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    p = v = 0
    star = -1      # position in pattern of the last '*' seen
    resume = 0     # position in value where that '*' would next resume
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, v
            p += 1
        elif star >= 0:
            resume += 1
            p, v = star + 1, resume
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])


def arn_match(pattern: str, value: str) -> bool:
    """IAM ARN matching (ArnLike/ArnEquals and the Resource element): ``*`` alone matches
    anything; otherwise each of the six colon-separated components is matched separately,
    case-sensitively, so a wildcard never spans a component boundary (the resource
    component, being last, may itself contain colons)."""
    if pattern == "*":
        return True
    p_parts = pattern.split(":", 5)
    v_parts = value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts))
