"""Source documents: the Markdown long descriptions of the Python packages installed here.

Each installed distribution whose metadata says ``Description-Content-Type: text/markdown``
gives its README (``metadata(name).get_payload()``, or the ``Description`` field). The texts
are read at run time from the installed packages, never copied into the repository, so the
document set follows pyproject's dependencies (and the versions resolved for them).

The set is deterministic: distributions sorted by normalised name, minus :data:`EXCLUDED`
(httpx, fastapi and starlette are held out for a separate check; pdfq is this project's own
README), keeping those whose cleaned text has at least :data:`MIN_HEADINGS` headings and
:data:`MIN_CHARS` to :data:`MAX_CHARS` characters; the first ``--docs`` of them are used.

Cleaning (:func:`clean_markdown`) drops, outside code fences, lines that would not print:
lines made only of badges or images (``[![..](..)](..)``, ``![..](..)``) and lines of raw
HTML (``<p align=center>``, ``<img ..>``); HTML comments go whole, across lines. Whatever
HTML or image survives inside a paragraph is removed later from the token stream
(:mod:`bench.structure.markdown`), so the printed page and the ground truth come from the
same tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import Distribution, distributions
from typing import cast

EXCLUDED = frozenset({"httpx", "fastapi", "starlette", "pdfq"})
"""Never used: httpx, fastapi, starlette (held-out check) and pdfq (this project)."""
MIN_HEADINGS = 3
MIN_CHARS = 1500
MAX_CHARS = 60_000
"""Longer descriptions (pydantic's changelog-laden one) would dominate the run time."""

_IMAGE = r"!\[[^\]]*\]\([^)]*\)"
_BADGE_LINE = re.compile(
    rf"^\s*((\[\s*{_IMAGE}\s*\]\([^)]*\)|\[\s*{_IMAGE}\s*\]\[[^\]]*\]|{_IMAGE}|"
    r"\[!\[[^\]]*\]\[[^\]]*\]\]\([^)]*\)|\[!\[[^\]]*\]\[[^\]]*\]\]\[[^\]]*\])\s*)+\s*$"
)
_HTML_LINE = re.compile(r"^\s*</?[A-Za-z!][^>]*>?.*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Source:
    """One package's README, cleaned."""

    name: str
    version: str
    licence: str
    markdown: str

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def normalise_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def clean_markdown(text: str) -> str:
    """The README less its badge, image and raw-HTML lines (code fences kept as they are)."""
    out: list[str] = []
    fence: str | None = None
    text = _COMMENT.sub("", text.replace("\r\n", "\n").replace("\t", "    "))
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is not None:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            out.append(line)
            continue
        if _BADGE_LINE.match(line) or _HTML_LINE.match(line):
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"


def _meta(dist: Distribution) -> Message:
    # At run time the metadata is an email Message (the PackageMetadata protocol is narrower).
    return cast(Message, dist.metadata)


def licence_of(dist: Distribution) -> str:
    meta = _meta(dist)
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    licence = (meta.get("License") or "").strip().splitlines()
    if licence and 0 < len(licence[0]) <= 60:
        return licence[0]
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    return "unknown" if not licence else licence[0][:57] + "..."


def description_of(dist: Distribution) -> str | None:
    meta = _meta(dist)
    if "markdown" not in (meta.get("Description-Content-Type") or "").lower():
        return None
    payload = meta.get_payload()
    body = payload if isinstance(payload, str) and payload.strip() else meta.get("Description")
    return str(body) if body else None


def candidates() -> list[Source]:
    """Every eligible README, sorted by package name."""
    from bench.structure.markdown import count_headings

    seen: dict[str, Source] = {}
    for dist in distributions():
        name = _meta(dist).get("Name")
        if not name or normalise_name(name) in EXCLUDED or normalise_name(name) in seen:
            continue
        body = description_of(dist)
        if body is None:
            continue
        cleaned = clean_markdown(body)
        if not MIN_CHARS <= len(cleaned) <= MAX_CHARS or count_headings(cleaned) < MIN_HEADINGS:
            continue
        seen[normalise_name(name)] = Source(
            name=normalise_name(name),
            version=str(dist.version),
            licence=licence_of(dist),
            markdown=cleaned,
        )
    return [seen[k] for k in sorted(seen)]


def select(count: int) -> list[Source]:
    return candidates()[:count]
