"""Repository names, tags and references.

Two name grammars matter. Repositories are created through the ECR API, whose grammar is the
stricter one (single separators, 2..256 characters), so every stored name satisfies it. The OCI
grammar also allows `__` and runs of `-`; the data plane checks it only to answer NAME_INVALID
for malformed paths before looking anything up.
"""

from __future__ import annotations

import re

# distribution-spec v1.1, "Pulling manifests".
OCI_NAME_PATTERN = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
# ECR's RepositoryName pattern, exactly as ECR quotes it in InvalidParameterException messages.
ECR_NAME_PATTERN = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
ECR_NAME_MIN, ECR_NAME_MAX = 2, 256
# No length cap on the OCI side: the spec sets none, and a 256-character ECR name must stay usable.

# distribution-spec v1.1: a tag is at most 128 characters.
OCI_TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
# ECR's ImageTag is 1..300 characters with no pattern in the API model; the character set is
# assumed to be the OCI one (clients reject anything else in a reference anyway).
ECR_TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}"
ECR_TAG_MAX = 300

_OCI_NAME = re.compile(OCI_NAME_PATTERN)
_ECR_NAME = re.compile(ECR_NAME_PATTERN)
_OCI_TAG = re.compile(OCI_TAG_PATTERN)
_ECR_TAG = re.compile(ECR_TAG_PATTERN)


class InvalidRepositoryName(ValueError):
    """Worded as ECR's InvalidParameterException, so the ECR API can return `str(err)` as is."""

    def __init__(self, name: object, constraint: str, field: str = "repositoryName"):
        super().__init__(f"Invalid parameter at '{field}' failed to satisfy constraint: '{constraint}'")
        self.name = name
        self.field = field
        self.constraint = constraint


def is_valid_oci_name(name: object) -> bool:
    # fullmatch everywhere: re.match(...$) would let a trailing newline through.
    return isinstance(name, str) and _OCI_NAME.fullmatch(name) is not None


def is_valid_ecr_name(name: object) -> bool:
    return (isinstance(name, str) and ECR_NAME_MIN <= len(name) <= ECR_NAME_MAX
            and _ECR_NAME.fullmatch(name) is not None)


def validate_repository_name(name: object, field: str = "repositoryName") -> str:
    """Return `name` if ECR would accept it for a new repository, else raise InvalidRepositoryName."""
    if not isinstance(name, str):
        raise InvalidRepositoryName(name, "Member must be a string", field)
    if len(name) < ECR_NAME_MIN:
        raise InvalidRepositoryName(name, f"Member must have length greater than or equal to {ECR_NAME_MIN}", field)
    if len(name) > ECR_NAME_MAX:
        raise InvalidRepositoryName(name, f"Member must have length less than or equal to {ECR_NAME_MAX}", field)
    if not _ECR_NAME.fullmatch(name):
        raise InvalidRepositoryName(name, f"must satisfy regular expression '{ECR_NAME_PATTERN}'", field)
    return name


def is_valid_tag(tag: object) -> bool:
    """A tag as the OCI data plane accepts it (what `docker push name:tag` can send)."""
    return isinstance(tag, str) and _OCI_TAG.fullmatch(tag) is not None


def is_valid_ecr_tag(tag: object) -> bool:
    """A tag as the ECR API (PutImage, BatchGetImage...) accepts it: up to 300 characters."""
    return isinstance(tag, str) and _ECR_TAG.fullmatch(tag) is not None


def is_digest_reference(reference: str) -> bool:
    """Whether a manifest reference is meant as a digest rather than a tag.

    Tags can never contain ':', so any reference with one is a digest reference -- possibly a
    malformed one, which the caller must still parse (and answer DIGEST_INVALID, not TAG_INVALID).
    """
    return ":" in reference
