"""Fair scheduling across tenants and per-tenant running limits, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from pdfq.domain import Options, new_id
from pdfq.store import Database
from pdfq.store import chunks as chunk_repo
from pdfq.store import jobs as repo
from pdfq.store.jobs import NewJob
from pdfq.worker.sweeper import resend_lost
from tests.helpers import new_job


def queue(db: Database, tenant: str, count: int, priority: int = 0) -> list[str]:
    news = [
        NewJob(
            id=new_id(),
            filename=f"{tenant}-{n}.pdf",
            size_bytes=1,
            sha256="0" * 64,
            options=Options(priority=priority),
            tenant=tenant,
        )
        for n in range(count)
    ]
    with db.write() as conn:
        repo.create_jobs(conn, news, repo.utcnow())
    return [n.id for n in news]


def claim(db: Database, **kwargs) -> str | None:
    got = chunk_repo.claim_next_work(db, owner="w", lease_seconds=60, **kwargs)
    return None if got is None else got.job_id


def tenant_of(db: Database, job_id: str | None) -> str | None:
    record = repo.get_job(db, job_id=job_id) if job_id else None
    return record.tenant if record else None


def test_a_big_backlog_does_not_starve_a_later_single_job(db: Database) -> None:
    backlog = queue(db, "big", 50)
    assert claim(db) == backlog[0]
    assert claim(db) == backlog[1]
    (single,) = queue(db, "small", 1)
    # the single job is next but one at most: it is ranked at the virtual time, as the
    # next of the backlog is, and the older one wins the tie
    taken = [claim(db), claim(db)]
    assert single in taken
    rest = [claim(db) for _ in range(47)]
    assert sorted(j or "" for j in [*taken, *rest]) == sorted([single, *backlog[2:]])
    assert [j for j in [*taken, *rest] if j != single] == backlog[2:]  # still in order
    assert claim(db) is None


def test_tenants_take_turns_and_a_tenants_own_jobs_stay_in_order(db: Database) -> None:
    a = queue(db, "a", 4)
    b = queue(db, "b", 4)
    order = [claim(db) for _ in range(8)]
    assert [tenant_of(db, j) for j in order] == ["a", "b", "a", "b", "a", "b", "a", "b"]
    assert [j for j in order if j in a] == a
    assert [j for j in order if j in b] == b


def test_priority_comes_before_fairness(db: Database) -> None:
    queue(db, "a", 3)
    (urgent,) = queue(db, "b", 1, priority=5)
    assert claim(db) == urgent


def test_a_tenant_at_its_running_limit_waits(db: Database) -> None:
    a = queue(db, "a", 3)
    assert claim(db, max_running=2) == a[0]
    assert claim(db, max_running=2) == a[1]
    assert claim(db, max_running=2) is None  # a has 2 running
    (b,) = queue(db, "b", 1)
    assert claim(db, max_running=2) == b
    repo.finish(db, job_id=a[0], attempt=1, result_index={})
    assert claim(db, max_running=2) == a[2]


def test_chunks_of_a_large_document_share_the_order_with_other_tenants(db: Database) -> None:
    (big,) = queue(db, "a", 1)
    assert claim(db) == big
    assert chunk_repo.fan_out(
        db,
        job_id=big,
        attempt=1,
        ranges=[(i, i) for i in range(1, 11)],
        pages_total=10,
        findings=None,
    )
    first = chunk_repo.claim_next_work(db, owner="w", lease_seconds=60)
    assert first is not None
    assert first.chunk == 0
    (other,) = queue(db, "b", 1)
    taken = [chunk_repo.claim_next_work(db, owner="w", lease_seconds=60) for _ in range(2)]
    assert other in [t.job_id for t in taken if t is not None and t.chunk is None]
    # a tenant's running limit counts its running chunks: a's new job and chunks wait
    queue(db, "a", 1)
    assert chunk_repo.claim_next_work(db, owner="w", lease_seconds=60, max_running=1) is None


def test_a_tenant_with_queued_work_does_not_read_the_virtual_time(db: Database) -> None:
    from pdfq.store import fair

    queue(db, "busy", 3)
    queue(db, "other", 2)
    with db.read() as conn:
        assert fair.assign(conn, ["busy", "idle", "busy"]) == [3, 0, 4]
    if db.is_sqlite:
        return
    # On PostgreSQL the lowest queued rank walks index entries that vacuum has not removed
    # yet: the plan shows it skipped while the tenant's own highest rank answers.
    with db.read() as conn:
        sql = fair._NEXT_RANK.params(tenant="busy").compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE) {sql}"))
    assert plan.count("(never executed)") >= 4, plan


def test_a_single_upload_is_ranked_at_the_virtual_time_or_after_its_own(db: Database) -> None:
    # Through create_job, the path uploads take (on PostgreSQL the rank is computed inside
    # the insert).
    def upload(tenant: str) -> int:
        return repo.create_job(db, new=new_job(tenant=tenant))[0].fair_rank

    assert upload("first") == 0  # an empty queue
    queue(db, "big", 5)  # nothing of its own queued: from the virtual time, 0
    for _ in range(3):  # "first"'s 0, big's 0 and 1 leave the queue: the virtual time is 2
        claim(db)
    stored = [r.fair_rank for r in repo.list_jobs(db, tenant="big", limit=10)[0]]
    assert sorted(stored) == [0, 1, 2, 3, 4]
    assert upload("new") == 2
    assert upload("new") == 3  # after its own queued rank, not at V
    assert upload("big") == 5


def test_the_lost_message_sweep_leaves_out_tenants_waiting_at_their_limit(db: Database) -> None:
    """Their messages are re-sent with a delay and held by workers, where the broker's count
    does not see them: counted as lost, each sweep would add messages that go round too."""
    busy = queue(db, "busy", 3)
    free = queue(db, "free", 1)
    assert claim(db) == busy[0]  # "busy" now runs one job: its limit below
    later = repo.utcnow() + timedelta(minutes=1)
    assert set(repo.queued_since(db, before=later, limit=10)) == {*busy[1:], *free}
    assert repo.queued_since(db, before=later, limit=10, max_running=1) == free

    sent: list[str] = []
    resent = resend_lost(
        db,
        backlog=0,
        enqueue=lambda job_id, chunk, delay: sent.append(job_id),
        older_than_seconds=-60,
        max_running=1,
    )
    assert (resent, sent) == (1, free)
