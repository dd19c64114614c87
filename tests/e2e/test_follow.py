"""Following jobs: the live event stream (SSE), batches and deduplicated repeats, against the
real app and its worker pool."""

from __future__ import annotations

import concurrent.futures
import io
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from tests import samples
from tests.helpers import events_of, read_sse, submit, wait_job, wait_until

SSE = {"Accept": "text/event-stream"}


def stream(client: TestClient, url: str, **headers: str) -> list[tuple[str, int | None, Any]]:
    with client.stream("GET", url, headers={**SSE, **headers}, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_sse(response.iter_lines())


def test_the_stream_shows_pages_progress_and_the_final_job(make_client) -> None:
    client = make_client(workers=1)
    pdf = samples.grid_pdf(pages=12, rows=30, cols=6)
    job_id = submit(client, pdf).json()["id"]
    messages = stream(client, f"/v1/jobs/{job_id}/events")

    kinds = [kind for kind, _, _ in messages]
    assert kinds[:2] == ["received", "stored"]
    assert kinds[-2:] == ["succeeded", "job"]
    pages = [data["number"] for kind, _, data in messages if kind == "page"]
    assert sorted(pages) == list(range(1, 13))
    progress = [data for kind, _, data in messages if kind == "progress"]
    assert progress[-1] == {"job_id": job_id, "pages_done": 12, "pages_total": 12}
    done = [p["pages_done"] for p in progress]
    assert done == sorted(done)
    # each page came before the progress that counts it
    for index, (kind, _, data) in enumerate(messages):
        if kind == "progress":
            seen = [d for k, _, d in messages[:index] if k == "page"]
            assert len(seen) == data["pages_done"]
    final = messages[-1][2]
    assert final["id"] == job_id
    assert final["status"] == "succeeded"
    assert final["progress"] == {"pages_done": 12, "pages_total": 12}
    # every message from a stored event carries its id, in increasing order
    ids = [event_id for kind, event_id, _ in messages if kind not in ("page", "job")]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(i for i in ids if i is not None)


def test_a_stream_resumes_after_last_event_id_and_history_stays_json(make_client) -> None:
    client = make_client()
    job_id = submit(client, samples.report_pdf(pages=3)).json()["id"]
    full = stream(client, f"/v1/jobs/{job_id}/events")  # the job ends while streaming
    history = events_of(client, job_id)
    assert [e["id"] for e in history] == [i for k, i, _ in full if k not in ("page", "job")]
    started = next(e["id"] for e in history if e["type"] == "started")

    resumed = stream(client, f"/v1/jobs/{job_id}/events", **{"Last-Event-ID": str(started)})
    at = next(n for n, (_, event_id, _) in enumerate(full) if event_id == started)
    assert resumed == full[at + 1 :]
    assert resumed[0][0] == "scanned"
    after_all = stream(client, f"/v1/jobs/{job_id}/events?after={history[-1]['id']}")
    assert [k for k, _, _ in after_all] == ["job"]  # nothing new; the job had ended

    assert client.get(f"/v1/jobs/{job_id}/events?after={started}&limit=1").json()[0]["type"] == (
        "scanned"
    )
    assert client.get("/v1/jobs/nope/events", headers=SSE).status_code == 404


def test_many_followers_of_one_job_share_one_store_reader(make_client) -> None:
    client = make_client(workers=1)
    feeds = client.app.state.services.feeds
    reads: list[int] = []
    original = feeds._read

    async def counting_read(*args: Any) -> Any:
        reads.append(1)
        return await original(*args)

    feeds._read = counting_read
    job_id = submit(client, samples.grid_pdf(pages=10, rows=30, cols=6)).json()["id"]
    followers = 12
    with concurrent.futures.ThreadPoolExecutor(followers) as pool:
        futures = [
            pool.submit(stream, client, f"/v1/jobs/{job_id}/events") for _ in range(followers)
        ]
        wait_until(lambda: feeds.followed_jobs == 1, timeout=10)
        results = [f.result(timeout=60) for f in futures]
    for messages in results:
        assert messages[-1][0] == "job"
        assert sorted(d["number"] for k, _, d in messages if k == "page") == list(range(1, 11))
    # one read per change of the job, however many follow it
    history = events_of(client, job_id)
    assert len(reads) <= len(history) + 2
    assert feeds.followed_jobs == 0


def test_a_batch_stores_good_files_refuses_bad_ones_and_streams_to_its_end(make_client) -> None:
    client = make_client()
    files = [
        ("file", ("a.pdf", samples.report_pdf(pages=2, title="Alpha"), "application/pdf")),
        ("file", ("picture.pdf", samples.HTML_BYTES, "application/pdf")),
        ("files", ("b.pdf", samples.report_pdf(pages=1, title="Beta"), "application/pdf")),
        ("file", ("empty.pdf", b"", "application/pdf")),
        ("file", ("c.pdf", samples.text_pdf(pages=2, words_per_page=40), "application/pdf")),
    ]
    response = client.post("/v1/batches", files=files, data={"ocr": "never"})
    assert response.status_code == 202, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    assert [j["filename"] for j in batch["jobs"]] == ["a.pdf", "b.pdf", "c.pdf"]
    assert {j["batch_id"] for j in batch["jobs"]} == {batch["id"]}
    assert all(j["options"]["ocr"] == "never" for j in batch["jobs"])
    assert [(r["filename"], r["status"], r["error"]["code"]) for r in batch["rejected"]] == [
        ("picture.pdf", 415, "not_a_pdf"),
        ("empty.pdf", 400, "empty_file"),
    ]
    assert batch["counts"]["rejected"] == 2

    messages = stream(client, f"/v1/batches/{batch['id']}/events")
    finals = [d for k, _, d in messages if k == "job"]
    assert sorted(j["filename"] for j in finals) == ["a.pdf", "b.pdf", "c.pdf"]
    assert messages[-1][0] == "batch"
    summary = messages[-1][2]
    assert summary["counts"]["succeeded"] == 3
    assert summary["counts"]["queued"] == summary["counts"]["running"] == 0

    again = client.get(f"/v1/batches/{batch['id']}").json()
    assert again["counts"] == summary["counts"]
    listed = client.get(f"/v1/jobs?batch={batch['id']}").json()["items"]
    assert {j["id"] for j in listed} == {j["id"] for j in batch["jobs"]}
    text = client.get(f"/v1/jobs/{batch['jobs'][1]['id']}/result?format=text").text
    assert "Beta" in text
    history = client.get(f"/v1/batches/{batch['id']}/events").json()
    assert {e["job_id"] for e in history} == {j["id"] for j in batch["jobs"]}
    assert client.get("/v1/batches/unknown").status_code == 404


def test_batch_limits_and_bad_options(make_client) -> None:
    client = make_client(max_batch_files=2)
    pdf = samples.report_pdf()
    files = [("file", (f"{n}.pdf", pdf, "application/pdf")) for n in range(3)]
    response = client.post("/v1/batches", files=files)
    assert response.status_code == 400
    assert "at most 2" in response.json()["error"]["message"]
    response = client.post("/v1/batches", files=files[:2], data={"ocr": "sometimes"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_options"
    assert client.get("/v1/jobs").json()["items"] == []
    blobs = client.app.state.services.blobs
    assert [p for p in blobs.root.iterdir() if p.name != ".tmp"] == []


def test_a_repeated_file_reuses_the_earlier_result_at_once(make_client) -> None:
    client = make_client()
    pdf = samples.report_pdf(pages=3)
    first = wait_job(client, submit(client, pdf, "first.pdf").json()["id"])
    assert first["status"] == "succeeded"

    response = submit(client, pdf, "again.pdf")
    assert response.status_code == 202
    again = response.json()
    assert again["status"] == "succeeded"  # at once: nothing was queued
    assert again["dedupe_of"] == first["id"]
    assert again["filename"] == "again.pdf"
    assert again["progress"] == {"pages_done": 3, "pages_total": 3}
    for suffix in ("result?format=markdown", "result?format=text", "pages/2", "tables.csv"):
        original = client.get(f"/v1/jobs/{first['id']}/{suffix}")
        reused = client.get(f"/v1/jobs/{again['id']}/{suffix}")
        assert reused.status_code == 200
        assert reused.content == original.content
    result = client.get(f"/v1/jobs/{again['id']}/result").json()
    assert result["id"] == first["id"]  # the document as it was read
    kinds = [e["type"] for e in events_of(client, again["id"])]
    assert kinds == ["received", "stored", "succeeded"]
    assert events_of(client, again["id"])[-1]["data"]["dedupe_of"] == first["id"]
    assert stream(client, f"/v1/jobs/{again['id']}/events")[-1][0] == "job"

    # the reused result does not depend on the earlier job
    assert client.delete(f"/v1/jobs/{first['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{again['id']}/result?format=text").status_code == 200
    zipped = client.get(f"/v1/jobs/{again['id']}/tables.zip").content
    assert zipfile.ZipFile(io.BytesIO(zipped)).namelist()

    # other options, or dedupe=false, read the file again
    other = submit(client, pdf, pages="1").json()
    assert other["status"] == "queued"
    assert other["dedupe_of"] is None
    fresh = submit(client, pdf, dedupe="false").json()
    assert fresh["status"] == "queued"
    assert wait_job(client, fresh["id"])["status"] == "succeeded"


def test_a_job_answered_from_an_earlier_one_is_not_expected_to_end(make_client) -> None:
    client = make_client()
    events = client.app.state.services.events
    pdf = samples.text_pdf(pages=1)

    def long_poll(job_id: str) -> str:
        answer = client.get(f"/v1/jobs/{job_id}", params={"wait": 30})
        assert answer.status_code == 200
        return str(answer.json()["status"])

    assert long_poll(submit(client, pdf).json()["id"]) == "succeeded"
    again = submit(client, pdf).json()
    assert again["status"] == "succeeded"
    # No end will be announced for it: a long poll must read it instead of waiting.
    assert not events.not_ended(again["id"], "default")
    assert long_poll(again["id"]) == "succeeded"

    queued = submit(client, pdf, dedupe="false").json()["id"]
    assert long_poll(queued) == "succeeded"
    assert not events.not_ended(queued, "default")  # the end that answered it cleared the mark


def test_dedupe_can_be_turned_off_for_the_server(make_client) -> None:
    client = make_client(dedupe=False)
    pdf = samples.report_pdf()
    wait_job(client, submit(client, pdf).json()["id"])
    assert submit(client, pdf).json()["status"] == "queued"
