"""Content digests (`algorithm ":" encoded`, OCI image-spec descriptor.md).

Only the registered algorithms sha256 and sha512 are accepted. Digests end up in storage paths and
SQL keys, so everything else -- unknown algorithms, upper-case hex, path separators, dot-dot -- is
rejected here, before it can reach either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

# The general OCI grammar; used to tell "malformed" from "well-formed but unsupported".
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
# Registered algorithms and the exact form of their encoded part (lower-case hex only).
_ENCODED = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
SUPPORTED_ALGORITHMS = tuple(_ENCODED)
# Longer than any supported digest; bounds work (and error messages) on hostile input.
_MAX_LENGTH = 7 + 128


class InvalidDigest(ValueError):
    """The string is not a digest this registry accepts. `str(err)` says why."""

    def __init__(self, value: object, reason: str):
        shown = value if isinstance(value, str) and len(value) <= _MAX_LENGTH else _short(value)
        super().__init__(f"invalid digest {shown!r}: {reason}")
        self.value = value
        self.reason = reason


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:_MAX_LENGTH] + "..." if len(text) > _MAX_LENGTH else text


@dataclass(frozen=True, order=True)
class Digest:
    """A parsed, supported digest. `str(d)` is the canonical `algorithm:hex` form."""

    algorithm: str
    hex: str

    def __post_init__(self):
        pattern = _ENCODED.get(self.algorithm) if isinstance(self.algorithm, str) else None
        if pattern is None:
            raise InvalidDigest(f"{self.algorithm}:{self.hex}", "unsupported digest algorithm")
        if not isinstance(self.hex, str) or not pattern.fullmatch(self.hex):
            raise InvalidDigest(f"{self.algorithm}:{self.hex}",
                                f"{self.algorithm} needs {_hex_length(self.algorithm)} lower-case hex characters")

    @classmethod
    def parse(cls, value: object) -> "Digest":
        """Parse `value`; raises InvalidDigest (and nothing else) for any bad input."""
        if isinstance(value, Digest):
            return value
        if not isinstance(value, str):
            raise InvalidDigest(value, "a digest must be a string")
        if len(value) > _MAX_LENGTH:
            raise InvalidDigest(value, "too long")
        # fullmatch, not match + "$": "$" would accept a trailing newline.
        if not _GRAMMAR.fullmatch(value):
            raise InvalidDigest(value, "not of the form <algorithm>:<encoded>")
        algorithm, _, encoded = value.partition(":")
        if algorithm not in _ENCODED:
            raise InvalidDigest(value, f"unsupported digest algorithm '{algorithm}'")
        if not _ENCODED[algorithm].fullmatch(encoded):
            raise InvalidDigest(value, f"{algorithm} needs {_hex_length(algorithm)} lower-case hex characters")
        return cls(algorithm, encoded)

    @property
    def encoded(self) -> str:
        """The image-spec name for the part after the colon."""
        return self.hex

    def hasher(self) -> "DigestHasher":
        """A hasher of this digest's algorithm, to verify content against it."""
        return DigestHasher(self.algorithm)

    def matches(self, data: bytes) -> bool:
        return hmac.compare_digest(digest_of(data, self.algorithm).hex, self.hex)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _hex_length(algorithm: str) -> int:
    return {"sha256": 64, "sha512": 128}[algorithm]


def parse_digest(value: object) -> Digest:
    return Digest.parse(value)


def is_valid_digest(value: object) -> bool:
    try:
        Digest.parse(value)
    except InvalidDigest:
        return False
    return True


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    """The digest of `data`, exactly as given (no canonicalisation)."""
    return DigestHasher(algorithm).update(data).digest()


class DigestHasher:
    """Incremental digest of a byte stream (blob uploads arrive in chunks)."""

    def __init__(self, algorithm: str = "sha256"):
        if algorithm not in _ENCODED:
            raise InvalidDigest(f"{algorithm}:", f"unsupported digest algorithm '{algorithm}'")
        self.algorithm = algorithm
        self.size = 0
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes) -> "DigestHasher":
        self._hash.update(data)
        self.size += len(data)
        return self

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())

    def copy(self) -> "DigestHasher":
        """An independent hasher with the same state (e.g. to peek at a partial upload)."""
        other = DigestHasher.__new__(DigestHasher)
        other.algorithm, other.size, other._hash = self.algorithm, self.size, self._hash.copy()
        return other
