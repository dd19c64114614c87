"""Webhook signatures and the retry back-off."""

from __future__ import annotations

import hashlib
import hmac

from pdfq.notify import sign, verify
from pdfq.notify.webhooks import backoff_seconds

SECRET = b"k3y"
BODY = b'{"id":"j1","status":"succeeded"}'


def test_a_signature_verifies_and_is_the_documented_hmac() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header.endswith(expected)
    assert verify(SECRET, header, BODY, now=1_700_000_100)


def test_tampering_another_key_or_an_old_signature_fails() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert not verify(SECRET, header, BODY + b" ", now=1_700_000_000)
    assert not verify(b"other", header, BODY, now=1_700_000_000)
    assert not verify(SECRET, header, BODY, now=1_700_000_000 + 301)  # a replay, later
    assert not verify(SECRET, header, BODY, now=1_700_000_000 - 301)
    forged = header.replace("t=1700000000", "t=1700000200")  # the time is signed too
    assert not verify(SECRET, forged, BODY, now=1_700_000_200)
    for broken in ("", "t=abc,v1=00", "v1=00", "t=1700000000"):
        assert not verify(SECRET, broken, BODY, now=1_700_000_000)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    for attempt, top in ((1, 5.0), (2, 10.0), (3, 20.0), (10, 60.0)):
        waits = [backoff_seconds(attempt, base=5.0, cap=60.0) for _ in range(200)]
        assert all(top / 2 <= w <= top for w in waits)
        assert max(waits) - min(waits) > top / 10  # jittered, not fixed


def test_the_verification_in_the_docs_accepts_what_the_server_signs() -> None:
    import re
    import time
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)
    documented = namespace["verify"]
    assert callable(documented)
    header = sign(SECRET, BODY)
    assert documented(SECRET, header, BODY)
    assert not documented(SECRET, header, BODY + b"x")
    assert not documented(b"other", header, BODY)
    assert not documented(SECRET, sign(SECRET, BODY, int(time.time()) - 600), BODY)
