"""SQLAlchemy Core tables of the job store: jobs, pages, chunks, events, batches and webhook
deliveries.

The same definitions serve SQLite (embedded) and PostgreSQL (distributed). Alembic migrations
in ``migrations/`` create them; a test checks the two never drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    desc,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
EventId = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("batch_id", String(36), nullable=True),
    Column("status", String(16), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    # What the upload is (formats.InputType): pdf, an image, or an office document.
    Column("input_type", String(8), nullable=False, server_default="pdf"),
    Column("options", JSON, nullable=False),
    # The PDF password, encrypted with the server key, kept only while the job can still run.
    Column("secret", LargeBinary, nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Attempts spent before the last retry: the budget counts from here, the numbers go on
    # (a job's files are written under its attempt number: migration 0010).
    Column("attempts_before_retry", Integer, nullable=False, server_default="0"),
    Column("pages_total", Integer, nullable=True),
    Column("pages_done", Integer, nullable=False, server_default="0"),
    Column("error_code", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    # Which attempt's result files are published (results are written under an attempt prefix),
    # and where each part (json, markdown, …) lies in its result object: {part: [offset, length]}.
    Column("result_attempt", Integer, nullable=True),
    Column("result_index", JSON, nullable=True),
    Column("findings", JSON, nullable=True),
    # Not claimable before this (back-off after a transient failure).
    Column("run_after", UTCDateTime, nullable=True),
    # Fan-out: a large document is split into page-range chunks run in parallel.
    Column("chunks_total", Integer, nullable=True),
    Column("chunks_done", Integer, nullable=False, server_default="0"),
    # A job answered from the result of an identical earlier one (same file, same options).
    Column("dedupe_of", String(36), nullable=True),
    # Where the job's end is announced: its own webhook_url, or the server's default when the
    # job was created (kept apart from the options, so a default never shows to clients).
    Column("webhook_url", Text, nullable=True),
    # Retention: when the input file was removed, and when the results were (the job then
    # answers 410 Gone where its files are needed).
    Column("input_removed_at", UTCDateTime, nullable=True),
    Column("expired_at", UTCDateTime, nullable=True),
    # The trace context of the request that created the job (tracing on), for its workers.
    Column("trace_context", JSON(none_as_null=True), nullable=True),
    # Place in the fair order across tenants (start-time fair queueing, see store/fair.py).
    Column("fair_rank", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant", "idempotency_key"),
    # Claim order: highest priority first, then the fair order across tenants, then oldest.
    Index("ix_jobs_claim", "status", desc("priority"), "fair_rank", "id"),
    Index(None, "status", "fair_rank"),
    Index(None, "tenant", "status", "fair_rank"),
    Index(None, "tenant", "id"),
    Index(None, "tenant", "status", "id"),
    Index(None, "status", "lease_expires_at"),
    Index(None, "batch_id"),
    Index(None, "tenant", "sha256"),
    Index(None, "status", "finished_at"),
)

pages = Table(
    "pages",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("method", String(8), nullable=False),
    Column("ocr_provider", String(32), nullable=True),
    Column("ocr_confidence", Float, nullable=True),
    Column("chars", Integer, nullable=False),
    Column("tables", Integer, nullable=False),
    # Where the page's JSON lives: a batch file of the attempt, at this byte range.
    Column("batch", String(32), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    Column("done_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("job_id", "number"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("first_page", Integer, nullable=False),
    Column("last_page", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # The job's tenant and priority, and the chunk's place in the fair order (store/fair.py).
    Column("tenant", String(64), nullable=False, server_default="default"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("fair_rank", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("job_id", "number"),
    Index(None, "status", "job_id", "number"),
    Index(None, "status", "fair_rank"),
    Index(None, "tenant", "status", "fair_rank"),
    Index(None, "status", "lease_expires_at"),
)

# Events outlive their job on purpose: they are the audit trail (retention removes them).
events = Table(
    "events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    # The job's tenant, kept so the audit trail outlives deleted jobs (NULL in old rows).
    Column("tenant", String(64), nullable=True),
    Column("type", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Index(None, "job_id", "id"),
    Index(None, "tenant", "id"),
    Index(None, "at"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    # Files refused on arrival (each with its code and message); they have no job.
    Column("rejected", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "tenant", "id"),
)

# The outbox of webhook calls: written in the transaction that ends the job, so a delivery is
# never lost to a crash; sent (and retried) by whichever API process claims it.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("job_id", String(36), nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "job_id"),
)

# API keys: only a hash of each secret is kept; the key's id is its public, searchable part.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("scopes", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index(None, "tenant"),
)
