"""a job's ending is announced with the job as it ended (PostgreSQL)

Until now a long poll (``GET /v1/jobs/{id}?wait=…``) that heard of its job's end read the job
again: one more round trip to the database, through a thread, between the end and the answer,
on the path of every client that waits for its result. The notification that announces an end
(a ``succeeded``, ``failed`` or ``canceled`` event, revision 0007) now carries the job's public
fields as the ending statement left them, read inside that statement's transaction, so the
waiting request answers from it. A notification is sent only at commit, so what it carries is
what a read right after the commit would see. The job is left out where the payload would not
fit PostgreSQL's 8,000 bytes (a very long error message, say) or where the row does not show
the ending yet: listeners then read the store as before. Timestamps are UTC, without a zone.
SQLite has no notifications; this revision does nothing there.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The payload of revision 0007, plus "job" on endings:
# {"kind": "job", "data": {"job_id": …, "events": [types], "job": {column: value, …}}}
# pdfq.store.notify.ended_job reads it; its columns are those of JobRecord.to_job.
_ANNOUNCE = """
CREATE OR REPLACE FUNCTION pdfq_announce_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    note record;
    whole text;
BEGIN
    FOR note IN
        SELECT job_id,
               json_agg(type ORDER BY id) AS types,
               bool_or(type IN ('succeeded', 'failed', 'canceled')) AS ends
        FROM new_events
        GROUP BY job_id
        HAVING NOT bool_or(type = 'received')
    LOOP
        whole := NULL;
        IF note.ends THEN
            SELECT json_build_object(
                'kind', 'job',
                'data', json_build_object(
                    'job_id', note.job_id,
                    'events', note.types,
                    'job', json_build_object(
                        'id', j.id,
                        'tenant', j.tenant,
                        'status', j.status,
                        'filename', j.filename,
                        'size_bytes', j.size_bytes,
                        'sha256', j.sha256,
                        'input_type', j.input_type,
                        'options', j.options,
                        'pages_total', j.pages_total,
                        'pages_done', j.pages_done,
                        'error_code', j.error_code,
                        'error_message', j.error_message,
                        'attempts', j.attempts,
                        'batch_id', j.batch_id,
                        'dedupe_of', j.dedupe_of,
                        'created_at', j.created_at AT TIME ZONE 'UTC',
                        'started_at', j.started_at AT TIME ZONE 'UTC',
                        'finished_at', j.finished_at AT TIME ZONE 'UTC',
                        'expired_at', j.expired_at AT TIME ZONE 'UTC'
                    )
                )
            )::text
            INTO whole
            FROM jobs j
            WHERE j.id = note.job_id AND j.status IN ('succeeded', 'failed', 'canceled');
        END IF;
        IF whole IS NULL OR octet_length(whole) >= 7900 THEN
            whole := json_build_object(
                'kind', 'job',
                'data', json_build_object('job_id', note.job_id, 'events', note.types)
            )::text;
        END IF;
        PERFORM pg_notify('pdfq_jobs', whole);
    END LOOP;
    RETURN NULL;
END
$$
"""

# Revision 0007's function, for downgrade.
_ANNOUNCE_0007 = """
CREATE OR REPLACE FUNCTION pdfq_announce_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'pdfq_jobs',
        json_build_object(
            'kind', 'job',
            'data', json_build_object('job_id', job_id, 'events', json_agg(type ORDER BY id))
        )::text
    )
    FROM new_events
    GROUP BY job_id
    HAVING NOT bool_or(type = 'received');
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ANNOUNCE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ANNOUNCE_0007)
