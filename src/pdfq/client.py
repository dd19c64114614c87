"""The Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), over httpx.

::

    import pdfq

    with pdfq.Client("http://127.0.0.1:8000") as client:
        job = client.submit("report.pdf")
        print(client.result(job.id, format="markdown"))

Answers are the server's own models (:class:`~pdfq.domain.Job`, :class:`~pdfq.domain.Batch`,
:class:`~pdfq.domain.DocumentResult`, …) and errors are the server's own error types
(:mod:`pdfq.errors`), rebuilt from the stable code in each error answer. :meth:`Client.wait`
follows the job's live event stream and falls back to long polling when the stream is not
available (a proxy that buffers, an older server). Pass ``transport=`` to test against an app
in-process (``httpx.ASGITransport``) or a mock.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, overload

import httpx

from pdfq.domain import Batch, DocumentResult, Event, Job, JobPage, JobStatus, PageResult
from pdfq.errors import PdfqError, TooManyRequests, Unavailable, error_for_code

DEFAULT_URL = "http://127.0.0.1:8000"
ResultFormat = Literal["json", "markdown", "markdown-boxes", "text"]
FileInput = str | Path | bytes | IO[bytes]
LONG_POLL_SECONDS = 30.0
RECONNECT_SECONDS = 1.0
RECONNECT_TRIES = 30  # consecutive failed connections before a stream gives up


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One message of a job's live stream: ``event`` is ``page``, ``progress``, an event
    type (``started``, ``retried``, …) or ``job`` (the final job, the stream's last message)."""

    event: str
    data: dict[str, Any]
    id: int | None = None


