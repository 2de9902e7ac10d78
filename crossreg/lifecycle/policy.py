"""Parsing and validation of ECR lifecycle policy documents.

ECR checks a policy in two passes, and so does this module:

1. A JSON-schema pass. Real ECR validates with a JSON-schema validator and quotes its messages
   verbatim after `Lifecycle policy validation failure: ` (`object has missing required
   properties (["rules"])`, `instance failed to match exactly one schema (matched 0 out of 2)`,
   `instance type (null) does not match any allowed primitive type (allowed: ["array"])`, ...;
   all seen in real ECR answers quoted in public issue threads). The same wording is produced
   here, first violation only.
2. ECR's own rules, whose messages are quoted from real answers where known
   (`Only one rule can select Untagged images per storage class.`, `Rule for tagStatus=ANY must
   have the lowest priority per storage class`) and otherwise written in the same style.

crossreg has no archive storage class, so the archival parts of the grammar (action
`transition`, `storageClass: archive`, countType `sinceImageTransitioned`) are refused with a
message that says so, rather than accepted and silently never applied.

Everything here is pure: text in, `LifecyclePolicy` or `LifecyclePolicyError` out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")
AGE_COUNT_TYPES = ("sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")
COUNT_UNITS = ("days",)
ACTION_TYPES = ("expire", "transition")
STORAGE_CLASSES = ("standard", "archive")
TARGET_STORAGE_CLASSES = ("archive",)
MAX_WILDCARDS = 4  # per tagPatternList entry
_INT_MAX = 2 ** 31 - 1  # ECR's integers are Java ints

_RULE_KEYS = ("rulePriority", "description", "selection", "action")
_RULE_REQUIRED = ("action", "rulePriority", "selection")
_SELECTION_KEYS = ("tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType",
                   "countUnit", "countNumber")
_SELECTION_REQUIRED = ("countNumber", "countType", "tagStatus")
_ACTION_KEYS = ("type", "targetStorageClass")
_ONE_OF_MISMATCH = "instance failed to match exactly one schema (matched 0 out of 2)"
_NO_ARCHIVE = "crossreg has no archive storage class"


class LifecyclePolicyError(ValueError):
    """An invalid policy. `reason` is what ECR prints after 'Lifecycle policy validation
    failure: '."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        return f"Lifecycle policy validation failure: {self.reason}"


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str  # tagged | untagged | any
    count_type: str  # imageCountMoreThan | sinceImagePushed | sinceImagePulled
    count_number: int
    count_unit: str | None = None  # "days" for the age count types
    tag_prefixes: tuple[str, ...] = ()
    tag_patterns: tuple[str, ...] = ()
    description: str | None = None
    action: str = "expire"

    @property
    def max_age_seconds(self) -> float | None:
        """For age rules: how old (seconds) an image may get before it expires."""
        if self.count_type == "imageCountMoreThan":
            return None
        return self.count_number * 86400.0


@dataclass(frozen=True)
class LifecyclePolicy:
    rules: tuple[Rule, ...]  # ascending rulePriority: the order ECR applies them in


# --- the schema pass -------------------------------------------------------------------------

def _json_type(value) -> str:
    """JSON-schema primitive type names, as the validator prints them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _names(names) -> str:
    return json.dumps(sorted(names), separators=(",", ":"))


def _expect_type(value, expected: str) -> None:
    if _json_type(value) != expected:
        raise LifecyclePolicyError(f"instance type ({_json_type(value)}) does not match any allowed "
                                   f"primitive type (allowed: [\"{expected}\"])")


def _check_object(value, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    _expect_type(value, "object")
    missing = [k for k in required if k not in value]
    if missing:
        raise LifecyclePolicyError(f"object has missing required properties ({_names(missing)})")
    extra = [k for k in value if k not in allowed]
    if extra:
        raise LifecyclePolicyError("object instance has properties which are not allowed by the "
                                   f"schema: ({_names(extra)})")


def _check_enum(value, allowed: tuple[str, ...]) -> None:
    _expect_type(value, "string")
    if value not in allowed:
        raise LifecyclePolicyError(f"instance value ({json.dumps(value)}) not found in enum "
                                   f"(possible values: {json.dumps(list(allowed), separators=(',', ':'))})")


def _check_int(value, minimum: int = 1) -> int:
    _expect_type(value, "integer")
    if value < minimum:
        raise LifecyclePolicyError("numeric instance is lower than the required minimum "
                                   f"(minimum: {minimum}, found: {value})")
    if value > _INT_MAX:
        raise LifecyclePolicyError("numeric instance is greater than the required maximum "
                                   f"(maximum: {_INT_MAX}, found: {value})")
    return value


def _check_string_list(value) -> tuple[str, ...]:
    _expect_type(value, "array")
    for item in value:
        _expect_type(item, "string")
    return tuple(value)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_policy(text: str) -> LifecyclePolicy:
    """The policy `text` describes, or LifecyclePolicyError with ECR's reason."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise LifecyclePolicyError("Could not map policyString into LifecyclePolicy.") from None
    if not isinstance(doc, dict):
        raise LifecyclePolicyError("Could not map policyString into LifecyclePolicy.")
    _check_object(doc, ("rules",), ("rules",))
    rules_doc = doc["rules"]
    _expect_type(rules_doc, "array")
    if not rules_doc:
        raise LifecyclePolicyError("array is too short: must have at least 1 elements but instance "
                                   "has 0 elements")
    rules = [_parse_rule(r) for r in rules_doc]
    _check_crossreg_support(rules_doc)
    _check_rules(rules)
    return LifecyclePolicy(tuple(sorted(rules, key=lambda r: r.priority)))


