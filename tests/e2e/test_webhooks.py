"""Webhooks against a real receiver: signed, retried with back-off, exactly one delivery per
job, recorded as events, and surviving a server restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdfq.notify import verify
from tests import samples
from tests.helpers import (
    LiveServer,
    WebhookReceiver,
    events_of,
    free_port,
    submit,
    wait_job,
    wait_until,
)

# The receivers of these tests listen on this machine: a private address, refused by default.
FAST = {
    "webhook_backoff_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_allow_private": True,
}


def secret_of(client) -> bytes:
    secret: bytes = client.app.state.services.webhook_secret
    return secret


def test_one_verified_delivery_after_two_failed_attempts(make_client) -> None:
    client = make_client(**FAST)
    with WebhookReceiver(statuses=[500, 503, 200]) as receiver:
        job_id = submit(client, samples.report_pdf(), webhook_url=receiver.url).json()["id"]
        assert wait_job(client, job_id)["status"] == "succeeded"
        wait_until(lambda: any(e["type"] == "webhook_delivered" for e in events_of(client, job_id)))

    assert len(receiver.calls) == 3
    deliveries = {headers["X-Pdfq-Delivery"] for headers, _ in receiver.calls}
    assert len(deliveries) == 1  # the same delivery id on every attempt: receivers dedupe on it
    assert [h["X-Pdfq-Attempt"] for h, _ in receiver.calls] == ["1", "2", "3"]
    for headers, body in receiver.calls:
        assert verify(secret_of(client), headers["X-Pdfq-Signature"], body)
        assert headers["X-Pdfq-Event"] == "job.succeeded"
        assert headers["Content-Type"] == "application/json"
    job = json.loads(receiver.calls[-1][1])
    assert job["id"] == job_id
    assert job["status"] == "succeeded"
    assert job["progress"]["pages_done"] == 1

    kinds = [e["type"] for e in events_of(client, job_id)]
    assert kinds.count("webhook_failed") == 2
    assert kinds.count("webhook_delivered") == 1
    delivered = next(e for e in events_of(client, job_id) if e["type"] == "webhook_delivered")
    assert delivered["data"]["attempt"] == 3
    assert delivered["data"]["status_code"] == 200
    failed = [e for e in events_of(client, job_id) if e["type"] == "webhook_failed"]
    assert "HTTP 500" in failed[0]["data"]["error"]


def test_a_receiver_that_never_answers_well_is_given_up(make_client) -> None:
    client = make_client(webhook_max_attempts=2, **FAST)
    with WebhookReceiver(statuses=[500]) as receiver:
        job_id = submit(client, samples.report_pdf(), webhook_url=receiver.url).json()["id"]
        wait_until(lambda: any(e["type"] == "webhook_gave_up" for e in events_of(client, job_id)))
        assert len(receiver.calls) == 2


def test_failed_and_canceled_jobs_are_announced_too_and_the_default_url_stays_hidden(
    make_client,
) -> None:
    with WebhookReceiver() as receiver:
        client = make_client(webhook_url=receiver.url, workers=1, **FAST)
        bad = submit(client, samples.truncated(samples.report_pdf(), 0.1)).json()
        assert bad["options"]["webhook_url"] is None  # the server's default is not shown
        assert wait_job(client, bad["id"])["status"] == "failed"
        wait_until(lambda: len(receiver.calls) == 1)
        assert receiver.calls[0][0]["X-Pdfq-Event"] == "job.failed"
        assert json.loads(receiver.calls[0][1])["error"]["code"] == "malformed_pdf"

        # a long job keeps the only worker busy, so the next one is canceled while queued
        busy = submit(client, samples.grid_pdf(pages=40)).json()["id"]
        queued = submit(client, samples.report_pdf(pages=2)).json()["id"]
        assert client.post(f"/v1/jobs/{queued}/cancel").json()["status"] == "canceled"
        wait_until(lambda: len(receiver.calls) == 2)
        assert receiver.calls[1][0]["X-Pdfq-Event"] == "job.canceled"
        assert json.loads(receiver.calls[1][1])["id"] == queued
        client.post(f"/v1/jobs/{busy}/cancel")
        wait_until(lambda: len(receiver.calls) == 3)
        assert {json.loads(body)["id"] for _, body in receiver.calls} == {bad["id"], busy, queued}


def test_an_invalid_or_private_webhook_url_is_refused(make_client) -> None:
    client = make_client()
    for url in (
        "ftp://example.com/x",
        "not a url",
        "http://",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ):
        response = submit(client, samples.report_pdf(), webhook_url=url)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "invalid_options"
    assert (
        submit(client, samples.report_pdf(), webhook_url="https://hooks.example.com/x").status_code
        == 202
    )


def test_a_name_that_resolves_to_a_private_address_is_refused_when_called(
    make_client, monkeypatch
) -> None:
    import anyio

    real = anyio.getaddrinfo

    async def resolve(host, port, **kwargs):
        if host == "hooks.example.com":  # a public-looking name pointing inside
            return await real("127.0.0.1", port, **kwargs)
        return await real(host, port, **kwargs)

    monkeypatch.setattr(anyio, "getaddrinfo", resolve)
    client = make_client(webhook_backoff_seconds=0.05, webhook_max_attempts=1)
    with WebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        hook = f"http://hooks.example.com:{port}/hook"
        job_id = submit(client, samples.report_pdf(), webhook_url=hook).json()["id"]
        wait_until(lambda: any(e["type"] == "webhook_gave_up" for e in events_of(client, job_id)))
        assert receiver.calls == []
    gave_up = next(e for e in events_of(client, job_id) if e["type"] == "webhook_gave_up")
    assert "public addresses" in gave_up["data"]["error"]


@pytest.mark.slow
def test_a_pending_delivery_survives_a_server_restart(tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"  # nothing listens there yet
    env = {
        "PDFQ_WEBHOOK_BACKOFF_SECONDS": "0.2",
        "PDFQ_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
        "PDFQ_WEBHOOK_MAX_ATTEMPTS": "1000",
        "PDFQ_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    server = LiveServer(tmp_path / "data", **env).start()
    try:
        with server.client() as client:
            job_id = submit(client, samples.report_pdf(), webhook_url=hook).json()["id"]
            wait_until(
                lambda: any(e["type"] == "webhook_failed" for e in events_of(client, job_id)),
                timeout=30,
            )
        server.stop()  # SIGTERM: a clean shutdown, with the delivery still pending
        assert "Application shutdown complete" in server.log()
        secret = (tmp_path / "data" / "webhook.key").read_bytes().strip()
        with WebhookReceiver(port=port) as receiver:
            server.start()
            wait_until(lambda: receiver.calls, timeout=30)
            with server.client() as client:
                wait_until(
                    lambda: any(
                        e["type"] == "webhook_delivered" for e in events_of(client, job_id)
                    ),
                    timeout=10,
                )
            assert len(receiver.calls) == 1
            headers, body = receiver.calls[0]
            assert verify(secret, headers["X-Pdfq-Signature"], body)
            assert json.loads(body)["id"] == job_id
    finally:
        server.stop()
