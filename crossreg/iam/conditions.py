"""IAM condition operators: parsing, value validation and evaluation against a request context.

A condition block is ``{"<operator>": {"<key>": value-or-values}}``. The operator is a base
operator (``StringEquals``...), optionally prefixed with a set qualifier (``ForAnyValue:`` /
``ForAllValues:``) and optionally suffixed with ``IfExists``.

Evaluation follows IAM:
- several values for one key are ORed; several keys and several operators are ANDed;
- a negated operator (``StringNotEquals``...) holds when the value matches *none* of the policy
  values;
- a key missing from the context makes the condition false, except: ``...IfExists`` and negated
  operators hold, ``ForAllValues:`` holds (vacuously), and ``Null`` tests exactly that.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from crossreg.iam.arn import arn_match, wildcard_match

__all__ = ["Condition", "BASE_OPERATORS", "parse_condition_block", "condition_holds"]


@dataclass(frozen=True)
class Condition:
    operator: str                # as written in the policy, e.g. "ForAnyValue:StringLikeIfExists"
    base: str                    # e.g. "StringLike"
    set_qualifier: str | None    # "ForAnyValue", "ForAllValues" or None
    if_exists: bool
    key: str
    values: tuple[str, ...]      # normalised to strings, as IAM treats them


# --- value coercion -------------------------------------------------------------------------
# Each coercer turns a policy or context value into a comparable form, or raises ValueError.


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"{value!r} is not a string")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{value!r} is not 'true' or 'false'")


def _as_number(value: Any) -> float:
    if isinstance(value, bool):  # bool is an int subclass, but not a number to IAM
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    else:
        raise ValueError(f"{value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _as_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    elif isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d+", value)):
        # IAM accepts epoch seconds as well as ISO 8601.
        try:
            parsed = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is not a date") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date") from None
    else:
        raise ValueError(f"{value!r} is not a date")
    # A date without a zone is UTC, as everywhere in AWS.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _as_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address or CIDR block")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block") from None


def _as_address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    return ipaddress.ip_address(value)


# --- operators --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operator:
    validate: Callable[[Any], Any]        # checks a policy value (raises ValueError)
    match: Callable[[str, Any], bool]     # policy value, context value → positive match
    negated: bool = False


def _cmp(coerce: Callable[[Any], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, Any], bool]:
    return lambda policy_value, ctx_value: test(coerce(ctx_value), coerce(policy_value))


def _string_like(policy_value: str, ctx_value: Any) -> bool:
    return wildcard_match(policy_value, _as_string(ctx_value))


def _arn_like(policy_value: str, ctx_value: Any) -> bool:
    return arn_match(policy_value, _as_string(ctx_value))


def _in_network(policy_value: str, ctx_value: Any) -> bool:
    # An IPv4 address is simply not in an IPv6 network (and vice versa): no error.
    return _as_address(ctx_value) in _as_network(policy_value)


_string_eq = _cmp(_as_string, lambda c, p: c == p)
_string_eq_ci = _cmp(_as_string, lambda c, p: c.casefold() == p.casefold())
_num_eq = _cmp(_as_number, lambda c, p: c == p)
_date_eq = _cmp(_as_date, lambda c, p: c == p)

BASE_OPERATORS: dict[str, _Operator] = {
    "StringEquals": _Operator(_as_string, _string_eq),
    "StringNotEquals": _Operator(_as_string, _string_eq, negated=True),
    "StringEqualsIgnoreCase": _Operator(_as_string, _string_eq_ci),
    "StringNotEqualsIgnoreCase": _Operator(_as_string, _string_eq_ci, negated=True),
    "StringLike": _Operator(_as_string, _string_like),
    "StringNotLike": _Operator(_as_string, _string_like, negated=True),
    # ArnEquals and ArnLike behave identically in IAM: both take wildcards per component.
    "ArnEquals": _Operator(_as_string, _arn_like),
    "ArnLike": _Operator(_as_string, _arn_like),
    "ArnNotEquals": _Operator(_as_string, _arn_like, negated=True),
    "ArnNotLike": _Operator(_as_string, _arn_like, negated=True),
    "Bool": _Operator(_as_bool, _cmp(_as_bool, lambda c, p: c == p)),
    "NumericEquals": _Operator(_as_number, _num_eq),
    "NumericNotEquals": _Operator(_as_number, _num_eq, negated=True),
    "NumericLessThan": _Operator(_as_number, _cmp(_as_number, lambda c, p: c < p)),
    "NumericLessThanEquals": _Operator(_as_number, _cmp(_as_number, lambda c, p: c <= p)),
    "NumericGreaterThan": _Operator(_as_number, _cmp(_as_number, lambda c, p: c > p)),
    "NumericGreaterThanEquals": _Operator(_as_number, _cmp(_as_number, lambda c, p: c >= p)),
    "DateEquals": _Operator(_as_date, _date_eq),
    "DateNotEquals": _Operator(_as_date, _date_eq, negated=True),
    "DateLessThan": _Operator(_as_date, _cmp(_as_date, lambda c, p: c < p)),
    "DateLessThanEquals": _Operator(_as_date, _cmp(_as_date, lambda c, p: c <= p)),
    "DateGreaterThan": _Operator(_as_date, _cmp(_as_date, lambda c, p: c > p)),
    "DateGreaterThanEquals": _Operator(_as_date, _cmp(_as_date, lambda c, p: c >= p)),
    "IpAddress": _Operator(_as_network, _in_network),
    "NotIpAddress": _Operator(_as_network, _in_network, negated=True),
    # Null is special-cased in condition_holds: it tests presence, not a value.
    "Null": _Operator(_as_bool, lambda p, c: False),
}

_QUALIFIERS = ("ForAnyValue", "ForAllValues")
_KEY_RE = re.compile(r"[A-Za-z0-9-]+:\S+")


def _parse_operator(name: str) -> tuple[str | None, str, bool]:
    qualifier, sep, rest = name.partition(":")
    if not sep:
        qualifier, rest = None, name
    elif qualifier not in _QUALIFIERS:
        raise ValueError(f"unknown condition operator {name!r}")
    base, if_exists = (rest[: -len("IfExists")], True) if rest.endswith("IfExists") else (rest, False)
    if base not in BASE_OPERATORS:
        raise ValueError(f"unknown condition operator {name!r}")
    if base == "Null" and (if_exists or qualifier):
        raise ValueError(f"condition operator {name!r} is not allowed: Null takes no qualifier or IfExists")
    return qualifier, base, if_exists


def _normalise(base: str, value: Any) -> str:
    """Validate one policy value for the operator and return it as IAM's string form."""
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"{value!r} is not a scalar condition value")
    BASE_OPERATORS[base].validate(value)
    if base in ("Bool", "Null"):
        return "true" if _as_bool(value) else "false"
    return _as_string(value)


