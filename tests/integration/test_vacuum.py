"""PostgreSQL's vacuum of the queue tables: migration 0008's per-table autovacuum settings, and
the warning on start where autovacuum is off."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from pdfq.store import Database, migrate, upgrade, warn_if_autovacuum_off
from pdfq.store.migrate import autovacuum_off
from tests.helpers import downgrade


def table_options(db: Database) -> dict[str, dict[str, str]]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('jobs', 'chunks')"
        ).all()
    return {name: dict(o.split("=", 1) for o in options or []) for name, options in rows}


def test_the_queue_tables_are_vacuumed_after_one_percent_changed(pg: Database) -> None:
    expected = {
        "autovacuum_vacuum_scale_factor": "0.01",
        "autovacuum_vacuum_threshold": "1000",
        "autovacuum_analyze_scale_factor": "0.01",
        "autovacuum_analyze_threshold": "1000",
    }
    assert table_options(pg) == {"jobs": expected, "chunks": expected}


def test_the_settings_go_with_a_downgrade_and_come_back(pg: Database) -> None:
    downgrade(pg, "0007")
    assert table_options(pg) == {"jobs": {}, "chunks": {}}
    upgrade(pg)
    assert len(table_options(pg)["jobs"]) == 4


def test_the_check_reads_the_servers_setting(pg: Database) -> None:
    with pg.read() as conn:
        server_off = conn.exec_driver_sql("SHOW autovacuum").scalar_one() == "off"
    assert autovacuum_off(pg) is server_off


def test_start_warns_where_autovacuum_cannot_run(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app's logging caches each logger on first use, and capture_logs cannot see a cached
    # one: an app started earlier in this process on PostgreSQL has used this one already.
    monkeypatch.setattr(migrate, "log", structlog.get_logger(migrate.__name__))
    # Autovacuum also needs the activity counters; a superuser may switch them off per session,
    # which shows the warning without touching the server's configuration.
    db = Database(f"{pg_url}?options=-c%20track_counts%3Doff")
    try:
        with capture_logs() as logs:
            warn_if_autovacuum_off(db)
    finally:
        db.dispose()
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert "VACUUM ANALYZE jobs, chunks" in logs[0]["event"]


def test_sqlite_needs_no_vacuum(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    with capture_logs() as logs:
        warn_if_autovacuum_off(db)
    assert autovacuum_off(db) is False
    assert logs == []
    db.dispose()
