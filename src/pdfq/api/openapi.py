"""The OpenAPI schema as pdfq answers: every error documented with the one error body.

FastAPI documents a ``422`` for requests that fail validation; pdfq answers those with ``400``
(``api/errors.py``), so the schema is adjusted once, here: ``400``, ``401``, ``403`` and
``429`` on every ``/v1`` operation, ``404`` on those that name a job or batch, each with
:class:`ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from pdfq.domain import ErrorCode, RejectedFile


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str
    limit: str | None = Field(None, description="With 429: the limit that was reached.")
    retry_after: int | None = Field(None, description="With 429: seconds to wait.")
    job: dict[str, Any] | None = Field(
        None, description="With 409 from a result route: the failed or canceled job."
    )
    rejected: list[RejectedFile] | None = Field(
        None, description="With 400 from a batch that accepted no file: why, file by file."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    "400": "invalid request or options",
    "401": "an API key is required (when keys are configured)",
    "403": "the API key lacks the scope",
    "404": "no such job or batch (or one of another tenant)",
    "429": "a limit was reached; see Retry-After",
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")["$defs"]
            )
            schema["components"]["schemas"]["ErrorBody"] = ErrorBody.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schema["components"]["schemas"]["ErrorBody"].pop("$defs", None)
            for component in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(component, None)
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    _document_errors(path, operation)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_errors(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    if not path.startswith("/v1"):
        return
    wanted = ["400", "401", "403", "429"]
    if "{" in path:
        wanted.append("404")
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for status in wanted:
        entry = responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
        entry.setdefault("description", ERROR_DESCRIPTIONS[status])
        entry["content"] = {**body, **entry.get("content", {})}
    for status, entry in responses.items():
        if status[0] in "45" and status not in wanted:
            entry.setdefault("content", body)
