"""API keys: created, listed and revoked by ``pdfq keys``, checked on every ``/v1`` request.

A key reads ``pdfq_<id>_<secret>``. The id is stored in clear (so a key is found with one
indexed read and can be named in lists and logs); the secret only as its SHA-256, which is
enough for a random 256-bit secret (no password stretching is needed: nothing to guess). The
full key is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from pdfq.store.db import Database
from pdfq.store.jobs import utcnow
from pdfq.store.tables import api_keys

SCOPES = ("submit", "read", "admin")
PREFIX = "pdfq"
_TOKEN = re.compile(r"^pdfq_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_tenant(tenant: str) -> str:
    if not _TENANT.match(tenant):
        raise ValueError(
            "a tenant is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return tenant


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes are a comma-separated choice of {', '.join(SCOPES)}")
    return scopes


def create_key(
    db: Database, *, tenant: str, scopes: frozenset[str], name: str = ""
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and the full token (shown this once, never stored)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    record = ApiKey(key_id, check_tenant(tenant), name, scopes, now, None, None)
    with db.write() as conn:
        conn.execute(
            insert(api_keys).values(
                id=key_id,
                tenant=record.tenant,
                name=name,
                scopes=",".join(sorted(scopes)),
                secret_hash=_hash(secret),
                created_at=now,
            )
        )
    return record, f"{PREFIX}_{key_id}_{secret}"


def _record(row: object) -> ApiKey:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKey(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        scopes=frozenset(m["scopes"].split(",")),
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else ``None``.

    The secret is URL-safe base64 and may itself hold ``_``, so a token is never split on
    its last underscore.
    """
    match = _TOKEN.match(token)
    return None if match is None else (match[1], match[2])


def find_key(db: Database, token: str) -> ApiKey | None:
    """The live key ``token`` is, or ``None`` (malformed, unknown, wrong secret, revoked)."""
    parts = split_token(token)
    if parts is None:
        return None
    key_id, secret = parts
    with db.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(secret)):
        return None
    return _record(row)


def list_keys(db: Database, *, tenant: str | None = None) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.tenant, api_keys.c.created_at)
    if tenant is not None:
        query = query.where(api_keys.c.tenant == tenant)
    with db.read() as conn:
        return [_record(r) for r in conn.execute(query)]


def revoke_key(db: Database, *, key_id: str) -> bool:
    """Revoke a key; ``False`` when there is no such live key."""
    with db.write() as conn:
        done = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
    return done == 1


def touch(db: Database, *, key_id: str, now: datetime) -> None:
    with db.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


def live_key_count(db: Database) -> int:
    with db.read() as conn:
        query = select(func.count()).where(api_keys.c.revoked_at.is_(None))
        return int(conn.execute(query).scalar_one())
