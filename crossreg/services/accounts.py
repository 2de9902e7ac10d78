"""Accounts: AWS-style 12-digit account ids, each with one access key pair."""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from crossreg.metadata import schema as s
from crossreg.metadata.db import Database

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    access_key_id: str
    secret_access_key: str
    created_at: float

    def public(self) -> dict:
        """The account without its secret (what lists and logs may show)."""
        return {"accountId": self.account_id, "name": self.name, "accessKeyId": self.access_key_id}

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Account(account_id={self.account_id!r}, name={self.name!r}, access_key_id={self.access_key_id!r})"


class AccountExists(Exception):
    pass


class AccountService:
    def __init__(self, db: Database, cache_seconds: float = 30.0):
        self.db = db
        self._cache: dict[str, tuple[float, Account | None]] = {}
        self._lock = threading.Lock()
        self._cache_seconds = cache_seconds

    def create(self, name: str | None = None, account_id: str | None = None) -> Account:
        if account_id is not None and not (len(account_id) == 12 and account_id.isdigit()):
            raise ValueError("account id must be exactly 12 digits")
        for _ in range(5):
            acct = Account(
                account_id=account_id or "".join(secrets.choice(string.digits) for _ in range(12)),
                name=name or "",
                access_key_id="AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
                secret_access_key="".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
                created_at=time.time(),
            )
            acct = Account(**{**acct.__dict__, "name": name or f"account-{acct.account_id}"})
            try:
                with self.db.write() as c:
                    c.execute(insert(s.accounts).values(**acct.__dict__))
                return acct
            except IntegrityError:
                if account_id is not None:
                    raise AccountExists(f"account {account_id} already exists")
        raise RuntimeError("could not allocate a unique account id")

    def list(self) -> list[Account]:
        with self.db.read() as c:
            return [Account(**r._mapping) for r in c.execute(select(s.accounts).order_by(s.accounts.c.created_at))]

    def get(self, account_id: str) -> Account | None:
        with self.db.read() as c:
            row = c.execute(select(s.accounts).where(s.accounts.c.account_id == account_id)).first()
        return Account(**row._mapping) if row else None

    def by_access_key(self, access_key_id: str) -> Account | None:
        """Looked up on every signed request, so cached briefly (new accounts appear at once:
        misses are not cached for long)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(access_key_id)
        if hit and hit[0] > now:
            return hit[1]
        with self.db.read() as c:
            row = c.execute(select(s.accounts).where(s.accounts.c.access_key_id == access_key_id)).first()
        acct = Account(**row._mapping) if row else None
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[access_key_id] = (now + (self._cache_seconds if acct else 1.0), acct)
        return acct
