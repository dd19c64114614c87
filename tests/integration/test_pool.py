"""Pooled PostgreSQL connections: a dead one is replaced before anyone sees it, and a live,
recently used one is handed out without a ping round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import pdfq.store.db as store_db
from pdfq.store import Database
from tests.conftest import POSTGRES_ADMIN_URL

PING = ";"  # what SQLAlchemy's psycopg dialect sends to ping


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=1)
    yield database
    database.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ping sent to the server from here on."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def spy(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == PING:
            sent.append(query)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    return sent


def backend_pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_closed_is_replaced_unseen(pg: Database) -> None:
    first = backend_pid(pg)
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
    admin.dispose()
    time.sleep(0.2)  # the server's goodbye reaches the pooled socket

    # The pooled connection is dead; the next caller gets a fresh one, not an error.
    second = backend_pid(pg)
    assert second != first
    with pg.write() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_recently_used_quiet_connection_is_not_pinged(
    pg: Database, pings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend_pid(pg)  # a new connection is pinged once
    pings.clear()
    pids = {backend_pid(pg) for _ in range(20)}
    assert len(pids) == 1  # the same pooled connection each time...
    assert pings == []  # ...and no ping round trip before any of them

    monkeypatch.setattr(store_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    backend_pid(pg)  # idle "too long": pinged, since a firewall may have dropped it
    assert pings == [PING]
