"""Schema migrations: apply Alembic revisions up to head, safely from several processes, and
the start-up check that PostgreSQL will keep the migrated tables fast (autovacuum).

``pdfq serve`` and ``pdfq worker`` call :func:`upgrade` on start. On PostgreSQL an advisory
lock serialises hosts starting together; SQLite's write lock does the same for one machine.
"""

from __future__ import annotations

from importlib import resources

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from pdfq.store.db import Database

log = structlog.get_logger(__name__)

_LOCK_ID = 0x70646671  # "pdfq"
_AUTOVACUUM_OFF = text(
    "SELECT current_setting('autovacuum') = 'off' OR current_setting('track_counts') = 'off'"
)


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("pdfq.store") / "migrations"))
    # Alembic's options go through configparser, where "%" starts an interpolation: a
    # percent-encoded password ("p%40ss") or a folder named "100%" would break the migration.
    url = db.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it already is)."""
    config = alembic_config(db)
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        finally:
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                conn.commit()


def autovacuum_off(db: Database) -> bool:
    """Whether PostgreSQL's autovacuum will not visit pdfq's tables (SQLite needs none)."""
    if db.is_sqlite:
        return False
    with db.read() as conn:
        return bool(conn.execute(_AUTOVACUUM_OFF).scalar())


def warn_if_autovacuum_off(db: Database) -> None:
    """Say so on start: without vacuum and analyze, every queue operation slows as jobs pile
    up (migration 0008 tells why and what it measured)."""
    if autovacuum_off(db):
        log.warning(
            "PostgreSQL's autovacuum is off: the jobs and chunks tables keep every dead row "
            "version and are never analyzed, so claims, finishes and status reads slow down "
            "as jobs accumulate; turn autovacuum on (PostgreSQL's default) or run "
            "'VACUUM ANALYZE jobs, chunks' every few seconds under load (docs/deployment.md)"
        )
