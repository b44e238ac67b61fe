"""API keys: `aiprod_<prefix>_<secret>`, shown once, kept as a sha256 of the secret.

The prefix is a lookup index (unique, not secret); the secret has 256 random bits, so a
plain sha256 (not a slow password hash) is enough, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aiprod.serve.tables import ApiKey

SCOPES = ("jobs:read", "jobs:write")
TOKEN_PREFIX = "aiprod"


@dataclass(frozen=True)
class Caller:
    """An authenticated key: who is asking, and what it may do."""

    key_id: int
    name: str
    scopes: frozenset[str]


def parse_scopes(text: str) -> list[str]:
    """`jobs:write,jobs:read` -> a checked list; a ValueError names an unknown scope."""
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"--scopes: {unknown or 'none given'}; choose from {', '.join(SCOPES)}")
    return scopes


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key row and its token (the only time the token exists in clear)."""
    if not name.strip():
        raise ValueError("--name: must not be empty")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(name=name.strip(), prefix=prefix, secret_sha256=_digest(secret), scopes=scopes)
    session.add(key)
    session.flush()
    return key, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def authenticate(session: Session, token: str) -> Caller | None:
    """The caller a token belongs to, or None (malformed, unknown, wrong secret or revoked)."""
    head, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if head != TOKEN_PREFIX or not prefix or not secret:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_sha256, _digest(secret)):
        return None
    return Caller(key.id, key.name, frozenset(key.scopes))


def revoke_key(session: Session, prefix: str) -> bool:
    """Revoke by prefix; False when no live key has it."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount == 1


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
