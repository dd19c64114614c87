"""Webhook signatures: ``X-Pdfq-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

The HMAC covers ``"<t>." + body``, so the time is part of what is signed: a receiver that
refuses signatures older than a few minutes cannot be fed a recorded call again. Receivers
verify with :func:`verify` (or the five lines in ``docs/webhooks.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Pdfq-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (default: now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_seconds``
    old (or early)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, timestamp, body)
    # The header format allows several v1 values (one per key during a key change).
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