@dataclass
class SseParser:
    """Turns the lines of a ``text/event-stream`` body into :class:`StreamEvent` s."""

    last_id: int | None = None
    _event: str = "message"
    _id: int | None = None
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> StreamEvent | None:
        if line == "":
            if not self._data:
                self._event, self._id = "message", None
                return None
            message = StreamEvent(self._event, json.loads("\n".join(self._data)), self._id)
            if self._id is not None:
                self.last_id = self._id
            self._event, self._id, self._data = "message", None, []
            return message
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "id" and value.isdigit():
            self._id = int(value)
        elif name == "data":
            self._data.append(value)
        return None  # comments (keep-alives) and retry hints


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the pdfq error an error answer carries (any non-2xx answer)."""
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        raise PdfqError(
            f"HTTP {response.status_code} from {response.request.url}: {response.text[:200]}",
            status_code=response.status_code,
        ) from None
    try:
        exc = error_for_code(code, message)
    except ValueError:  # a code this client does not know yet
        exc = PdfqError(message)
    if isinstance(exc, TooManyRequests):
        exc.retry_after = int(response.headers.get("Retry-After", "5") or 5)
        exc.limit = error.get("limit")
    exc.details["status_code"] = response.status_code
    raise exc


def _file_part(file: FileInput, filename: str | None) -> tuple[str, Any, str]:
    if isinstance(file, str | Path):
        path = Path(file)
        return filename or path.name, path.open("rb"), "application/pdf"
    if isinstance(file, bytes):
        return filename or "document.pdf", file, "application/pdf"
    name = filename or Path(str(getattr(file, "name", "document.pdf"))).name
    return name, file, "application/pdf"


def _close_parts(parts: Iterable[tuple[str, tuple[str, Any, str]]], given: Iterable[Any]) -> None:
    keep = {id(f) for f in given}
    for _, (_, handle, _) in parts:
        if hasattr(handle, "close") and id(handle) not in keep:
            handle.close()


def _form(options: dict[str, Any]) -> dict[str, str]:
    form = {}
    for name, value in options.items():
        if value is None:
            continue
        form[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return form


def _result_value(response: httpx.Response, result_format: str) -> DocumentResult | str:
    if result_format == "json":
        return DocumentResult.model_validate_json(response.content)
    return response.text


def _headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": "pdfq-python"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return {**headers, **(extra or {})}


SSE_HEADERS = {"Accept": "text/event-stream"}


class Client:
    """A blocking client of a pdfq server."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers=_headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, url, **kwargs)
        raise_for_answer(response)
        return response

    # --- submitting ----------------------------------------------------------------------

    def submit(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """Upload one PDF (a path, bytes or a binary file) with options (``ocr``,
        ``languages``, ``pages``, ``password``, ``webhook_url``, ``priority``, ``dedupe``)."""
        part = _file_part(file, filename)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        try:
            response = self._call(
                "POST", "/v1/jobs", files={"file": part}, data=_form(options), headers=headers
            )
        finally:
            _close_parts([("file", part)], [file])
        return Job.model_validate_json(response.content)

    def batch(self, files: Iterable[FileInput], **options: Any) -> Batch:
        """Upload many PDFs in one request: one job per file; refused files are listed in
        ``Batch.rejected`` instead of raising."""
        given = list(files)
        parts = [("file", _file_part(f, None)) for f in given]
        try:
            response = self._call("POST", "/v1/batches", files=parts, data=_form(options))
        finally:
            _close_parts(parts, given)
        return Batch.model_validate_json(response.content)

    # --- reading ----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        return Job.model_validate_json(self._call("GET", f"/v1/jobs/{job_id}").content)

    def get_batch(self, batch_id: str) -> Batch:
        return Batch.model_validate_json(self._call("GET", f"/v1/batches/{batch_id}").content)

    def jobs(
        self, *, status: str | None = None, batch: str | None = None, page_size: int = 100
    ) -> Iterator[Job]:
        """Every job, newest first (pages are fetched as the iteration goes)."""
        cursor: str | None = None
        while True:
            params = _form({"status": status, "batch": batch, "limit": page_size, "cursor": cursor})
            page = JobPage.model_validate_json(self._call("GET", "/v1/jobs", params=params).content)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def history(self, job_id: str, *, after: int = 0) -> list[Event]:
        response = self._call("GET", f"/v1/jobs/{job_id}/events", params={"after": after})
        return [Event.model_validate(e) for e in response.json()]

    def events(self, job_id: str, *, after: int = 0) -> Iterator[StreamEvent]:
        """The job's live stream, from event ``after``, until its final ``job`` message;
        reconnects (resuming where it stopped) when the connection drops."""
        parser = SseParser(last_id=after or None)
        failures = 0
        while True:
            try:
                with self._http.stream(
                    "GET", f"/v1/jobs/{job_id}/events", headers=_resume(parser), timeout=None
                ) as response:
                    if not response.is_success:
                        response.read()
                    _check_stream(response)
                    for line in response.iter_lines():
                        failures = 0
                        if (message := parser.feed(line)) is not None:
                            yield message
                            if message.event == "job":
                                return
            except httpx.TransportError as exc:
                failures = _reconnecting(failures, exc)
                time.sleep(RECONNECT_SECONDS)

    def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Block until the job ends and return it: following the live stream, or with long
        polls when the stream is not available or a ``timeout`` (seconds) is given, after
        which :class:`TimeoutError` is raised."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if deadline is None:
            try:
                for message in self.events(job_id):
                    if message.event == "job":
                        return Job.model_validate(message.data)
            except (PdfqError, httpx.HTTPError, ValueError):
                pass  # no usable stream: poll
        while True:
            wait = LONG_POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"job {job_id} did not end within {timeout} s")
            response = self._call(
                "GET", f"/v1/jobs/{job_id}", params={"wait": round(wait, 3)}, timeout=wait + 30
            )
            job = Job.model_validate_json(response.content)
            if job.status.is_terminal:
                return job

    @overload
    def result(self, job_id: str, format: Literal["json"] = "json") -> DocumentResult: ...
    @overload
    def result(self, job_id: str, format: Literal["markdown", "markdown-boxes", "text"]) -> str: ...

    def result(self, job_id: str, format: ResultFormat = "json") -> DocumentResult | str:
        """The result, once the job has ended (waits for it). A failed job raises its error."""
        job = self.wait(job_id)
        _raise_if_unsuccessful(job)
        response = self._call("GET", f"/v1/jobs/{job_id}/result", params={"format": format})
        return _result_value(response, format)

    def page(self, job_id: str, number: int) -> PageResult:
        response = self._call("GET", f"/v1/jobs/{job_id}/pages/{number}")
        if response.status_code == 202:
            raise PdfqError(f"page {number} of job {job_id} is not done yet")
        return PageResult.model_validate_json(response.content)

    def iter_pages(self, job_id: str) -> Iterator[PageResult]:
        """Each page's result as soon as it is done (in the order pages finish)."""
        for message in self.events(job_id):
            if message.event == "page":
                yield self.page(job_id, int(message.data["number"]))
            elif message.event == "job":
                _raise_if_unsuccessful(Job.model_validate(message.data))

    def tables_csv(self, job_id: str) -> str:
        _raise_if_unsuccessful(self.wait(job_id))
        return self._call("GET", f"/v1/jobs/{job_id}/tables.csv").text

    def file(self, job_id: str, name: str) -> bytes:
        """A file of the finished job: ``tables.xlsx``, ``tables.zip``, ``layout.pdf``, or an
        image as named in the result (``images/<name>``)."""
        _raise_if_unsuccessful(self.wait(job_id))
        return self._call("GET", f"/v1/jobs/{job_id}/{name}").content

    # --- acting -----------------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate_json(self._call("POST", f"/v1/jobs/{job_id}/cancel").content)

    def retry(self, job_id: str) -> Job:
        return Job.model_validate_json(self._call("POST", f"/v1/jobs/{job_id}/retry").content)

    def delete(self, job_id: str) -> None:
        self._call("DELETE", f"/v1/jobs/{job_id}")


