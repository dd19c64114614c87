"""``Content-Disposition`` values for downloads, safe for any file name (RFC 6266)."""

from __future__ import annotations

from urllib.parse import quote


def _value(kind: str, name: str) -> str:
    # An ASCII fallback for old clients, and the exact name in UTF-8 for the rest.
    fallback = "".join(c for c in name if 32 <= ord(c) < 127 and c not in '"\\') or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def inline(name: str) -> str:
    """Shown by a browser, saved under ``name``."""
    return _value("inline", name)


def attachment(name: str) -> str:
    """Saved under ``name``."""
    return _value("attachment", name)
