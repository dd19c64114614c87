"""The database handle: engine creation, SQLite tuning and read/write transactions.

SQLite is opened in WAL mode so readers never wait for writers. Write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that later upgrades to a write lock can fail at
once with "database is locked" (the busy timeout does not apply to a lock upgrade), whereas an
immediate one simply waits its turn. Several processes (the API and each worker) write safely.

How a writer waits matters for latency: SQLite's own busy handler sleeps in growing steps
(1, 2, 5 … 100 ms), so under contention a request can sleep far longer than the lock is held.
Instead, threads of one process queue on a lock and the first polls for the database lock
about every millisecond (:func:`_begin_immediate`).

PostgreSQL connections are checked when taken from the pool, but without SQLAlchemy's
``pool_pre_ping`` round trip on every checkout (~0.1 ms each, several per job): a pooled
connection is pinged only when its socket has something to read (the server closed it or sent
a termination notice: an idle connection is owed nothing) or it sat idle for a while (a
firewall may have dropped it silently). A dead one is replaced before the caller sees it
(:func:`_checkout_check`).
"""

from __future__ import annotations

import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from pdfq.errors import Unavailable

_WRITE = "pdfq_write"
WRITE_LOCK_TIMEOUT = 30.0  # seconds a writer waits for SQLite's lock before giving up
PING_AFTER_IDLE_SECONDS = 30.0  # a pooled PostgreSQL connection idle this long is pinged
_RETURNED_AT = "pdfq_returned_at"


class Database:
    """One engine per process, with ``read()`` and ``write()`` transaction scopes."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # SQLite has one writer at a time: threads of this process take turns here first.
        self._writers = threading.Lock() if self.is_sqlite else nullcontext()
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=64,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
            )
            # Several rows (a job's events, a batch of pages) go in as one multi-row INSERT,
            # as SQLAlchemy does for psycopg2, not as one statement per row in a pipeline:
            # fewer statements for the server, and the events trigger (migration 0007) fires
            # once per insert, sending one notification per job and transaction.
            self.engine.dialect.use_insertmanyvalues_wo_returning = True
            event.listen(self.engine, "checkout", _checkout_check(self.engine.dialect.do_ping))
            event.listen(self.engine, "checkin", _note_return)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only scope. SQLite: a transaction (one snapshot; never blocks writers).
        PostgreSQL: autocommit, so a single SELECT is one round trip (no BEGIN/COMMIT);
        callers issuing several reads that must agree use :meth:`write`."""
        if not self.is_sqlite:
            with self.autocommit() as conn:
                yield conn
            return
        with _translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """PostgreSQL only: a connection in autocommit, where each statement is its own
        transaction (one round trip, no BEGIN/COMMIT). For reads, and for writes done in one
        statement (:mod:`pdfq.store.combined`)."""
        if self.is_sqlite:
            raise RuntimeError("autocommit() is for PostgreSQL; SQLite writes use write()")
        with _translate_errors(), self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        with self._writers, _translate_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        # Lost connections and locked databases are transient: callers may retry.
        raise Unavailable(f"database unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {exc.orig}") from exc
        raise


def _note_return(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _checkout_check(ping: Callable[[Any], object]) -> Callable[..., None]:
    def check(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        """Ping a pooled PostgreSQL connection only when it may be dead; replace it if so."""
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is not None and time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            try:
                quiet = not select.select([dbapi_connection.fileno()], [], [], 0)[0]
            except (OSError, ValueError):  # closed already
                quiet = False
            if quiet:
                return
        try:
            ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out a fresh one.
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc

    return check


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; _sqlite_on_begin issues BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Readers in WAL mode do not wait; writers wait in _begin_immediate, not in SQLite.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_WRITE, False):
        _begin_immediate(conn.connection.dbapi_connection)  # type: ignore[arg-type]
    else:
        conn.exec_driver_sql("BEGIN")


def _begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """Take SQLite's write lock, polling about every millisecond while another holds it."""
    deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
    pause = 0.0002
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.001)
