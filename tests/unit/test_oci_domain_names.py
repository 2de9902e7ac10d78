import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossreg.domain.names import (
    ECR_NAME_PATTERN,
    OCI_NAME_PATTERN,
    OCI_TAG_PATTERN,
    InvalidRepositoryName,
    is_digest_reference,
    is_valid_ecr_name,
    is_valid_ecr_tag,
    is_valid_oci_name,
    is_valid_tag,
    validate_repository_name,
)

ALNUM = set("abcdefghijklmnopqrstuvwxyz0123456789")
NAME_ALPHABET = "abz09._-/A:\n "


# Reference checkers written without the production regexes, to test them against.
def _component_ok(component: str, separator_ok) -> bool:
    if not component or component[0] not in ALNUM or component[-1] not in ALNUM:
        return False
    if not set(component) <= ALNUM | set("._-"):
        return False
    separators = [s for s in re.split(r"[a-z0-9]+", component) if s]
    return all(separator_ok(s) for s in separators)


def ref_oci_name(name: str) -> bool:
    ok = lambda s: s in (".", "_", "__") or set(s) == {"-"}  # noqa: E731
    return all(_component_ok(c, ok) for c in name.split("/"))


def ref_ecr_name(name: str) -> bool:
    ok = lambda s: s in (".", "_", "-")  # noqa: E731
    return 2 <= len(name) <= 256 and all(_component_ok(c, ok) for c in name.split("/"))


def ref_tag(tag: str, limit: int) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return 1 <= len(tag) <= limit and set(tag) <= allowed and tag[0] not in ".-"


@pytest.mark.parametrize("name", ["a", "ab", "library/ubuntu", "a.b_c-d", "a__b", "a---b", "team/app/v2",
                                  "0", "x" * 300])
def test_valid_oci_names(name):
    assert is_valid_oci_name(name)


@pytest.mark.parametrize("name", ["", "../x", "x/../y", "a//b", "/a", "a/", "A", "Library/ubuntu", "a..b", "a_.b",
                                  "a-_b", ".a", "a.", "-a", "a-", "a___b", "a/./b", ".", "..", "a\n", "a b",
                                  "a:b", "a\\b", "é", None, 5, b"abc"])
def test_invalid_oci_names(name):
    assert not is_valid_oci_name(name)


@pytest.mark.parametrize("name", ["ab", "library/ubuntu", "a.b_c-d/e", "x" * 256, "a/b/c/d"])
def test_valid_ecr_names(name):
    assert validate_repository_name(name) == name
    assert is_valid_ecr_name(name)


@pytest.mark.parametrize("name", ["a__b", "a--b", "../x", "a//b", "Upper", "a/", "/a", "a b", "a\n", "ab/../cd"])
def test_ecr_rejects_what_its_pattern_rejects(name):
    assert not is_valid_ecr_name(name)
    with pytest.raises(InvalidRepositoryName) as info:
        validate_repository_name(name)
    assert str(info.value) == ("Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                               "'must satisfy regular expression "
                               "'(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")


def test_ecr_length_limits():
    with pytest.raises(InvalidRepositoryName, match="greater than or equal to 2"):
        validate_repository_name("a")
    with pytest.raises(InvalidRepositoryName, match="less than or equal to 256"):
        validate_repository_name("a" * 257)
    with pytest.raises(InvalidRepositoryName, match="at 'prefix'"):
        validate_repository_name("A", field="prefix")
    with pytest.raises(InvalidRepositoryName):
        validate_repository_name(None)
    # The longest ECR name must stay addressable on the data plane.
    assert is_valid_oci_name("a" * 256)


@given(st.from_regex(OCI_NAME_PATTERN, fullmatch=True))
def test_oci_names_generated_from_grammar_are_valid(name):
    assert is_valid_oci_name(name)


@given(st.from_regex(ECR_NAME_PATTERN, fullmatch=True).filter(lambda s: 2 <= len(s) <= 256))
def test_ecr_names_are_also_oci_names(name):
    assert is_valid_ecr_name(name)
    assert is_valid_oci_name(name)


@given(st.text(alphabet=NAME_ALPHABET, max_size=40))
def test_name_validators_agree_with_reference(name):
    assert is_valid_oci_name(name) == ref_oci_name(name)
    assert is_valid_ecr_name(name) == ref_ecr_name(name)


@pytest.mark.parametrize("tag", ["v1", "latest", "_private", "V1.2.3-rc.1_build", "0", "x" * 128])
def test_valid_tags(tag):
    assert is_valid_tag(tag)
    assert is_valid_ecr_tag(tag)


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "x" * 129, "a:b", "a/b", "a b", "v1\n", "ü", "a@b",
                                 "sha256:" + "a" * 64, None, 1])
def test_invalid_oci_tags(tag):
    assert not is_valid_tag(tag)


def test_ecr_tags_go_to_300_characters():
    assert is_valid_ecr_tag("x" * 300) and not is_valid_tag("x" * 300)
    assert not is_valid_ecr_tag("x" * 301)
    assert not is_valid_ecr_tag("a:b")


@given(st.from_regex(OCI_TAG_PATTERN, fullmatch=True))
def test_tags_generated_from_grammar_are_valid(tag):
    assert is_valid_tag(tag)


@given(st.text(alphabet="aZ9_.-:/@ \n", max_size=140) | st.text(max_size=10))
def test_tag_validators_agree_with_reference(tag):
    assert is_valid_tag(tag) == ref_tag(tag, 128)
    assert is_valid_ecr_tag(tag) == ref_tag(tag, 300)


def test_digest_references_are_told_from_tags():
    assert is_digest_reference("sha256:" + "a" * 64)
    assert is_digest_reference("sha384:abc")  # malformed, but still meant as a digest
    assert not is_digest_reference("latest")
    assert not is_digest_reference("sha256")
