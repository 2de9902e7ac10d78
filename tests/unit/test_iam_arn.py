import re

import pytest

from crossreg.iam.arn import (
    Arn,
    ArnError,
    account_of_principal,
    arn_match,
    is_valid_arn,
    parse_arn,
    repository_arn,
    root_principal_arn,
    wildcard_match,
    wildcard_to_regex,
)


def test_parse_repository_arn():
    arn = parse_arn("arn:aws:ecr:us-east-1:222222222222:repository/team/app")
    assert arn == Arn("aws", "ecr", "us-east-1", "222222222222", "repository/team/app")
    assert str(arn) == "arn:aws:ecr:us-east-1:222222222222:repository/team/app"


def test_parse_keeps_colons_in_resource():
    arn = parse_arn("arn:aws:logs:us-east-1:123456789012:log-group:/my/group:*")
    assert arn.resource == "log-group:/my/group:*"


def test_parse_iam_arn_with_empty_region():
    arn = parse_arn("arn:aws:iam::111111111111:root")
    assert (arn.service, arn.region, arn.account, arn.resource) == ("iam", "", "111111111111", "root")


@pytest.mark.parametrize("text", [
    "",
    "arn",
    "arn:aws:us-east-2:111122223333:repository/x",  # missing service: only 5 components
    "urn:aws:ecr:us-east-1:111122223333:repository/x",
    "arn::ecr:us-east-1:111122223333:repository/x",
    "arn:aws::us-east-1:111122223333:repository/x",
    "arn:aws:ecr:us-east-1:111122223333:",
])
def test_parse_rejects_malformed(text):
    with pytest.raises(ArnError):
        parse_arn(text)
    assert not is_valid_arn(text)


def test_parse_rejects_non_string():
    with pytest.raises(ArnError):
        parse_arn(None)  # type: ignore[arg-type]


def test_builders():
    assert repository_arn("us-west-2", "444455556666", "prod/api") == \
        "arn:aws:ecr:us-west-2:444455556666:repository/prod/api"
    assert repository_arn("cn-north-1", "444455556666", "x", partition="aws-cn") == \
        "arn:aws-cn:ecr:cn-north-1:444455556666:repository/x"
    assert root_principal_arn("111122223333") == "arn:aws:iam::111122223333:root"


@pytest.mark.parametrize("principal,account", [
    ("111122223333", "111122223333"),
    ("arn:aws:iam::111122223333:root", "111122223333"),
    ("arn:aws:iam::111122223333:role/path/deployer", "111122223333"),
    ("arn:aws:sts::111122223333:assumed-role/deployer/session", "111122223333"),
    ("*", None),
    ("replication.ecr.amazonaws.com", None),
    ("1111", None),
])
def test_account_of_principal(principal, account):
    assert account_of_principal(principal) == account


@pytest.mark.parametrize("pattern,value,expected", [
    ("*", "", True),
    ("*", "anything/at:all", True),
    ("ecr:*", "ecr:BatchGetImage", True),
    ("ecr:Batch*", "ecr:BatchGetImage", True),
    ("ecr:Batch*", "ecr:GetDownloadUrlForLayer", False),
    ("ecr:?etImage", "ecr:GetImage", True),
    ("ecr:?etImage", "ecr:etImage", False),
    ("ecr:?etImage", "ecr:GGetImage", False),
    ("a.b", "axb", False),          # '.' is literal, not a regex dot
    ("a+b", "a+b", True),
    ("a[b]", "a[b]", True),
    ("repository/*", "repository/a/b/c", True),  # * crosses '/'
    ("x", "X", False),
])
def test_wildcard_match_case_sensitive(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected


def test_wildcard_match_case_insensitive_for_actions():
    assert wildcard_match("ECR:batchgetimage", "ecr:BatchGetImage", case_sensitive=False)
    assert wildcard_match("ecr:batch*", "ecr:BatchGetImage", case_sensitive=False)
    assert not wildcard_match("ecr:batch*", "ecr:BatchGetImage")


def test_wildcard_regex_is_anchored():
    rx = wildcard_to_regex("abc")
    assert rx.fullmatch("abc") and not rx.fullmatch("xabc") and not rx.fullmatch("abcx")
    assert isinstance(rx, re.Pattern)


def test_wildcard_matches_newlines():
    assert wildcard_match("a*b", "a\nb")
    assert wildcard_match("a?b", "a\nb")


@pytest.mark.parametrize("pattern,value,expected", [
    ("*", "arn:aws:ecr:us-east-1:222222222222:repository/x", True),
    ("arn:aws:ecr:us-east-1:222222222222:repository/*",
     "arn:aws:ecr:us-east-1:222222222222:repository/breast-cancer-classifier", True),
    ("arn:aws:ecr:*:222222222222:repository/*",
     "arn:aws:ecr:eu-west-1:222222222222:repository/x", True),
    ("arn:aws:ecr:us-east-1:222222222222:repository/prod-*",
     "arn:aws:ecr:us-east-1:222222222222:repository/dev-x", False),
    ("arn:aws:ecr:us-east-1:222222222222:repository/*",
     "arn:aws:ecr:us-east-1:333333333333:repository/x", False),
    # A wildcard does not span a component boundary: '*' as region cannot eat the account.
    ("arn:aws:ecr:*:repository/x", "arn:aws:ecr:us-east-1:222222222222:repository/x", False),
    ("arn:aws:ecr:us-*", "arn:aws:ecr:us-east-1:222222222222:repository/x", False),
    # Case-sensitive.
    ("arn:aws:ecr:us-east-1:222222222222:repository/X",
     "arn:aws:ecr:us-east-1:222222222222:repository/x", False),
    ("arn:aws:ecr:us-east-1:222222222222:repository/x", "not-an-arn", False),
])
def test_arn_match(pattern, value, expected):
    assert arn_match(pattern, value) is expected


@pytest.mark.timeout(10)
def test_pathological_patterns_do_not_backtrack():
    # A naive regex translation of these takes exponential time; policy text is user input.
    value = "ecr:" + "a" * 3000
    assert not wildcard_match("ecr:" + "*" * 5000 + "x", value)
    assert not wildcard_match("*a" * 200 + "x", value)
    assert wildcard_match("*a" * 200, value)
    assert not wildcard_match("ECR:" + "*" * 5000 + "X", value, case_sensitive=False)
    assert not arn_match("arn:aws:ecr:*:*:" + "*a" * 200 + "x", "arn:aws:ecr:r:1:" + "a" * 3000)


def test_collapsed_stars_in_regex_translation():
    assert wildcard_to_regex("a***b").pattern == wildcard_to_regex("a*b").pattern
