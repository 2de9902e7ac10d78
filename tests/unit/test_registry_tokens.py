"""Registry tokens (GetAuthorizationToken's passwords): verification, expiry, tampering, and the
per-process cache of verified tokens, which must answer exactly what verifying again would."""

from __future__ import annotations

import time

import pytest

from crossreg.auth.tokens import TokenExpired, TokenInvalid, TokenSigner

KEY = bytes(range(32))


def test_a_token_verifies_for_its_account_until_it_expires():
    signer = TokenSigner(KEY)
    password, expires = signer.issue("123456789012", now=1000.0)
    for _ in range(2):  # the second answer comes from the cache
        token = signer.verify(password, now=1001.0)
        assert (token.account_id, token.expires_at) == ("123456789012", expires)
    for _ in range(2):
        with pytest.raises(TokenExpired):
            signer.verify(password, now=expires)


def test_tampered_or_foreign_tokens_are_refused_every_time():
    signer = TokenSigner(KEY)
    password, _ = signer.issue("123456789012")
    prefix, payload, sig = password.split(".")
    other, _ = TokenSigner(bytes(32)).issue("123456789012")
    for bad in (f"{prefix}.{payload}.{sig[:-2]}AA", f"{prefix}.{payload[:-1]}.{sig}", other, "crt1.x.y", "nonsense"):
        for _ in range(2):
            with pytest.raises(TokenInvalid):
                signer.verify(bad)
    assert signer.verify(password).account_id == "123456789012"


def test_the_cache_stays_bounded():
    signer = TokenSigner(KEY)
    now = time.time()
    for i in range(TokenSigner.VERIFIED_CACHE_SIZE * 2 + 5):
        password, _ = signer.issue(f"{i:012d}", now=now + i)
        assert signer.verify(password).account_id == f"{i:012d}"
    assert len(signer._verified) <= TokenSigner.VERIFIED_CACHE_SIZE
