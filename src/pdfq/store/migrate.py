"""Schema migrations: apply Alembic revisions up to head, safely from several processes.

``pdfq serve`` and ``pdfq worker`` call :func:`upgrade` on start. On PostgreSQL an advisory
lock serialises hosts starting together; SQLite's write lock does the same for one machine.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from pdfq.store.db import Database

_LOCK_ID = 0x70646671  # "pdfq"


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("pdfq.store") / "migrations"))
    config.set_main_option("sqlalchemy.url", db.url.render_as_string(hide_password=False))
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
