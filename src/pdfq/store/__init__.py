"""The job store: SQLAlchemy tables, the database handle, the job repository and migrations."""

from pdfq.store.db import Database
from pdfq.store.migrate import upgrade, warn_if_autovacuum_off

__all__ = ["Database", "upgrade", "warn_if_autovacuum_off"]
