"""Condition operators, evaluated through parsed policies so the parser and evaluator agree."""

import json
from datetime import datetime, timezone

import pytest

from crossreg.iam.conditions import condition_holds
from crossreg.iam.policy import parse_policy


def conditions(block):
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage", "Condition": block}]})
    return parse_policy(text, "repository").statements[0].conditions


def holds(block, context):
    ctx = {k.casefold(): v for k, v in context.items()}
    return all(condition_holds(c, ctx) for c in conditions(block))


@pytest.mark.parametrize("block,context,expected", [
    # String operators
    ({"StringEquals": {"aws:SourceAccount": "111111111111"}}, {"aws:SourceAccount": "111111111111"}, True),
    ({"StringEquals": {"aws:SourceAccount": "111111111111"}}, {"aws:SourceAccount": "222222222222"}, False),
    ({"StringEquals": {"aws:SourceAccount": ["1", "2"]}}, {"aws:SourceAccount": "2"}, True),  # values ORed
    ({"StringEquals": {"aws:x": "Abc"}}, {"aws:x": "abc"}, False),
    ({"StringEqualsIgnoreCase": {"aws:x": "Abc"}}, {"aws:x": "aBC"}, True),
    ({"StringNotEqualsIgnoreCase": {"aws:x": "Abc"}}, {"aws:x": "aBC"}, False),
    ({"StringNotEquals": {"aws:x": ["a", "b"]}}, {"aws:x": "c"}, True),
    ({"StringNotEquals": {"aws:x": ["a", "b"]}}, {"aws:x": "b"}, False),  # matches one → fails
    ({"StringLike": {"aws:x": "team-*"}}, {"aws:x": "team-ml"}, True),
    ({"StringLike": {"aws:x": "team-?"}}, {"aws:x": "team-ml"}, False),
    ({"StringNotLike": {"aws:x": "team-*"}}, {"aws:x": "ops"}, True),
    ({"StringEquals": {"aws:x": 5}}, {"aws:x": "5"}, True),  # JSON numbers compare as strings
    ({"StringEquals": {"aws:x": "true"}}, {"aws:x": True}, True),
    # ARN operators
    ({"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:111111111111:repository/*"}},
     {"aws:SourceArn": "arn:aws:ecr:us-east-1:111111111111:repository/x"}, True),
    ({"ArnEquals": {"aws:SourceArn": "arn:aws:ecr:*:111111111111:repository/*"}},
     {"aws:SourceArn": "arn:aws:ecr:us-east-1:111111111111:repository/x"}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:111111111111:repository/*"}},
     {"aws:SourceArn": "arn:aws:ecr:us-east-1:222222222222:repository/x"}, False),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:ecr:*:111111111111:*"}},
     {"aws:SourceArn": "arn:aws:ecr:us-east-1:222222222222:repository/x"}, True),
    ({"ArnNotEquals": {"aws:SourceArn": "arn:aws:ecr:*:111111111111:*"}},
     {"aws:SourceArn": "arn:aws:ecr:us-east-1:111111111111:repository/x"}, False),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:*:*"}}, {"aws:SourceArn": "not an arn"}, False),
    # Bool
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": False}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "maybe"}, False),
    # Numeric
    ({"NumericEquals": {"ecr:n": "3"}}, {"ecr:n": 3}, True),
    ({"NumericEquals": {"ecr:n": 3}}, {"ecr:n": "3.0"}, True),
    ({"NumericNotEquals": {"ecr:n": 3}}, {"ecr:n": 4}, True),
    ({"NumericLessThan": {"ecr:n": 3}}, {"ecr:n": 2}, True),
    ({"NumericLessThan": {"ecr:n": 3}}, {"ecr:n": 3}, False),
    ({"NumericLessThanEquals": {"ecr:n": 3}}, {"ecr:n": 3}, True),
    ({"NumericGreaterThan": {"ecr:n": 3}}, {"ecr:n": 3}, False),
    ({"NumericGreaterThanEquals": {"ecr:n": 3}}, {"ecr:n": 3}, True),
    ({"NumericLessThan": {"ecr:n": 3}}, {"ecr:n": "lots"}, False),
    ({"NumericNotEquals": {"ecr:n": 3}}, {"ecr:n": "lots"}, False),  # wrong type satisfies nothing
    # Dates: ISO 8601, epoch seconds, datetime objects; naive means UTC
    ({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
     {"aws:CurrentTime": "2029-12-31T23:59:59Z"}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
     {"aws:CurrentTime": datetime(2030, 1, 1, tzinfo=timezone.utc)}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2030-01-01"}}, {"aws:CurrentTime": datetime(2030, 1, 2)}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": 1893456000}}, {"aws:CurrentTime": "2030-01-01T00:00:01+00:00"}, True),
    ({"DateGreaterThanEquals": {"aws:CurrentTime": "2030-01-01T01:00:00+01:00"}},
     {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, True),
    ({"DateEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": "1893456000"}, True),
    ({"DateNotEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {"aws:CurrentTime": "2031-01-01"}, True),
    ({"DateLessThanEquals": {"aws:CurrentTime": "2030-01-01"}}, {"aws:CurrentTime": "garbage"}, False),
    # IP addresses
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
    ({"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]}}, {"aws:SourceIp": "192.168.1.1"}, True),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "11.0.0.1"}, False),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.1"}}, {"aws:SourceIp": "10.0.0.1"}, True),
    ({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::1"}, True),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "2001:db8::1"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "11.0.0.1"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.0.0.1"}, False),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "localhost"}, False),
])
def test_operators(block, context, expected):
    assert holds(block, context) is expected


@pytest.mark.parametrize("block,expected", [
    # A missing key fails positive operators...
    ({"StringEquals": {"aws:SourceAccount": "111111111111"}}, False),
    ({"StringLike": {"aws:SourceAccount": "*"}}, False),
    ({"ArnLike": {"aws:SourceArn": "*"}}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, False),
    ({"NumericLessThan": {"ecr:n": 3}}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}, False),
    ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, False),
    # ...holds for negated operators, IfExists and ForAllValues...
    ({"StringNotEquals": {"aws:SourceAccount": "111111111111"}}, True),
    ({"StringNotLike": {"aws:SourceAccount": "*"}}, True),
    ({"ArnNotLike": {"aws:SourceArn": "*"}}, True),
    ({"NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, True),
    ({"StringEqualsIfExists": {"aws:SourceAccount": "111111111111"}}, True),
    ({"BoolIfExists": {"aws:SecureTransport": "true"}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, True),
    # ...and Null tests presence.
    ({"Null": {"aws:SourceAccount": "true"}}, True),
    ({"Null": {"aws:SourceAccount": "false"}}, False),
])
def test_missing_key(block, expected):
    assert holds(block, {}) is expected


def test_null_with_key_present():
    assert holds({"Null": {"aws:SourceAccount": "false"}}, {"aws:SourceAccount": "1"})
    assert not holds({"Null": {"aws:SourceAccount": "true"}}, {"aws:SourceAccount": "1"})
    # None and an empty list count as absent
    assert holds({"Null": {"aws:SourceAccount": "true"}}, {"aws:SourceAccount": None})
    assert holds({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []})


def test_if_exists_still_tests_a_present_key():
    assert not holds({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {"aws:SourceAccount": "2"})
    assert holds({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {"aws:SourceAccount": "1"})


def test_set_qualifiers():
    tags = {"aws:TagKeys": ["team", "env"]}
    assert holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "cost"]}}, tags)
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["cost"]}}, tags)
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "cost"]}}, tags)
    assert not holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert holds({"ForAllValues:StringLike": {"aws:TagKeys": ["*"]}}, tags)
    # Negated with qualifiers: each context value is tested against all policy values.
    assert holds({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team"]}}, tags)   # env ≠ team
    assert not holds({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["team"]}}, tags)
    # Empty sets: ForAllValues vacuously true, ForAnyValue false.
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["x"]}}, {"aws:TagKeys": []})
    assert not holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["x"]}}, {"aws:TagKeys": []})


def test_multivalued_key_without_qualifier():
    tags = {"aws:TagKeys": ["team", "env"]}
    assert holds({"StringEquals": {"aws:TagKeys": "env"}}, tags)
    assert not holds({"StringNotEquals": {"aws:TagKeys": "env"}}, tags)
    assert holds({"StringNotEquals": {"aws:TagKeys": "cost"}}, tags)


def test_keys_and_operators_are_anded():
    block = {"StringEquals": {"aws:SourceAccount": "1", "aws:PrincipalAccount": "2"},
             "Bool": {"aws:SecureTransport": "true"}}
    assert holds(block, {"aws:SourceAccount": "1", "aws:PrincipalAccount": "2", "aws:SecureTransport": True})
    assert not holds(block, {"aws:SourceAccount": "1", "aws:PrincipalAccount": "3", "aws:SecureTransport": True})
    assert not holds(block, {"aws:SourceAccount": "1", "aws:PrincipalAccount": "2", "aws:SecureTransport": False})


def test_condition_keys_are_case_insensitive():
    assert holds({"StringEquals": {"AWS:SOURCEACCOUNT": "1"}}, {"aws:sourceaccount": "1"})
