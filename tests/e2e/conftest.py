"""Fixtures of the end-to-end tests of the distributed shape."""

from __future__ import annotations

import itertools

import pytest
import redis

_redis_db = itertools.count(1)


@pytest.fixture
def redis_url() -> str:
    """An emptied Redis database of its own for each test (Redis has 16)."""
    url = f"redis://127.0.0.1:6379/{next(_redis_db) % 15 + 1}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def cluster_env(pg_url: str, s3_bucket: str, s3_endpoint: str, redis_url: str) -> dict[str, str]:
    return {
        "PDFQ_QUEUE": "celery",
        "PDFQ_BROKER_URL": redis_url,
        "PDFQ_DATABASE_URL": pg_url,
        "PDFQ_BLOBS_URL": f"s3://{s3_bucket}/pdfq",
        "PDFQ_S3_ENDPOINT_URL": s3_endpoint,
        "PDFQ_LEASE_SECONDS": "3",
        "PDFQ_SWEEP_INTERVAL_SECONDS": "1",
        "PDFQ_LOG_LEVEL": "info",
        # Webhook receivers in these tests listen on this machine (a private address).
        "PDFQ_WEBHOOK_ALLOW_PRIVATE": "true",
    }
