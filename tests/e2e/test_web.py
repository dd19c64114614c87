"""The web page at ``/`` in a real headless Chromium against a real ``pdfq serve``: uploads
through the file input, live progress from the event stream, results, untrusted text kept as
text, a dropped stream resumed with ``Last-Event-ID``, cancel, retry and the list on load.

Screenshots land in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from pdfq.api import sse
from tests import samples
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import LiveServer, events_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
API_KEY = "pdfq-test-key"
JOB_TIMEOUT = 30_000  # ms: a job of a few pages takes well under a second

# What the page's log may hold: the browser's own line for a refusal the test asks for.
REFUSED_UPLOAD = re.compile(r"^Failed to load resource: the server responded with a status of 400")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("web") / "data")
    try:
        live.start()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Web:
    """A page of its own, and everything it logged and requested."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console error: {message.text} ({message.location})")

    def open(self) -> Page:
        self.page.goto(f"{self.url}/")
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")
        return self.page

    def api_requests(self, path: str = "/v1/") -> list[Request]:
        return [r for r in self.requests if path in r.url]

    def stream_requests(self, job_id: str) -> list[Request]:
        return [r for r in self.requests if r.url.endswith(f"/v1/jobs/{job_id}/events")]

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / name, full_page=True)


@pytest.fixture
def web(browser: Browser, server: LiveServer) -> Iterator[Web]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    web = Web(page=page, url=server.url)
    page.on("console", web.on_console)
    page.on("pageerror", lambda error: web.errors.append(f"page error: {error}"))
    page.on("request", lambda request: web.requests.append(request))
    try:
        yield web
    finally:
        context.close()


def job_row(page: Page, filename: str) -> Locator:
    return page.get_by_test_id("job").filter(
        has=page.get_by_test_id("job-name").get_by_text(filename, exact=True)
    )


def watch_statuses(page: Page) -> None:
    """Record every status each job row shows, in order, in ``window.statusHistory``."""
    page.evaluate(
        """() => {
          window.statusHistory = {};
          const list = document.getElementById('jobs');
          const note = (li, status) => {
            const name = li.querySelector('[data-testid="job-name"]').textContent;
            const seen = (window.statusHistory[name] ||= []);
            if (status && seen[seen.length - 1] !== status) seen.push(status);
          };
          // Records come in batches: each one's old value, then the rows as they are now.
          new MutationObserver((records) => {
            for (const r of records) if (r.type === 'attributes') note(r.target, r.oldValue);
            for (const li of list.children) note(li, li.dataset.status);
          }).observe(list, {
            subtree: true, childList: true, attributes: true, attributeOldValue: true,
            attributeFilter: ['data-status'],
          });
        }"""
    )


def statuses(page: Page, filename: str) -> list[str]:
    history: list[str] = page.evaluate("(name) => window.statusHistory[name] || []", filename)
    return history


def drop_files(page: Page, files: dict[str, bytes]) -> None:
    """Drag files over the drop zone and drop them, as a file manager would."""
    transfer = page.evaluate_handle(
        """(files) => {
          const transfer = new DataTransfer();
          for (const [name, b64] of Object.entries(files)) {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type: 'application/pdf' }));
          }
          return transfer;
        }""",
        {name: base64.b64encode(data).decode() for name, data in files.items()},
    )
    zone = page.get_by_test_id("drop-zone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(zone).to_have_class(re.compile(r"\bdragging\b"))
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(zone).not_to_have_class(re.compile(r"\bdragging\b"))


def table_cells(table: Locator) -> list[list[str]]:
    cells: list[list[str]] = table.locator("tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"
    )
    return cells


def hostile_pdf(lines: list[str], table: list[list[str]]) -> bytes:
    """A born-digital PDF whose text is HTML and script: a title line, paragraphs, a table."""
    from reportlab.lib.styles import getSampleStyleSheet

    styles = getSampleStyleSheet()
    story: list[Any] = [Paragraph(escape(lines[0]), styles["Title"])]
    story += [Paragraph(escape(line), styles["BodyText"]) for line in lines[1:]]
    story.append(Table(table, style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)])))
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4).build(story)
    return out.getvalue()


# --- the page, end to end ------------------------------------------------------------------


