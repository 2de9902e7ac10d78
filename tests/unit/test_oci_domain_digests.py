import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossreg.domain.digests import Digest, DigestHasher, InvalidDigest, digest_of, is_valid_digest, parse_digest

STRICT = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parses_sha256_and_sha512():
    d = Digest.parse(SHA256_EMPTY)
    assert (d.algorithm, d.hex, d.encoded) == ("sha256", SHA256_EMPTY[7:], SHA256_EMPTY[7:])
    assert str(d) == SHA256_EMPTY
    s512 = "sha512:" + hashlib.sha512(b"x").hexdigest()
    assert str(parse_digest(s512)) == s512
    assert Digest.parse(d) is d


def test_value_semantics():
    assert Digest.parse(SHA256_EMPTY) == Digest("sha256", SHA256_EMPTY[7:])
    assert len({Digest.parse(SHA256_EMPTY), Digest.parse(SHA256_EMPTY)}) == 1
    assert Digest.parse(SHA256_EMPTY) != SHA256_EMPTY  # a Digest is not a str; use str(d)


@pytest.mark.parametrize("bad", [
    "", "sha256", "sha256:", ":" + "a" * 64, "sha256:" + "A" * 64,           # upper-case hex is refused
    "sha256:" + "a" * 63, "sha256:" + "a" * 65, "sha512:" + "a" * 64,
    "sha384:" + "a" * 96, "md5:" + "a" * 32, "SHA256:" + "a" * 64,
    "sha256:" + "a" * 64 + "\n", " sha256:" + "a" * 64, "sha256 :" + "a" * 64,
    "sha256::" + "a" * 64, "sha256:" + "g" * 64,
    "sha256:../../../etc/passwd", "../sha256:" + "a" * 64, "sha256/" + "a" * 64,
    "sha256:" + "a" * 32 + "/" + "a" * 31, "sha256:" + "a" * 62 + "..",
    "sha256:" + "a" * 64 + ":" + "a" * 64, "sha256:" + "a" * 10_000,
])
def test_rejects_malformed_and_unsupported(bad):
    with pytest.raises(InvalidDigest):
        Digest.parse(bad)
    assert not is_valid_digest(bad)


@pytest.mark.parametrize("bad", [None, 42, b"sha256:" + b"a" * 64, ["sha256"], 3.5])
def test_rejects_non_strings(bad):
    with pytest.raises(InvalidDigest, match="must be a string"):
        Digest.parse(bad)


def test_error_says_why():
    with pytest.raises(InvalidDigest, match="unsupported digest algorithm 'sha384'"):
        Digest.parse("sha384:" + "a" * 96)
    with pytest.raises(InvalidDigest, match="64 lower-case hex"):
        Digest.parse("sha256:" + "A" * 64)


def test_constructor_validates_too():
    with pytest.raises(InvalidDigest):
        Digest("sha256", "xyz")
    with pytest.raises(InvalidDigest):
        Digest("sha1", "a" * 40)


@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_invalid_digest(text):
    try:
        d = Digest.parse(text)
    except InvalidDigest:
        assert not STRICT.fullmatch(text)
    else:
        assert STRICT.fullmatch(text)
        assert str(d) == text


@given(st.from_regex(STRICT, fullmatch=True))
def test_every_strict_digest_round_trips(text):
    assert str(Digest.parse(text)) == text


@given(st.binary(max_size=2048))
def test_digest_of_matches_hashlib(data):
    assert str(digest_of(data)) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert str(digest_of(data, "sha512")) == "sha512:" + hashlib.sha512(data).hexdigest()
    assert Digest.parse(str(digest_of(data))) == digest_of(data)
    assert digest_of(data).matches(data)
    assert not digest_of(data).matches(data + b"!")


@given(st.lists(st.binary(max_size=512), max_size=20), st.sampled_from(["sha256", "sha512"]))
def test_streaming_hasher_equals_one_shot(chunks, algorithm):
    hasher = DigestHasher(algorithm)
    for chunk in chunks:
        hasher.update(chunk)
    whole = b"".join(chunks)
    assert hasher.digest() == digest_of(whole, algorithm)
    assert hasher.hexdigest() == hashlib.new(algorithm, whole).hexdigest()
    assert hasher.size == len(whole)


def test_hasher_copy_is_independent():
    h = DigestHasher().update(b"abc")
    snapshot = h.copy()
    h.update(b"def")
    assert snapshot.digest() == digest_of(b"abc") and snapshot.size == 3
    assert h.digest() == digest_of(b"abcdef") and h.size == 6


def test_hasher_for_a_digest_uses_its_algorithm():
    target = digest_of(b"payload", "sha512")
    assert target.hasher().update(b"payload").digest() == target


def test_hasher_refuses_unsupported_algorithm():
    with pytest.raises(InvalidDigest):
        DigestHasher("md5")
