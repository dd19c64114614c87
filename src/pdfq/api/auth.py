"""Who is calling: API keys to tenants and scopes, and per-tenant request rates.

With no live API key in the store the API is open and every caller is the ``default`` tenant
with every scope (``pdfq serve`` then binds to loopback only, see ``cli.py``). As soon as one key
exists, every ``/v1`` request needs ``Authorization: Bearer <key>``: 401 without a valid one,
403 when the key lacks the route's scope. Key lookups are cached for a few seconds per API
process, so a revoked key stops working within :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from pdfq.api.threads import blocking
from pdfq.errors import Forbidden, RateLimited, Unauthorized
from pdfq.store import Database
from pdfq.store import keys as key_repo
from pdfq.store.jobs import utcnow

CACHE_SECONDS = 2.0
TOUCH_SECONDS = 60.0  # last_used_at is written at most this often per key and process
SCOPES = frozenset(key_repo.SCOPES)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant, what they may do, and the key they used (if any)."""

    tenant: str
    scopes: frozenset[str]
    key_id: str | None = None

    def require(self, scope: str) -> Principal:
        if scope not in self.scopes and "admin" not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return self


ANONYMOUS = Principal(tenant="default", scopes=SCOPES)


@dataclass
class Authenticator:
    db: Database
    _keys_exist: tuple[float, bool] = (-1e9, False)
    _cache: dict[str, tuple[float, key_repo.ApiKey | None]] = field(default_factory=dict)
    _touched: dict[str, float] = field(default_factory=dict)

    async def keys_exist(self) -> bool:
        checked_at, exist = self._keys_exist
        if time.monotonic() - checked_at > CACHE_SECONDS:
            exist = await blocking(key_repo.live_key_count, self.db) > 0
            self._keys_exist = (time.monotonic(), exist)
        return exist

    async def principal(self, authorization: str | None) -> Principal:
        if not await self.keys_exist():
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized()
        key = await self._lookup(token.strip())
        if key is None:
            raise Unauthorized("the API key is not valid (unknown, mistyped or revoked)")
        return Principal(tenant=key.tenant, scopes=key.scopes, key_id=key.id)

    async def _lookup(self, token: str) -> key_repo.ApiKey | None:
        # Cached by a hash of the token: the token itself is never kept in memory longer.
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] <= CACHE_SECONDS:
            return cached[1]
        key = await blocking(key_repo.find_key, self.db, token)
        if len(self._cache) > 10_000:  # a flood of made-up keys must not grow memory
            self._cache.clear()
        self._cache[digest] = (now, key)
        if key is not None and now - self._touched.get(key.id, -1e9) > TOUCH_SECONDS:
            self._touched[key.id] = now
            await blocking(key_repo.touch, self.db, key_id=key.id, now=utcnow())
        return key


@dataclass
class RateLimiter:
    """A token bucket per tenant in this API process: ``rate`` requests per second, ``burst``
    at once. ``rate == 0`` turns it off."""

    rate: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def check(self, tenant: str, now: float | None = None) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(tenant, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[tenant] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            raise RateLimited(
                f"more than {self.rate:g} requests per second; slow down",
                retry_after=wait,
                limit="tenant_rate_per_second",
            )
        self._buckets[tenant] = (tokens - 1.0, now)