def test_upload_follow_live_and_open_the_result(web: Web, tmp_path: Path) -> None:
    web.allowed.append(REFUSED_UPLOAD)  # empty.pdf below is refused with 400, on purpose
    page = web.open()
    key = page.get_by_label("API key")
    key.fill(API_KEY)
    with page.expect_request(
        lambda r: "/v1/jobs?" in r.url and r.headers.get("authorization") == f"Bearer {API_KEY}"
    ):
        key.press("Enter")  # a new key lists the jobs again, with it
    since_reload = len(web.requests)
    page.reload()  # the key is kept in the browser
    expect(page.locator("body")).to_have_attribute("data-ready", "true")  # the list is in
    expect(key).to_have_value(API_KEY)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page
    watch_statuses(page)

    good = samples.write(tmp_path, "quarterly-report.pdf", samples.report_pdf(pages=3))
    broken = samples.write(tmp_path, "broken.pdf", samples.truncated(samples.report_pdf(), 0.1))
    page.get_by_test_id("file-input").set_input_files([good, broken])

    good_row, broken_row = job_row(page, good.name), job_row(page, broken.name)
    expect(good_row).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(good_row.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(good_row.get_by_test_id("job-progress-text")).to_have_text("3 / 3 pages")
    bar = good_row.get_by_test_id("job-progress")
    assert bar.evaluate("bar => [bar.value, bar.max]") == [3, 3]
    expect(broken_row).to_have_attribute("data-status", "failed", timeout=JOB_TIMEOUT)
    expect(broken_row.get_by_test_id("job-error-code")).to_have_text("malformed_pdf")
    expect(broken_row.get_by_test_id("job-error-message")).to_contain_text("cannot be read")
    expect(broken_row.get_by_role("button", name="Retry")).to_be_visible()

    # Driven by the event stream: the same document all along, one stream per job asked with
    # Accept: text/event-stream, no polling, and the steps in between were shown as they came.
    assert page.evaluate("window.sameDocument") is True
    good_id = good_row.get_attribute("data-job-id")
    broken_id = broken_row.get_attribute("data-job-id")
    assert good_id
    assert broken_id
    for job_id in (good_id, broken_id):
        (stream,) = web.stream_requests(job_id)
        assert stream.headers["accept"] == "text/event-stream"
    assert not [r for r in web.requests if re.search(r"/v1/jobs/[^/?]+$", r.url)]
    assert len(web.api_requests("/v1/jobs?")) == 3  # on each load, and for the new key
    assert statuses(page, good.name)[0] == "uploading"
    assert statuses(page, good.name)[-2:] == ["running", "succeeded"]
    assert statuses(page, broken.name)[-2:] == ["running", "failed"]

    # A refusal on upload shows its code and message, and can be dismissed.
    empty = samples.write(tmp_path, "empty.pdf", b"")
    page.get_by_test_id("file-input").set_input_files(empty)
    refused = job_row(page, empty.name)
    expect(refused).to_have_attribute("data-status", "refused")
    expect(refused.get_by_test_id("job-error-code")).to_have_text("empty_file")
    expect(refused.get_by_test_id("job-error-message")).not_to_be_empty()
    web.screenshot("web-jobs.png")
    refused.get_by_role("button", name="Dismiss").click()
    expect(refused).to_have_count(0)

    # The result: Markdown rendered, per-page text, tables.
    good_row.get_by_role("button", name="Open result").click()
    result = page.get_by_test_id("result")
    expect(result).to_have_attribute("data-state", "ready")
    expect(page.get_by_test_id("result-title")).to_have_text(good.name)
    expect(page.get_by_test_id("result-meta")).to_contain_text("3 pages")
    markdown = page.get_by_test_id("result-markdown")
    expect(markdown.locator("h1").first).to_have_text("Quarterly Report")
    expect(markdown.locator("h2").first).to_have_text("Results")
    expect(markdown.locator("ul").first.locator("li")).to_have_text(["first point", "second point"])
    expect(markdown.locator("table")).to_have_count(3)
    assert table_cells(markdown.locator("table").first) == samples.TABLE_ROWS
    assert (
        markdown.locator("table").first.locator("th").all_text_contents() == samples.TABLE_ROWS[0]
    )
    web.screenshot("web-result-markdown.png")

    page.get_by_role("tab", name="Pages").click()
    pages = page.get_by_test_id("result-pages").get_by_test_id("page")
    expect(pages).to_have_count(3)
    for number in (1, 2, 3):
        one = pages.nth(number - 1)
        expect(one.locator("h3")).to_contain_text(f"Page {number}")
        expect(one.get_by_test_id("page-method")).to_have_text("text layer")
        expect(one.get_by_test_id("page-text")).to_contain_text(
            f"Paragraph {number} of the sample report"
        )
    expect(pages.first.get_by_test_id("page-text")).to_contain_text("North 10 12 15")
    expect(page.get_by_test_id("result-markdown")).to_be_hidden()
    web.screenshot("web-result-pages.png")

    page.get_by_role("tab", name="Tables").click()
    tables = page.get_by_test_id("result-tables").get_by_test_id("result-table")
    expect(tables).to_have_count(3)
    expect(tables.first.locator("figcaption")).to_have_text("Page 1, table 1")
    assert table_cells(tables.first.locator("table")) == samples.TABLE_ROWS

    # Downloads go through fetch (they carry the key) and arrive as files.
    for button, name, start in [
        ("download-markdown", "quarterly-report.md", "# Quarterly Report"),
        ("download-csv", "quarterly-report-tables.csv", "page,table,row,c1,c2,c3,c4"),
        ("download-text", "quarterly-report.txt", "Quarterly Report"),
        ("download-json", "quarterly-report.json", "{"),
    ]:
        with page.expect_download() as info:
            page.get_by_test_id(button).click()
        download = info.value
        assert download.suggested_filename == name
        content = Path(download.path()).read_text()
        assert content.startswith(start)
    assert json.loads(content)["pages"][0]["tables"][0]["rows"] == samples.TABLE_ROWS

    # Retry the failed job: it runs again (and fails again), followed live from where the
    # first stream ended, each step shown once.
    expect(broken_row).to_have_attribute("data-live", "false")
    before = len(statuses(page, broken.name))
    with page.expect_response(f"**/v1/jobs/{broken_id}/retry") as answer:
        broken_row.get_by_role("button", name="Retry").click()
    assert answer.value.status == 202
    page.wait_for_function(
        "([name, before]) => window.statusHistory[name].length > before", arg=[broken.name, before]
    )
    expect(broken_row).to_have_attribute("data-live", "false", timeout=JOB_TIMEOUT)
    assert statuses(page, broken.name)[before:] == ["queued", "running", "failed"]
    expect(broken_row.get_by_test_id("job-error-code")).to_have_text("malformed_pdf")
    first, second = web.stream_requests(broken_id)
    assert first.headers.get("last-event-id") is None
    assert second.headers["last-event-id"].isdigit()

    # Every API request since the key was set carried it.
    calls = [r for r in web.requests[since_reload:] if "/v1/" in r.url]
    assert len(calls) > 10
    assert all(r.headers.get("authorization") == f"Bearer {API_KEY}" for r in calls), [
        (r.method, r.url, r.headers.get("authorization")) for r in calls
    ]
    assert page.evaluate("window.sameDocument") is True
    assert web.errors == []


def test_untrusted_text_is_shown_as_text_and_never_runs(web: Web, tmp_path: Path) -> None:
    lines = [
        "<script>window.pwned = 'script'</script> Hostile Title",
        "<img src=x onerror=\"window.pwned = 'img'\"> said the PDF",
        "**bold** and <b>not bold</b> and <a href='javascript:alert(1)'>a link</a>",
    ]
    cells = [["<b>Name</b>", "Value"], ["<img src=x onerror=window.pwned=1>", "&amp; | pipe"]]
    pdf = hostile_pdf(lines, cells)
    name = "<img src=x onerror=window.pwned=2>.pdf"
    page = web.open()
    page.get_by_test_id("file-input").set_input_files(samples.write(tmp_path, name, pdf))

    row = job_row(page, name)
    expect(row).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    row.get_by_role("button", name="Open result").click()
    expect(page.get_by_test_id("result")).to_have_attribute("data-state", "ready")
    expect(page.get_by_test_id("result-title")).to_have_text(name)

    markdown = page.get_by_test_id("result-markdown")
    expect(markdown.locator("h1")).to_contain_text("<script>window.pwned = 'script'</script>")
    expect(markdown).to_contain_text("""<img src=x onerror="window.pwned = 'img'"> said the PDF""")
    expect(markdown).to_contain_text("<b>not bold</b>")
    expect(markdown.locator("strong")).to_have_text("bold")  # Markdown still works
    assert table_cells(markdown.locator("table")) == cells
    web.screenshot("web-untrusted.png")
    page.get_by_role("tab", name="Pages").click()
    expect(page.get_by_test_id("page-text")).to_contain_text("<script>window.pwned")
    page.get_by_role("tab", name="Tables").click()
    assert table_cells(page.get_by_test_id("result-tables").locator("table")) == cells

    # Nothing of it became markup, and nothing ran.
    assert page.locator("main img, main script, main a, main b, main iframe").count() == 0
    assert page.evaluate("window.pwned") is None
    assert web.errors == []


def test_the_markdown_renderer_and_the_stream_parser(web: Web) -> None:
    """The page's pure functions, imported from its own module in the page."""
    page = web.open()
    cases = {
        "# Title": "<h1>Title</h1>",
        "###### Six": "<h6>Six</h6>",
        "####### seven": "<p>####### seven</p>",
        "<script>alert(1)</script>": "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        "**bold** and *italic*": "<p><strong>bold</strong> and <em>italic</em></p>",
        "*a **b** c*": "<p><em>a <strong>b</strong> c</em></p>",
        "**<img src=x onerror=alert(1)>**": (
            "<p><strong>&lt;img src=x onerror=alert(1)&gt;</strong></p>"
        ),
        "2 * 3 * 4 and ** alone": "<p>2 * 3 * 4 and ** alone</p>",
        "- one\n- two\n* three": "<ul><li>one</li><li>two</li><li>three</li></ul>",
        "1. a\n2. b": "<ol><li>a</li><li>b</li></ol>",
        "3. c\n4. d": '<ol start="3"><li>c</li><li>d</li></ol>',
        "| a | b \\| c |\n|---|---|\n| 1 | **2** |\n| 3 |": (
            '<div class="table-scroll"><table><thead><tr><th>a</th><th>b | c</th></tr></thead>'
            "<tbody><tr><td>1</td><td><strong>2</strong></td></tr>"
            "<tr><td>3</td><td></td></tr></tbody></table></div>"
        ),
        "\\# not a heading\n\n\\- not a list \\*not italic\\*": (
            "<p># not a heading</p>\n<p>- not a list *not italic*</p>"
        ),
        "a \\<b\\> & \"q\" 'x'": "<p>a &lt;b&gt; &amp; &quot;q&quot; &#39;x&#39;</p>",
        "line one\nline two\n\n# Next": "<p>line one\nline two</p>\n<h1>Next</h1>",
        "para\n- item": "<p>para</p>\n<ul><li>item</li></ul>",
        "": "",
    }
    rendered = page.evaluate(
        """async (sources) => {
          const { renderMarkdown } = await import('/static/app.js');
          return sources.map((source) => renderMarkdown(source));
        }""",
        list(cases),
    )
    assert dict(zip(cases, rendered, strict=True)) == cases

    # Whatever the input, only the renderer's own tags and attributes come out, and a line
    # of thousands of markers stays fast.
    report = page.evaluate(
        """async () => {
          const { renderMarkdown } = await import('/static/app.js');
          const allowed = new Set(['H1','H2','H3','H4','H5','H6','P','UL','OL','LI','STRONG',
                                   'EM','DIV','TABLE','THEAD','TBODY','TR','TH','TD']);
          const pieces = ['<', '>', '&', '"', "'", '*', '**', '#', '# ', '|', '---', '- ', '1. ',
                          '\\\\', '\\n', '\\n\\n', ' ', 'img', 'script', 'onerror=', 'a', '`'];
          let seed = 7;
          const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
          const bad = [];
          for (let run = 0; run < 3000; run += 1) {
            let source = '';
            for (let k = random(40); k > 0; k -= 1) source += pieces[random(pieces.length)];
            const doc = new DOMParser().parseFromString(renderMarkdown(source), 'text/html');
            for (const el of doc.body.querySelectorAll('*')) {
              const attributes = [...el.attributes].map((a) => a.name);
              if (!allowed.has(el.tagName) || attributes.some((a) => a !== 'start' && a !== 'class')) {
                bad.push(source);
                break;
              }
            }
          }
          const started = performance.now();
          renderMarkdown('*'.repeat(20000) + '\\n' + '**a '.repeat(5000));
          return { bad, ms: performance.now() - started };
        }"""
    )
    assert report["bad"] == []
    assert report["ms"] < 2000

    messages = page.evaluate(
        """async () => {
          const { SseParser } = await import('/static/app.js');
          const stream = 'retry: 150\\n\\n: keep-alive\\n\\nevent: progress\\r\\nid: 5\\r\\n' +
            'data: {"a":1}\\r\\n\\r\\nevent: page\\ndata: one\\ndata: two\\n\\n' +
            'data:tight\\rid: 7\\r\\revent: job\\ndata: {"end":true}\\n\\nevent: lost\\ndata: x';
          const results = [];
          for (let size = 1; size <= stream.length; size += 1) {  // every way to cut it
            const parser = new SseParser();
            const out = [];
            for (let i = 0; i < stream.length; i += size) out.push(...parser.push(stream.slice(i, i + size)));
            out.push(...parser.end());
            results.push(JSON.stringify({ out, retry: parser.retry, last: parser.lastEventId }));
          }
          return [...new Set(results)].map((r) => JSON.parse(r));
        }"""
    )
    assert messages == [
        {
            "out": [
                {"event": "progress", "data": '{"a":1}', "id": "5", "ownId": "5"},
                {"event": "page", "data": "one\ntwo", "id": "5", "ownId": None},
                {"event": "message", "data": "tight", "id": "7", "ownId": "7"},
                {"event": "job", "data": '{"end":true}', "id": "7", "ownId": None},
            ],
            "retry": 150,
            "last": "7",
        }
    ]
    assert web.errors == []


def test_a_dropped_stream_resumes_from_the_last_event_id(
    web: Web, server: LiveServer, tmp_path: Path
) -> None:
    """The first stream of each job ends after two events, without the final `job` message
    (as when a proxy or a restart drops it): the page reconnects with Last-Event-ID and
    misses nothing."""
    cut_at: dict[str, str] = {}

    def cut_first_stream(route: Route, request: Request) -> None:
        job_id = request.url.rsplit("/", 2)[-2]
        if job_id in cut_at:
            route.continue_()
            return
        # The job's first two events (written with the job), as the server would stream them.
        with server.client() as client:
            first = events_of(client, job_id)[:2]
        cut_at[job_id] = str(first[-1]["id"])
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
            body="retry: 100\n\n" + "".join(sse.message(e["type"], e, e["id"]) for e in first),
        )

    page = web.page
    page.route("**/v1/jobs/*/events", cut_first_stream)
    web.open()
    drop_files(page, {"resumed.pdf": samples.report_pdf(pages=2)})  # dropped, this time

    row = job_row(page, "resumed.pdf")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    expect(row.get_by_test_id("job-progress-text")).to_have_text("2 / 2 pages")
    job_id = row.get_attribute("data-job-id")
    assert job_id
    first, second = web.stream_requests(job_id)
    assert first.headers.get("last-event-id") is None
    assert second.headers["last-event-id"] == cut_at[job_id]
    assert second.headers["accept"] == "text/event-stream"
    assert web.errors == []