class AsyncClient:
    """The same as :class:`Client`, for asyncio code."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, url, **kwargs)
        raise_for_answer(response)
        return response

    async def submit(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Job:
        """See :meth:`Client.submit`. A path is read (in a thread) before sending."""
        if isinstance(file, str | Path):
            filename, file = filename or Path(file).name, await _read(file)
        part = _file_part(file, filename)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self._call(
            "POST", "/v1/jobs", files={"file": part}, data=_form(options), headers=headers
        )
        return Job.model_validate_json(response.content)

    async def batch(self, files: Iterable[FileInput], **options: Any) -> Batch:
        parts = []
        for file in files:
            if isinstance(file, str | Path):
                parts.append(("file", _file_part(await _read(file), Path(file).name)))
            else:
                parts.append(("file", _file_part(file, None)))
        response = await self._call("POST", "/v1/batches", files=parts, data=_form(options))
        return Batch.model_validate_json(response.content)

    async def get(self, job_id: str) -> Job:
        return Job.model_validate_json((await self._call("GET", f"/v1/jobs/{job_id}")).content)

    async def get_batch(self, batch_id: str) -> Batch:
        response = await self._call("GET", f"/v1/batches/{batch_id}")
        return Batch.model_validate_json(response.content)

    async def jobs(
        self, *, status: str | None = None, batch: str | None = None, page_size: int = 100
    ) -> AsyncIterator[Job]:
        cursor: str | None = None
        while True:
            params = _form({"status": status, "batch": batch, "limit": page_size, "cursor": cursor})
            response = await self._call("GET", "/v1/jobs", params=params)
            page = JobPage.model_validate_json(response.content)
            for job in page.items:
                yield job
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def history(self, job_id: str, *, after: int = 0) -> list[Event]:
        response = await self._call("GET", f"/v1/jobs/{job_id}/events", params={"after": after})
        return [Event.model_validate(e) for e in response.json()]

    async def events(self, job_id: str, *, after: int = 0) -> AsyncIterator[StreamEvent]:
        """See :meth:`Client.events`."""
        import asyncio

        parser = SseParser(last_id=after or None)
        failures = 0
        while True:
            try:
                async with self._http.stream(
                    "GET", f"/v1/jobs/{job_id}/events", headers=_resume(parser), timeout=None
                ) as response:
                    if not response.is_success:
                        await response.aread()
                    _check_stream(response)
                    async for line in response.aiter_lines():
                        failures = 0
                        if (message := parser.feed(line)) is not None:
                            yield message
                            if message.event == "job":
                                return
            except httpx.TransportError as exc:
                failures = _reconnecting(failures, exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:  # noqa: ASYNC109
        """See :meth:`Client.wait` (the same signature on purpose)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if deadline is None:
            try:
                async for message in self.events(job_id):
                    if message.event == "job":
                        return Job.model_validate(message.data)
            except (PdfqError, httpx.HTTPError, ValueError):
                pass
        while True:
            wait = LONG_POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"job {job_id} did not end within {timeout} s")
            response = await self._call(
                "GET", f"/v1/jobs/{job_id}", params={"wait": round(wait, 3)}, timeout=wait + 30
            )
            job = Job.model_validate_json(response.content)
            if job.status.is_terminal:
                return job

    @overload
    async def result(self, job_id: str, format: Literal["json"] = "json") -> DocumentResult: ...
    @overload
    async def result(
        self, job_id: str, format: Literal["markdown", "markdown-boxes", "text"]
    ) -> str: ...

    async def result(self, job_id: str, format: ResultFormat = "json") -> DocumentResult | str:
        _raise_if_unsuccessful(await self.wait(job_id))
        response = await self._call("GET", f"/v1/jobs/{job_id}/result", params={"format": format})
        return _result_value(response, format)

    async def page(self, job_id: str, number: int) -> PageResult:
        response = await self._call("GET", f"/v1/jobs/{job_id}/pages/{number}")
        if response.status_code == 202:
            raise PdfqError(f"page {number} of job {job_id} is not done yet")
        return PageResult.model_validate_json(response.content)

    async def iter_pages(self, job_id: str) -> AsyncIterator[PageResult]:
        async for message in self.events(job_id):
            if message.event == "page":
                yield await self.page(job_id, int(message.data["number"]))
            elif message.event == "job":
                _raise_if_unsuccessful(Job.model_validate(message.data))

    async def tables_csv(self, job_id: str) -> str:
        _raise_if_unsuccessful(await self.wait(job_id))
        return (await self._call("GET", f"/v1/jobs/{job_id}/tables.csv")).text

    async def file(self, job_id: str, name: str) -> bytes:
        """See :meth:`Client.file`."""
        _raise_if_unsuccessful(await self.wait(job_id))
        return (await self._call("GET", f"/v1/jobs/{job_id}/{name}")).content

    async def cancel(self, job_id: str) -> Job:
        response = await self._call("POST", f"/v1/jobs/{job_id}/cancel")
        return Job.model_validate_json(response.content)

    async def retry(self, job_id: str) -> Job:
        response = await self._call("POST", f"/v1/jobs/{job_id}/retry")
        return Job.model_validate_json(response.content)

    async def delete(self, job_id: str) -> None:
        await self._call("DELETE", f"/v1/jobs/{job_id}")