def _parse_rule(doc) -> Rule:
    _check_object(doc, _RULE_KEYS, _RULE_REQUIRED)
    priority = _check_int(doc["rulePriority"])
    description = doc.get("description")
    if description is not None:
        _expect_type(description, "string")

    sel = doc["selection"]
    _check_object(sel, _SELECTION_KEYS, _SELECTION_REQUIRED)
    _check_enum(sel["tagStatus"], TAG_STATUSES)
    prefixes = _check_string_list(sel["tagPrefixList"]) if "tagPrefixList" in sel else None
    patterns = _check_string_list(sel["tagPatternList"]) if "tagPatternList" in sel else None
    if "storageClass" in sel:
        _check_enum(sel["storageClass"], STORAGE_CLASSES)
    # countType/countUnit form a oneOf: count rules take no unit, age rules need "days".
    count_type, unit = sel["countType"], sel.get("countUnit", None)
    if count_type == "imageCountMoreThan":
        ok = "countUnit" not in sel
    elif count_type in AGE_COUNT_TYPES:
        ok = unit in COUNT_UNITS
    else:
        ok = False
    if not ok:
        raise LifecyclePolicyError(_ONE_OF_MISMATCH)
    count_number = _check_int(sel["countNumber"])

    action = doc["action"]
    _check_object(action, _ACTION_KEYS, ("type",))
    _check_enum(action["type"], ACTION_TYPES)
    if "targetStorageClass" in action:
        _check_enum(action["targetStorageClass"], TARGET_STORAGE_CLASSES)
    # expire takes no target; transition needs one (again a oneOf).
    if (action["type"] == "expire") == ("targetStorageClass" in action):
        raise LifecyclePolicyError(_ONE_OF_MISMATCH)

    return Rule(priority=priority, tag_status=sel["tagStatus"], count_type=count_type,
                count_number=count_number, count_unit=unit,
                tag_prefixes=prefixes if prefixes is not None else (),
                tag_patterns=patterns if patterns is not None else (),
                description=description, action=action["type"])


def _check_crossreg_support(rules_doc: list) -> None:
    """The archival grammar is valid ECR, but crossreg cannot honour it."""
    for doc in rules_doc:
        if doc["action"]["type"] == "transition":
            raise LifecyclePolicyError(f"action type 'transition' is not supported: {_NO_ARCHIVE}")
        if doc["selection"].get("storageClass") == "archive":
            raise LifecyclePolicyError(f"storageClass 'archive' is not supported: {_NO_ARCHIVE}")
        if doc["selection"]["countType"] == "sinceImageTransitioned":
            raise LifecyclePolicyError(f"countType 'sinceImageTransitioned' is not supported: {_NO_ARCHIVE}")


def _check_rules(rules: list[Rule]) -> None:
    """ECR's rules on top of the schema (lifecycle_policy_parameters in the ECR user guide)."""
    for rule in rules:
        has_prefixes, has_patterns = bool(rule.tag_prefixes), bool(rule.tag_patterns)
        if rule.tag_status == "tagged":
            if has_prefixes and has_patterns:
                raise LifecyclePolicyError(
                    "A rule can have either a tagPrefixList or a tagPatternList, not both")
            if not has_prefixes and not has_patterns:
                raise LifecyclePolicyError(
                    "Rule for tagStatus=TAGGED must have a non-empty tagPrefixList or tagPatternList")
        elif has_prefixes or has_patterns:
            raise LifecyclePolicyError(
                f"Rule for tagStatus={rule.tag_status.upper()} cannot have a tagPrefixList or a "
                "tagPatternList")
        for pattern in rule.tag_patterns:
            if pattern.count("*") > MAX_WILDCARDS:
                raise LifecyclePolicyError(
                    f"Tag pattern '{pattern}' has more than {MAX_WILDCARDS} wildcards (*)")
    seen: set[int] = set()
    for rule in rules:
        if rule.priority in seen:
            raise LifecyclePolicyError(f"Rule priority {rule.priority} is not unique: rule "
                                       "priorities must be unique")
        seen.add(rule.priority)
    if sum(1 for r in rules if r.tag_status == "untagged") > 1:
        raise LifecyclePolicyError("Only one rule can select Untagged images per storage class.")
    highest = max(r.priority for r in rules)
    if any(r.tag_status == "any" and r.priority != highest for r in rules):
        raise LifecyclePolicyError("Rule for tagStatus=ANY must have the lowest priority per storage class")