def test_the_list_on_load_follows_running_jobs_which_can_be_canceled(
    web: Web, server: LiveServer
) -> None:
    """A job submitted elsewhere shows up on load, its progress moves live, and Cancel stops it;
    after a reload the list shows it canceled."""
    with server.client() as client:
        answer = client.post(
            "/v1/jobs",
            files={"file": ("long-grid.pdf", samples.grid_pdf(pages=200), "application/pdf")},
        )
    assert answer.status_code == 202
    job_id = answer.json()["id"]

    page = web.open()
    row = page.locator(f'[data-testid="job"][data-job-id="{job_id}"]')
    expect(row.get_by_test_id("job-name")).to_have_text("long-grid.pdf")
    # The bar moves while the job runs: past where the list left it, short of the end, with
    # no request but the list on load and the job's event stream.
    expect(row).to_have_attribute("data-status", "running", timeout=JOB_TIMEOUT)
    bar = row.get_by_test_id("job-progress")
    on_load = bar.evaluate("bar => bar.position < 0 ? 0 : bar.value")
    page.wait_for_function(
        """([id, before]) => {
          const bar = document.querySelector(`[data-job-id="${id}"] progress`);
          return bar.max === 200 && bar.value > before && bar.value < 200;
        }""",
        arg=[job_id, on_load],
        timeout=JOB_TIMEOUT,
    )
    expect(row).to_have_attribute("data-status", "running")
    expect(row.get_by_test_id("job-progress-text")).to_have_text(re.compile(r"^\d+ / 200 pages$"))
    assert [r.url for r in web.api_requests()] == [
        f"{server.url}/v1/jobs?limit=20",
        f"{server.url}/v1/jobs/{job_id}/events",
    ]

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    web.screenshot("web-narrow-running.png")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    row.get_by_role("button", name="Cancel").click()
    expect(row).to_have_attribute("data-status", "canceled")
    expect(row.get_by_test_id("job-error-code")).to_have_text("canceled")
    expect(row.get_by_role("button", name="Retry")).to_be_visible()
    expect(row.get_by_role("button", name="Cancel")).to_be_hidden()

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(row).to_have_attribute("data-status", "canceled")
    expect(row.get_by_test_id("job-name")).to_have_text("long-grid.pdf")
    assert web.errors == []