def parse_condition_block(block: Any, where: str) -> tuple[Condition, ...]:
    """Parse a statement's Condition element. Raises ValueError with a reason prefixed by
    ``where`` (e.g. ``Statement[0].Condition``)."""
    if not isinstance(block, dict):
        raise ValueError(f"{where}: must be an object")
    conditions = []
    for operator, entries in block.items():
        here = f"{where}.{operator}"
        try:
            qualifier, base, if_exists = _parse_operator(operator)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"{here}: must be a non-empty object of condition keys")
        for key, raw in entries.items():
            if not _KEY_RE.fullmatch(key):
                raise ValueError(f"{here}: {key!r} is not a valid condition key (expected 'prefix:name')")
            raw_values = raw if isinstance(raw, list) else [raw]
            if not raw_values:
                raise ValueError(f"{here}.{key}: must have at least one value")
            try:
                values = tuple(_normalise(base, v) for v in raw_values)
            except ValueError as exc:
                raise ValueError(f"{here}.{key}: {exc}") from None
            conditions.append(Condition(operator, base, qualifier, if_exists, key, values))
    return tuple(conditions)


# --- evaluation -------------------------------------------------------------------------------


_MULTI = (list, tuple, set, frozenset)


def _present(value: Any) -> bool:
    # An empty multi-valued key counts as absent, like a null one.
    return value is not None and not (isinstance(value, _MULTI) and not value)


def _matches(op: _Operator, policy_value: str, ctx_value: Any) -> bool | None:
    """Positive match, or None when the context value has the wrong type for the operator."""
    try:
        return op.match(policy_value, ctx_value)
    except (ValueError, TypeError):
        return None


def _satisfies(op: _Operator, values: tuple[str, ...], ctx_value: Any) -> bool:
    results = [_matches(op, v, ctx_value) for v in values]
    if None in results:
        # A context value of the wrong type (a non-IP for IpAddress...) satisfies nothing,
        # not even a negated operator.
        return False
    return not any(results) if op.negated else any(results)


def condition_holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    """Evaluate one condition. ``context`` must be keyed by casefolded condition key names,
    since IAM condition keys are case-insensitive."""
    op = BASE_OPERATORS[condition.base]
    value = context.get(condition.key.casefold())

    if condition.base == "Null":
        # "Null": {"k": "true"} holds when k is absent; "false" when it is present.
        return any((v == "true") != _present(value) for v in condition.values)

    if not _present(value):
        if condition.if_exists or condition.set_qualifier == "ForAllValues":
            return True
        if condition.set_qualifier == "ForAnyValue":
            return False
        return op.negated

    ctx_values = value if isinstance(value, _MULTI) else [value]
    results = [_satisfies(op, condition.values, v) for v in ctx_values]
    if condition.set_qualifier == "ForAllValues":
        return all(results)
    if condition.set_qualifier == "ForAnyValue" or not op.negated:
        return any(results)
    # A negated operator on a multi-valued key without qualifier: no value may match.
    return all(results)
