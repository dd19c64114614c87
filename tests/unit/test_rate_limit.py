"""The per-tenant token bucket."""

from __future__ import annotations

import pytest

from pdfq.api.auth import RateLimiter
from pdfq.errors import RateLimited


def test_a_burst_then_the_rate_per_tenant() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    for _ in range(3):
        limiter.check("a", now=100.0)
    with pytest.raises(RateLimited) as limited:
        limiter.check("a", now=100.0)
    assert limited.value.retry_after == 1
    assert limited.value.limit == "tenant_rate_per_second"
    limiter.check("b", now=100.0)  # another tenant has its own bucket
    limiter.check("a", now=100.5)  # half a second later: one more request (2 per second)
    with pytest.raises(RateLimited):
        limiter.check("a", now=100.5)


def test_rate_zero_is_off() -> None:
    limiter = RateLimiter(rate=0.0, burst=1)
    for _ in range(1000):
        limiter.check("a", now=1.0)
