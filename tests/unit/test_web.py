"""The web page's routes: the page and its files are served from the package, with headers
that keep untrusted content inert, and stay out of the API schema. (The page itself is
driven in a real browser by tests/e2e/test_web.py.)"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pdfq.api import create_app
from pdfq.api.routes import web
from pdfq.config import Settings


@pytest.fixture
def page_client() -> TestClient:
    app = FastAPI()
    app.include_router(web.router)
    return TestClient(app)


def test_the_page_is_served_at_the_root_with_a_strict_policy(page_client: TestClient) -> None:
    response = page_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="static/app.js">' in response.text


def test_everything_the_page_loads_ships_in_the_package(page_client: TestClient) -> None:
    html = (web.STATIC_DIR / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert references
    for reference in references:
        assert not re.match(r"^(?:[a-z]+:)?//", reference), f"external resource: {reference}"
    for reference in (r for r in references if r.startswith("static/")):
        response = page_client.get(f"/{reference}")
        assert response.status_code == 200, reference
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
    script = page_client.get("/static/app.js")
    assert "javascript" in script.headers["content-type"]
    assert "EventSource(" not in script.text  # it cannot send an Authorization header


@pytest.mark.parametrize("path", ["/static/../routes/web.py", "/static/%2e%2e/app.py", "/static/"])
def test_the_static_mount_serves_nothing_else(page_client: TestClient, path: str) -> None:
    assert page_client.get(path).status_code == 404


def test_the_page_is_not_part_of_the_api_schema(settings: Settings) -> None:
    paths = create_app(settings, configure_logs=False).openapi()["paths"]
    assert "/" not in paths
    assert not [p for p in paths if p.startswith("/static")]
    assert "/v1/jobs" in paths
