"""Validation of lifecycle policy documents as ECR defines them (pure, no I/O).

A policy is {"rules": [{"rulePriority": int, "description"?: str, "selection": {"tagStatus":
"tagged"|"untagged"|"any", "tagPrefixList"|"tagPatternList"?: [str], "countType":
"imageCountMoreThan"|"sinceImagePushed", "countUnit"?: "days", "countNumber": int},
"action": {"type": "expire"}}]}.
"""

from __future__ import annotations

import json

MIN_LENGTH, MAX_LENGTH = 100, 30720  # botocore's LifecyclePolicyText
TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed")
MAX_WILDCARDS = 4


class LifecyclePolicyInvalid(ValueError):
    """`reason` is English (ECR's API wording); `key` and `params` name the rule broken, for
    translated user interfaces."""

    def __init__(self, reason: str, key: str, **params):
        super().__init__(reason)
        self.reason, self.key, self.params = reason, key, params

    @property
    def api_message(self) -> str:
        return ("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
                f"'Lifecycle policy validation failure: {self.reason}'")


def validate_lifecycle_policy(text: str) -> dict:
    """The parsed policy, or LifecyclePolicyInvalid."""
    if not isinstance(text, str):
        raise LifecyclePolicyInvalid("policy text must be a string", "not_json", detail="")
    if len(text) < MIN_LENGTH:
        raise LifecyclePolicyInvalid(f"policy text must be at least {MIN_LENGTH} characters long",
                                     "too_short", min=MIN_LENGTH)
    if len(text) > MAX_LENGTH:
        raise LifecyclePolicyInvalid(f"policy text must be at most {MAX_LENGTH} characters long",
                                     "too_long", max=MAX_LENGTH)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
        raise LifecyclePolicyInvalid(f"not valid JSON: {exc}", "not_json", line=line, column=col) from None
    if not isinstance(doc, dict):
        raise LifecyclePolicyInvalid("the policy must be a JSON object", "not_object")
    rules = doc.get("rules")
    if not isinstance(rules, list) or not rules:
        raise LifecyclePolicyInvalid("'rules' must be a non-empty list", "rules_missing")
    unknown = sorted(set(doc) - {"rules"})
    if unknown:
        raise LifecyclePolicyInvalid(f"unknown field '{unknown[0]}'", "unknown_field", field=unknown[0])
    priorities: set[int] = set()
    any_priority = None
    for i, rule in enumerate(rules, 1):
        if not isinstance(rule, dict):
            raise LifecyclePolicyInvalid(f"rule {i} must be a JSON object", "rule_not_object", rule=i)
        unknown = sorted(set(rule) - {"rulePriority", "description", "selection", "action"})
        if unknown:
            raise LifecyclePolicyInvalid(f"rule {i}: unknown field '{unknown[0]}'", "rule_unknown_field",
                                         rule=i, field=unknown[0])
        prio = rule.get("rulePriority")
        if not isinstance(prio, int) or isinstance(prio, bool) or prio < 1:
            raise LifecyclePolicyInvalid(f"rule {i}: 'rulePriority' must be a positive integer",
                                         "priority_invalid", rule=i)
        if prio in priorities:
            raise LifecyclePolicyInvalid(f"'rulePriority' must be unique; {prio} is used twice",
                                         "priority_duplicate", priority=prio)
        priorities.add(prio)
        if "description" in rule and not isinstance(rule["description"], str):
            raise LifecyclePolicyInvalid(f"rule {i}: 'description' must be a string", "description_invalid", rule=i)
        sel = rule.get("selection")
        if not isinstance(sel, dict):
            raise LifecyclePolicyInvalid(f"rule {i}: 'selection' is required", "selection_missing", rule=i)
        status = sel.get("tagStatus")
        if status not in TAG_STATUSES:
            raise LifecyclePolicyInvalid(f"rule {i}: 'tagStatus' must be one of tagged, untagged, any",
                                         "tag_status_invalid", rule=i)
        prefixes, patterns = sel.get("tagPrefixList"), sel.get("tagPatternList")
        if status == "tagged":
            if (prefixes is None) == (patterns is None):
                raise LifecyclePolicyInvalid(
                    f"rule {i}: a 'tagged' selection needs exactly one of 'tagPrefixList' and 'tagPatternList'",
                    "tagged_needs_list", rule=i)
            values = prefixes if prefixes is not None else patterns
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                raise LifecyclePolicyInvalid(f"rule {i}: the tag list must be a non-empty list of strings",
                                             "tag_list_invalid", rule=i)
            if patterns is not None and any(p.count("*") > MAX_WILDCARDS for p in patterns):
                raise LifecyclePolicyInvalid(f"rule {i}: a tag pattern may contain at most {MAX_WILDCARDS} wildcards",
                                             "too_many_wildcards", rule=i, max=MAX_WILDCARDS)
        elif prefixes is not None or patterns is not None:
            raise LifecyclePolicyInvalid(
                f"rule {i}: 'tagPrefixList' and 'tagPatternList' are only allowed when 'tagStatus' is 'tagged'",
                "tag_list_not_allowed", rule=i)
        count_type = sel.get("countType")
        if count_type not in COUNT_TYPES:
            raise LifecyclePolicyInvalid(f"rule {i}: 'countType' must be imageCountMoreThan or sinceImagePushed",
                                         "count_type_invalid", rule=i)
        unit = sel.get("countUnit")
        if count_type == "sinceImagePushed" and unit != "days":
            raise LifecyclePolicyInvalid(f"rule {i}: 'countUnit' must be 'days' with sinceImagePushed",
                                         "count_unit_required", rule=i)
        if count_type == "imageCountMoreThan" and unit is not None:
            raise LifecyclePolicyInvalid(f"rule {i}: 'countUnit' is not allowed with imageCountMoreThan",
                                         "count_unit_not_allowed", rule=i)
        number = sel.get("countNumber")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise LifecyclePolicyInvalid(f"rule {i}: 'countNumber' must be a positive integer",
                                         "count_number_invalid", rule=i)
        unknown = sorted(set(sel) - {"tagStatus", "tagPrefixList", "tagPatternList", "countType",
                                     "countUnit", "countNumber"})
        if unknown:
            raise LifecyclePolicyInvalid(f"rule {i}: unknown selection field '{unknown[0]}'",
                                         "rule_unknown_field", rule=i, field=unknown[0])
        action = rule.get("action")
        if not isinstance(action, dict) or action.get("type") != "expire":
            raise LifecyclePolicyInvalid(f"rule {i}: 'action' must be {{\"type\": \"expire\"}}",
                                         "action_invalid", rule=i)
        if status == "any":
            if any_priority is not None:
                raise LifecyclePolicyInvalid("only one rule may have tagStatus 'any'", "any_twice")
            any_priority = prio
    if any_priority is not None and any_priority != max(priorities):
        raise LifecyclePolicyInvalid("the rule with tagStatus 'any' must have the highest rulePriority",
                                     "any_not_last")
    return doc
