"""Keys and tenants, quotas and back-pressure, hostile PDFs, secrets and the safe default of
`pdfq serve`, against the real app and worker pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pdfq.store import keys as key_repo
from tests import hostile, samples
from tests.helpers import (
    LiveServer,
    events_of,
    free_port,
    overtaking,
    read_sse,
    submit,
    wait_job,
    wait_until,
)

SSE = {"Accept": "text/event-stream"}


def make_key(client: Any, tenant: str, scopes: str = "submit,read") -> dict[str, str]:
    _, token = key_repo.create_key(
        client.app.state.services.db, tenant=tenant, scopes=key_repo.parse_scopes(scopes)
    )
    return {"Authorization": f"Bearer {token}"}


def test_with_keys_every_v1_route_needs_one_and_tenants_never_see_each_other(
    make_client,
) -> None:
    client = make_client()
    # no key yet: the API is open, and everything belongs to the default tenant
    assert client.get("/v1/jobs").status_code == 200
    alice, bob = make_key(client, "alice"), make_key(client, "bob")
    time.sleep(2.1)  # the "any keys?" answer is cached for two seconds

    assert client.get("/healthz").status_code == 200  # probes stay open
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        answer = client.get("/v1/jobs", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert submit(client, samples.report_pdf()).status_code == 401

    job = submit(client, samples.report_pdf(pages=2), headers=alice).json()
    assert job["status"] == "queued"
    batch = client.post(
        "/v1/batches",
        files=[("file", ("x.pdf", samples.report_pdf(), "application/pdf"))],
        headers=alice,
    ).json()
    assert wait_job(client_with(client, alice), job["id"])["status"] == "succeeded"

    job_routes = [
        ("GET", ""),
        ("GET", "/result"),
        ("GET", "/result?format=markdown"),
        ("GET", "/pages/1"),
        ("GET", "/tables.csv"),
        ("GET", "/tables.zip"),
        ("GET", "/events"),
        ("POST", "/cancel"),
        ("POST", "/retry"),
        ("DELETE", ""),
    ]
    for method, suffix in job_routes:
        answer = client.request(method, f"/v1/jobs/{job['id']}{suffix}", headers=bob)
        assert answer.status_code == 404, (method, suffix, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    stream = client.get(f"/v1/jobs/{job['id']}/events", headers={**bob, **SSE})
    assert stream.status_code == 404
    for suffix in ("", "/events"):
        assert client.get(f"/v1/batches/{batch['id']}{suffix}", headers=bob).status_code == 404
    assert client.get("/v1/jobs", headers=bob).json()["items"] == []
    assert client.get(f"/v1/jobs?batch={batch['id']}", headers=bob).json()["items"] == []
    # and alice sees hers everywhere
    assert client.get(f"/v1/jobs/{job['id']}/result", headers=alice).status_code == 200
    assert len(client.get("/v1/jobs", headers=alice).json()["items"]) == 2
    # a repeat by bob of alice's file is not answered from her result
    again = submit(client, samples.report_pdf(pages=2), headers=bob).json()
    assert again["dedupe_of"] is None


def client_with(client: TestClient, headers: dict[str, str]) -> TestClient:
    client.headers.update(headers)
    return client


def test_scopes_and_revocation(make_client) -> None:
    client = make_client()
    reader = make_key(client, "acme", "read")
    submitter = make_key(client, "acme", "submit")
    admin = make_key(client, "acme", "admin")
    time.sleep(2.1)
    denied = submit(client, samples.report_pdf(), headers=reader)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    job_id = submit(client, samples.report_pdf(), headers=submitter).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=submitter).status_code == 403
    assert client.get(f"/v1/jobs/{job_id}", headers=reader).status_code == 200
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=reader).status_code == 403
    assert client.get(f"/v1/jobs/{job_id}", headers=admin).status_code == 200

    key_id = reader["Authorization"].split("_")[1]
    assert key_repo.revoke_key(client.app.state.services.db, key_id=key_id)
    wait_until(
        lambda: client.get("/v1/jobs", headers=reader).status_code == 401, timeout=3, interval=0.2
    )
    listed = {k.id: k for k in key_repo.list_keys(client.app.state.services.db)}
    assert listed[key_id].revoked_at is not None
    assert listed[submitter["Authorization"].split("_")[1]].last_used_at is not None


def test_rate_limit_answers_429_with_retry_after_per_tenant(make_client) -> None:
    client = make_client(tenant_rate_per_second=1, tenant_burst=3)
    busy, calm = make_key(client, "busy"), make_key(client, "calm")
    time.sleep(2.1)
    answers = [client.get("/v1/jobs", headers=busy) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[-1]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["limit"] == "tenant_rate_per_second"
    assert client.get("/v1/jobs", headers=calm).status_code == 200  # others are not slowed
    time.sleep(1.1)
    assert client.get("/v1/jobs", headers=busy).status_code == 200


def test_queue_quota_per_tenant_and_accepted_work_still_finishes(make_client) -> None:
    client = make_client(tenant_max_queued=2, tenant_max_running=1, workers=1)
    greedy, other = make_key(client, "greedy"), make_key(client, "other")
    time.sleep(2.1)
    long_job = submit(client, samples.grid_pdf(pages=30), headers=greedy).json()["id"]
    client.headers.update(greedy)
    wait_job(client, long_job, until={"running"})
    queued = [
        submit(client, samples.report_pdf(title=f"Q{n}"), dedupe="false").json()["id"]
        for n in range(2)
    ]
    refused = submit(client, samples.report_pdf(title="too many"))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert refused.json()["error"]["limit"] == "tenant_max_queued"
    assert "retry-after" in refused.headers
    batch = client.post(
        "/v1/batches",
        files=[
            ("file", (f"{n}.pdf", samples.report_pdf(title=f"B{n}"), "application/pdf"))
            for n in range(3)
        ],
    )
    assert batch.status_code == 429
    assert submit(client, samples.report_pdf(), headers=other).status_code == 202
    for job_id in [long_job, *queued]:
        assert wait_job(client, job_id, timeout=60)["status"] == "succeeded"


def test_one_tenants_big_batch_does_not_starve_anothers_upload(make_client) -> None:
    client = make_client(workers=2)
    big, small = make_key(client, "big"), make_key(client, "small")
    time.sleep(2.1)
    files = [
        ("file", (f"{n}.pdf", samples.text_pdf(pages=1, words_per_page=20 + n), "application/pdf"))
        for n in range(100)
    ]
    batch = client.post("/v1/batches", files=files, headers=big).json()
    single = submit(client, samples.report_pdf(title="Small"), headers=small).json()["id"]
    client.headers.update(small)
    mine = wait_job(client, single, timeout=60)
    client.headers.update(big)
    theirs = [client.get(f"/v1/jobs/{j['id']}").json() for j in batch["jobs"]]
    # of the batch's jobs still waiting when the upload arrived, at most one per worker
    # (and one tie) started before it; the rest of the backlog came after it
    waiting, overtook = overtaking(theirs, mine)
    assert waiting >= 30, waiting  # there was a backlog to be starved by
    assert overtook <= 3, overtook  # at most one per worker (and a tie) went first


@pytest.mark.parametrize("sample", hostile.hostile_set(), ids=lambda h: h.name)
def test_every_hostile_pdf_ends_clearly_and_the_service_stays_up(
    hostile_api: TestClient, sample: hostile.Hostile
) -> None:
    job = submit(hostile_api, sample.data, f"{sample.name}.pdf").json()
    done = wait_job(hostile_api, job["id"], timeout=60)
    assert done["status"] in ("succeeded", "failed")
    if sample.code is not None:
        assert done["error"]["code"] == sample.code, done
    scanned = [e for e in events_of(hostile_api, job["id"]) if e["type"] == "scanned"]
    if sample.findings:
        assert done["status"] == "succeeded"  # recorded, not refused, by default
        assert sample.findings <= set(scanned[0]["data"]["findings"])
    assert hostile_api.get("/readyz").status_code == 200


@pytest.fixture(scope="module")
def hostile_api(tmp_path_factory: pytest.TempPathFactory):
    from pdfq.api import create_app
    from pdfq.config import Settings

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hostile") / "data",
        workers=2,
        log_format="json",
        log_level="warning",
        max_stream_bytes=256 * 1024 * 1024,
        dedupe=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_policy_can_refuse_findings(make_client) -> None:
    client = make_client(reject_findings="javascript,launch_actions")
    by_name = {h.name: h for h in hostile.hostile_set()}
    for name in ("javascript-open-action", "launch-and-uri"):
        done = wait_job(client, submit(client, by_name[name].data).json()["id"])
        assert done["status"] == "failed"
        assert done["error"]["code"] == "unsafe_pdf"
        assert "refused by the safety policy" in done["error"]["message"]
    allowed = wait_job(client, submit(client, by_name["xfa-form"].data).json()["id"])
    assert allowed["status"] == "succeeded"


def test_file_names_are_sanitised(make_client) -> None:
    client = make_client()
    for raw in ("../../etc/passwd.pdf", "a\r\nX-Evil: 1.pdf", "..\\..\\win.pdf"):
        job = submit(client, samples.report_pdf(), raw).json()
        for forbidden in ("/", "\\", "\r", "\n"):
            assert forbidden not in job["filename"]
        assert job["filename"].endswith(".pdf")


@pytest.mark.slow
def test_no_secret_reaches_logs_events_or_errors(tmp_path: Path) -> None:
    password = "hunter2-Pa55"
    server = LiveServer(tmp_path / "data", PDFQ_LOG_LEVEL="debug").start()
    try:
        _, token = key_repo.create_key(
            _db(tmp_path / "data"), tenant="t", scopes=key_repo.parse_scopes("submit,read")
        )
        headers = {"Authorization": f"Bearer {token}"}
        time.sleep(2.1)
        with server.client(headers=headers) as client:
            good = submit(client, samples.encrypted_pdf(password), password=password).json()
            bad = submit(
                client, samples.encrypted_pdf(password), password="wrong-" + password
            ).json()
            for job_id in (good["id"], bad["id"]):
                wait_until(
                    lambda j=job_id: (
                        client.get(f"/v1/jobs/{j}").json()["status"] in ("succeeded", "failed")
                    )
                )
            texts = [
                json.dumps(client.get(f"/v1/jobs/{j}").json()) + json.dumps(events_of(client, j))
                for j in (good["id"], bad["id"])
            ]
            with client.stream("GET", f"/v1/jobs/{good['id']}/events", headers=SSE) as stream:
                texts.append(json.dumps(read_sse(stream.iter_lines())))
            assert client.get("/v1/jobs", headers={"Authorization": token + "x"}).status_code == 401
    finally:
        server.stop()
    parts = key_repo.split_token(token)
    assert parts is not None
    secret_part = parts[1]
    everything = server.log() + "".join(texts) + _database_dump(tmp_path / "data" / "pdfq.db")
    assert password not in everything
    assert secret_part not in everything


def _db(data_dir: Path):
    from pdfq.store import Database

    return Database(f"sqlite:///{data_dir / 'pdfq.db'}")


def _database_dump(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


def pdfq_serve(
    tmp_path: Path, *args: str, output: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PDFQ_DATA_DIR": str(tmp_path / "data"), "PDFQ_PORT": str(free_port())}
    return subprocess.Popen(
        [sys.executable, "-m", "pdfq.cli", "serve", *args],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_serve_refuses_an_open_public_address_without_keys(tmp_path: Path) -> None:
    refused = pdfq_serve(tmp_path, "--host", "0.0.0.0", output=subprocess.PIPE)
    output = refused.communicate(timeout=60)[0].decode()
    assert refused.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in output

    allowed = pdfq_serve(tmp_path, "--host", "0.0.0.0", "--insecure")
    try:
        time.sleep(3)
        assert allowed.poll() is None  # still running
    finally:
        allowed.terminate()
        allowed.wait(30)

    key_repo.create_key(_db(tmp_path / "data"), tenant="t", scopes=frozenset({"read"}))
    with_key = pdfq_serve(tmp_path, "--host", "0.0.0.0")
    try:
        time.sleep(3)
        assert with_key.poll() is None
    finally:
        with_key.terminate()
        with_key.wait(30)

    local = LiveServer(tmp_path / "local").start()  # loopback without keys: a warning only
    try:
        assert "no API keys" in local.log()
    finally:
        local.stop()
