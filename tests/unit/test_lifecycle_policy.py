"""Lifecycle policy documents: what ECR accepts, and its wording for what it refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossreg.lifecycle.policy import LifecyclePolicyError, parse_policy


def rule(priority=1, tag_status="untagged", count_type="imageCountMoreThan", count_number=1,
         action=None, **selection):
    sel = {"tagStatus": tag_status, "countType": count_type, "countNumber": count_number, **selection}
    if count_type != "imageCountMoreThan" and "countUnit" not in sel:
        sel["countUnit"] = "days"
    return {"rulePriority": priority, "selection": sel, "action": action or {"type": "expire"}}


def doc(*rules) -> str:
    return json.dumps({"rules": list(rules)})


def reason(text: str) -> str:
    with pytest.raises(LifecyclePolicyError) as info:
        parse_policy(text)
    assert info.value.message == f"Lifecycle policy validation failure: {info.value.reason}"
    return info.value.reason


# ECR user guide examples, verbatim in substance.
GUIDE_EXAMPLES = [
    doc({"rulePriority": 1, "description": "Expire images older than 14 days",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": 14}, "action": {"type": "expire"}}),
    doc({"rulePriority": 1, "description": "Keep only one untagged image, expire all others",
         "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}}),
    doc(rule(1, "tagged", tagPrefixList=["prod"]), rule(2, "tagged", tagPrefixList=["beta"])),
    doc(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"])),
    doc(rule(1, "tagged", "sinceImagePushed", 14, tagPatternList=["prod*"])),
    doc(rule(1, "tagged", tagPatternList=["*test*1*2*3", "test*1*2*3*"])),
    doc(rule(10, "tagged", tagPrefixList=["latest"], count_number=5),
        rule(990, "untagged", "sinceImagePushed", 7),
        rule(1000, "any", "sinceImagePushed", 15)),
]


@pytest.mark.parametrize("text", GUIDE_EXAMPLES)
def test_guide_examples_are_accepted(text):
    policy = parse_policy(text)
    priorities = [r.priority for r in policy.rules]
    assert priorities == sorted(priorities)


def test_rules_come_out_in_priority_order_with_their_fields():
    policy = parse_policy(doc(rule(7, "any", "sinceImagePulled", 30),
                              rule(2, "tagged", tagPatternList=["v*"], count_number=3)))
    first, second = policy.rules
    assert (first.priority, first.tag_status, first.tag_patterns, first.count_number) == (2, "tagged", ("v*",), 3)
    assert first.max_age_seconds is None
    assert (second.priority, second.count_type, second.count_unit) == (7, "sinceImagePulled", "days")
    assert second.max_age_seconds == 30 * 86400


def test_storage_class_standard_is_accepted():
    assert parse_policy(doc(rule(storageClass="standard"))).rules[0].tag_status == "untagged"


# --- the schema pass: the JSON-schema validator's wording, as real ECR quotes it ----------------

@pytest.mark.parametrize("text", ["not json", "[]", '"rules"', "", "{", "NaN"])
def test_unparseable(text):
    assert reason(text) == "Could not map policyString into LifecyclePolicy."


def test_missing_rules():
    assert reason('{"rulez": []}') == 'object has missing required properties (["rules"])'


def test_null_rules():
    assert reason('{"rules": null}') == \
        'instance type (null) does not match any allowed primitive type (allowed: ["array"])'


def test_empty_rules():
    assert reason('{"rules": []}') == \
        "array is too short: must have at least 1 elements but instance has 0 elements"


def test_extra_top_level_property():
    assert reason(json.dumps({"rules": [rule()], "x": 1})) == \
        'object instance has properties which are not allowed by the schema: (["x"])'


def test_rule_not_an_object():
    assert reason('{"rules": ["r"]}') == \
        'instance type (string) does not match any allowed primitive type (allowed: ["object"])'


def test_rule_missing_properties_sorted():
    assert reason('{"rules": [{"selection": {}}]}') == \
        'object has missing required properties (["action","rulePriority"])'


def test_unknown_rule_property():
    r = rule()
    r["priority"] = 1
    assert reason(doc(r)) == \
        'object instance has properties which are not allowed by the schema: (["priority"])'


def test_bad_tag_status():
    assert reason(doc(rule(tag_status="TAGGED"))) == \
        'instance value ("TAGGED") not found in enum (possible values: ["tagged","untagged","any"])'


def test_bad_action_type():
    assert reason(doc(rule(action={"type": "delete"}))) == \
        'instance value ("delete") not found in enum (possible values: ["expire","transition"])'


@pytest.mark.parametrize("selection", [
    {"countType": "imageCountMoreThan", "countUnit": "days"},  # cloud-custodian #5597
    {"countType": "sinceImagePushed", "countUnit": None},
    {"countType": "sinceImagePushed", "countUnit": "hours"},
    {"countType": "sinceForever", "countUnit": "days"},
])
def test_count_type_and_unit_one_of(selection):
    r = rule()
    r["selection"].update(selection)
    if selection.get("countUnit", "x") is None:
        del r["selection"]["countUnit"]
    assert reason(doc(r)) == "instance failed to match exactly one schema (matched 0 out of 2)"


def test_target_storage_class_null_on_expire():  # cloudposse/terraform-aws-ecr #158
    assert reason(doc(rule(action={"type": "expire", "targetStorageClass": None}))) == \
        'instance type (null) does not match any allowed primitive type (allowed: ["string"])'


@pytest.mark.parametrize("field", ["countNumber", "rulePriority"])
def test_numbers_must_be_positive(field):
    r = rule()
    (r["selection"] if field == "countNumber" else r)[field] = 0
    assert reason(doc(r)) == "numeric instance is lower than the required minimum (minimum: 1, found: 0)"


@pytest.mark.parametrize("value,kind", [("1", "string"), (1.5, "number"), (True, "boolean")])
def test_numbers_must_be_integers(value, kind):
    assert reason(doc(rule(count_number=value))) == \
        f'instance type ({kind}) does not match any allowed primitive type (allowed: ["integer"])'


def test_number_out_of_int_range():
    assert "greater than the required maximum" in reason(doc(rule(count_number=2 ** 31)))


def test_prefix_list_of_strings():
    assert reason(doc(rule(tag_status="tagged", tagPrefixList=[1]))) == \
        'instance type (integer) does not match any allowed primitive type (allowed: ["string"])'


# --- ECR's own rules -----------------------------------------------------------------------------

def test_only_one_untagged_rule():  # real ECR text
    assert reason(doc(rule(1), rule(2))) == "Only one rule can select Untagged images per storage class."


def test_any_must_be_last():  # real ECR text
    assert reason(doc(rule(1, "any"), rule(2, "tagged", tagPrefixList=["a"]))) == \
        "Rule for tagStatus=ANY must have the lowest priority per storage class"


def test_two_any_rules():
    assert reason(doc(rule(1, "any"), rule(2, "any", "sinceImagePushed"))) == \
        "Rule for tagStatus=ANY must have the lowest priority per storage class"


def test_unique_priorities():
    assert "must be unique" in reason(doc(rule(1, "tagged", tagPrefixList=["a"]),
                                          rule(1, "tagged", tagPrefixList=["b"])))


@pytest.mark.parametrize("lists", [{}, {"tagPrefixList": []}, {"tagPatternList": []}])
def test_tagged_needs_a_list(lists):
    assert "TAGGED must have a non-empty tagPrefixList or tagPatternList" in \
        reason(doc(rule(tag_status="tagged", **lists)))


def test_not_both_lists():
    assert "either a tagPrefixList or a tagPatternList" in \
        reason(doc(rule(tag_status="tagged", tagPrefixList=["a"], tagPatternList=["b*"])))


@pytest.mark.parametrize("status", ["untagged", "any"])
def test_lists_only_with_tagged(status):
    assert f"tagStatus={status.upper()} cannot have" in reason(doc(rule(tag_status=status, tagPrefixList=["a"])))


def test_at_most_four_wildcards():  # the user guide's own invalid example
    assert "more than 4 wildcards" in reason(doc(rule(tag_status="tagged", tagPatternList=["test*1*2*3*4*5*6"])))


# --- archival grammar: valid ECR, refused by crossreg with a reason ------------------------------

@pytest.mark.parametrize("r", [
    rule(action={"type": "transition", "targetStorageClass": "archive"}),
    rule(storageClass="archive", count_type="sinceImageTransitioned"),
    rule(count_type="sinceImageTransitioned"),
])
def test_archive_features_are_refused_clearly(r):
    assert "crossreg has no archive storage class" in reason(doc(r))


def test_transition_without_target_is_a_schema_error():
    assert reason(doc(rule(action={"type": "transition"}))) == \
        "instance failed to match exactly one schema (matched 0 out of 2)"


# --- nothing but LifecyclePolicyError, whatever the input ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2 ** 33) | st.floats(allow_nan=False) |
    st.sampled_from(["tagged", "untagged", "any", "expire", "days", "imageCountMoreThan",
                     "sinceImagePushed", "a*", "x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["rules", "rulePriority", "selection", "action", "tagStatus", "countType",
                         "countNumber", "countUnit", "tagPrefixList", "tagPatternList", "type",
                         "storageClass", "targetStorageClass", "description", "other"]),
        children, max_size=5),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_is_parsed_or_refused_with_a_reason(value):
    try:
        policy = parse_policy(json.dumps(value))
    except LifecyclePolicyError as err:
        assert err.reason
    else:
        assert policy.rules


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_parsed_or_refused(text):
    try:
        parse_policy(text)
    except LifecyclePolicyError:
        pass