async def _read(path: str | Path) -> bytes:
    import asyncio

    return await asyncio.to_thread(Path(path).read_bytes)


def _check_stream(response: httpx.Response) -> None:
    raise_for_answer(response)
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        raise PdfqError("the server did not answer with an event stream")


def _reconnecting(failures: int, exc: Exception) -> int:
    """Count a failed connection; give up (``Unavailable``) after too many in a row."""
    if failures + 1 >= RECONNECT_TRIES:
        raise Unavailable(f"the event stream cannot be reached: {exc}") from exc
    return failures + 1


def _resume(parser: SseParser) -> dict[str, str]:
    headers = dict(SSE_HEADERS)
    if parser.last_id is not None:
        headers["Last-Event-ID"] = str(parser.last_id)
    return headers


def _raise_if_unsuccessful(job: Job) -> None:
    """A job that did not succeed raises its error (``canceled`` for a canceled one)."""
    if job.status == JobStatus.SUCCEEDED:
        return
    if job.error is not None:
        exc = error_for_code(job.error.code, job.error.message)
    else:
        exc = error_for_code("canceled", f"job {job.id} was canceled")
    exc.details["job"] = job
    raise exc


__all__ = ["AsyncClient", "Client", "SseParser", "StreamEvent", "raise_for_answer"]
