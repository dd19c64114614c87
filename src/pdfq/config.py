"""Settings: every ``PDFQ_*`` environment variable, in one pydantic-settings object.

Defaults give the embedded shape (SQLite, a local data folder, an in-process worker pool).
The distributed shape is chosen by settings alone (PostgreSQL URL, ``s3://`` blobs, Celery queue).
Settings are passed in (``create_app(settings)``, ``build_worker_context(settings)``), never
imported as a global. ``docs/configuration.md`` is generated from this module
(``python -m pdfq.config``) and a test keeps the two equal.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from pdfq.store.retention import Retention

MiB = 1024 * 1024
OCR_PROVIDERS = ("tesseract", "rapidocr", "openai")
REJECTABLE_FINDINGS = (
    "javascript",
    "launch_actions",
    "uri_actions",
    "submit_form_actions",
    "import_data_actions",
    "remote_goto_actions",
    "embedded_goto_actions",
    "embedded_files",
    "embedded_file_names",
    "xfa",
    "open_action",
    "additional_actions",
    "encrypted",
    "damaged_objects",
)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """All of pdfq's configuration. Each field is read from ``PDFQ_<FIELD NAME>``."""

    # Input values stay out of error messages: they may hold keys and passwords.
    model_config = SettingsConfigDict(
        env_prefix="PDFQ_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # --- shape -----------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("./pdfq-data"),
        description="Folder for the SQLite database, local blobs and the generated secret key.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the job store. Empty: `sqlite:///<data dir>/pdfq.db`. "
        "Distributed: `postgresql+psycopg://user@host/db`.",
    )
    blobs_url: str = Field(
        "",
        description="Where input files and results go. Empty: `file://<data dir>/blobs`. "
        "Distributed: `s3://bucket/prefix`.",
    )
    queue: Literal["local", "celery"] = Field(
        "local",
        description="`local`: in-process dispatcher and worker-process pool. "
        "`celery`: Celery workers (`pdfq worker`) over `PDFQ_BROKER_URL`.",
    )
    broker_url: str = Field(
        "", description="Celery broker URL (`redis://…` or `amqp://…`) when `PDFQ_QUEUE=celery`."
    )

    # --- S3 blobs (distributed) --------------------------------------------------------------
    s3_endpoint_url: str = Field(
        "",
        description="S3-compatible endpoint (MinIO, Ceph, …); empty for AWS. Credentials come "
        "from the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, profiles).",
    )
    s3_region: str = Field("", description="S3 region (e.g. `eu-west-1`); empty for the default.")
    s3_part_bytes: int = Field(
        8 * MiB,
        ge=5 * MiB,
        description="Size of each part of a streamed multipart upload to S3.",
    )

    # --- HTTP ------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `pdfq serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `pdfq serve` listens on.")
    max_file_bytes: int = Field(512 * MiB, ge=1, description="Largest accepted upload (413 above).")
    max_queued_jobs: int = Field(
        100_000,
        ge=1,
        description="Global ceiling on queued jobs; uploads beyond it get 429 with Retry-After.",
    )

    accept_images: bool = Field(
        True, description="Accept PNG, JPEG and TIFF files (read with OCR)."
    )
    accept_office: bool = Field(
        True,
        description="Accept DOCX, PPTX, XLSX, ODT, ODP, ODS and RTF files (converted to PDF "
        "with LibreOffice on the workers).",
    )
    convert_time_limit_seconds: float = Field(
        120.0, gt=0, description="Time limit of converting one office document to PDF."
    )
    convert_max_memory_mb: int = Field(
        4096, ge=256, description="Address-space cap of the LibreOffice process converting it."
    )
    max_batch_files: int = Field(
        100, ge=1, description="Most files accepted by one `POST /v1/batches` request."
    )
    dedupe: bool = Field(
        True,
        description="Allow deduplication: a job whose tenant already had the same file read "
        "with the same options (and that did not send `dedupe=false`) reuses that result at "
        "once. `false` turns it off for every job.",
    )

    # --- webhooks --------------------------------------------------------------------------
    webhook_url: str = Field(
        "",
        description="Default webhook for jobs that give none: called with the final job JSON. "
        "Empty: only jobs with their own `webhook_url` are announced.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 signature of webhook calls (`X-Pdfq-Signature`). "
        "Empty: a random key kept in `<data dir>/webhook.key` (`pdfq webhook-secret` prints "
        "it); set it explicitly when several API hosts share a store.",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, description="Attempts to deliver one webhook call before giving up."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Time limit of one webhook attempt (connect, send, answer)."
    )
    webhook_backoff_seconds: float = Field(
        5.0,
        gt=0,
        description="Wait before the first retry of a failed webhook call; it doubles with "
        "each attempt (with jitter) up to `PDFQ_WEBHOOK_BACKOFF_MAX_SECONDS`.",
    )
    webhook_backoff_max_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a webhook call."
    )
    webhook_concurrency: int = Field(
        16, ge=1, description="Webhook calls one API process makes at once."
    )

    # --- documents -------------------------------------------------------------------------
    max_pages: int = Field(
        5000, ge=1, description="Documents with more pages fail `too_many_pages`."
    )
    max_stream_bytes: int = Field(
        256 * MiB,
        ge=MiB,
        description="Largest decompressed size of one PDF stream; beyond it the file is rejected "
        "as `unsafe_pdf` (deflate bombs) before any parsing.",
    )

    max_image_bytes: int = Field(
        256 * MiB,
        ge=0,
        description="Bytes of embedded images one document may extract (the rest are skipped "
        "with a warning on their page).",
    )

    fanout_pages: int = Field(
        200,
        ge=0,
        description="Documents with more pages than this are split into page-range chunks "
        "that several workers process in parallel (0: never).",
    )
    fanout_chunk_pages: int = Field(
        50, ge=1, description="Pages per chunk when a document is split."
    )

    # --- OCR -------------------------------------------------------------------------------
    ocr_providers: str = Field(
        "tesseract,rapidocr,openai",
        description="OCR providers in the order they are tried, comma-separated: `tesseract`, "
        "`rapidocr`, `openai` (skipped unless `PDFQ_OCR_OPENAI_URL` is set). A page goes to the "
        "next provider when one fails or answers below `PDFQ_OCR_MIN_CONFIDENCE`.",
    )
    ocr_min_confidence: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Below this mean confidence (0 to 1) a provider's answer is handed to the next "
        "provider; the most confident answer wins.",
    )
    ocr_dpi: int = Field(
        300, ge=72, le=600, description="Resolution pages are rendered at for OCR."
    )
    ocr_max_pixels: int = Field(
        40_000_000,
        ge=1_000_000,
        description="Largest rendered page; bigger pages (posters, plans) are rendered at a "
        "lower resolution so one page cannot exhaust memory.",
    )
    ocr_chunk_pages: int = Field(
        1,
        ge=0,
        description="A document with more pages to OCR than this is split into chunks holding "
        "this many OCR pages each, which all workers read in parallel (0: never split for OCR). "
        "Small chunks finish one scanned document sooner; an OCR page costs a second or more, "
        "so a chunk's own cost (tens of milliseconds) hardly shows.",
    )
    ocr_tessdata_dir: str = Field(
        "",
        description="Folder of Tesseract's `*.traineddata` files. Empty: `TESSDATA_PREFIX` or "
        "the Debian location (`/usr/share/tesseract-ocr/5/tessdata`).",
    )
    ocr_openai_url: str = Field(
        "",
        description="Base URL of an OpenAI-compatible vision endpoint (e.g. vLLM serving "
        "olmOCR or DeepSeek-OCR: `http://gpu-host:8000/v1`). Empty: the provider is off.",
    )
    ocr_openai_model: str = Field(
        "", description="Model name sent to that endpoint. Empty: the first model it lists."
    )
    ocr_openai_api_key: SecretStr | None = Field(
        None, description="Bearer token for that endpoint, if it wants one."
    )
    ocr_openai_concurrency: int = Field(
        8, ge=1, description="Pages sent to that endpoint at once by one worker process."
    )
    ocr_openai_timeout_seconds: float = Field(
        120.0, gt=0, description="Time limit of one page request to that endpoint."
    )
    ocr_openai_retries: int = Field(
        3,
        ge=0,
        description="Retries of a page request after a time-out, connection error, 429 or 5xx "
        "(exponential back-off with jitter).",
    )

    # --- workers ---------------------------------------------------------------------------
    workers: int = Field(
        default_factory=_cpu_count, ge=1, description="Worker processes (default: CPU count)."
    )
    max_attempts: int = Field(
        3,
        ge=1,
        description="Attempts per job before a lost worker or hard time-out fails it "
        "(`worker_lost` / `timeout`).",
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="A running job's lease; the worker renews it every third of this. "
        "Jobs whose lease expired are re-queued by the sweeper.",
    )
    sweep_interval_seconds: float = Field(
        10.0, gt=0, description="How often the sweeper looks for expired leases."
    )
    lost_message_seconds: float = Field(
        60.0,
        gt=0,
        description="Celery: work queued in the store for this long while the broker holds "
        "fewer messages than that is re-sent (the broker lost them, e.g. a Redis restart).",
    )
    job_time_limit_seconds: float = Field(
        3600.0,
        gt=0,
        description="Soft time limit of one job: the worker stops it and fails it with `timeout`.",
    )
    job_time_limit_grace_seconds: float = Field(
        30.0,
        gt=0,
        description="Hard limit = soft limit + this: a worker still busy then is killed "
        "and the job retried (then `timeout`).",
    )
    worker_max_memory_mb: int = Field(
        2048,
        ge=64,
        description="Memory cap of one worker process (resident set); above it the process is "
        "killed and its job retried, then failed with `worker_lost`.",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Scheduling niceness of worker processes, so the API on the same host keeps "
        "answering in milliseconds while they parse.",
    )
    worker_max_jobs: int = Field(
        500, ge=1, description="A worker process is replaced after this many jobs."
    )

    # --- store -----------------------------------------------------------------------------
    db_pool_size: int = Field(10, ge=1, description="Connections kept per process (PostgreSQL).")

    # --- security --------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None,
        description="Key that encrypts PDF passwords while their job runs. Empty: a random key "
        "kept in `<data dir>/secret.key` (set it explicitly when several hosts share a store).",
    )

    # --- retention -----------------------------------------------------------------------------
    retention_inputs_hours: float = Field(
        0.0,
        ge=0,
        description="Hours after a job ends before its uploaded file is removed (then it can "
        "no longer be retried). 0: kept.",
    )
    retention_results_days: float = Field(
        0.0,
        ge=0,
        description="Days after a job ends before all its files are removed; it then answers "
        "410 Gone for its results. 0: kept.",
    )
    retention_records_days: float = Field(
        0.0,
        ge=0,
        description="Days after which events (the audit trail) and the records of expired "
        "jobs are deleted. 0: kept.",
    )
    cleanup_interval_seconds: float = Field(
        600.0,
        gt=0,
        description="How often each API process removes what outlived its retention.",
    )

    # --- tenants: quotas and fairness -------------------------------------------------------
    tenant_rate_per_second: float = Field(
        0.0,
        ge=0,
        description="Requests per second one tenant may make to `/v1` (a token bucket per API "
        "process, refilled at this rate; `PDFQ_TENANT_BURST` deep). 0: no limit.",
    )
    tenant_burst: int = Field(
        50, ge=1, description="Requests a tenant may make at once before its rate applies."
    )
    tenant_max_queued: int = Field(
        0,
        ge=0,
        description="Queued jobs one tenant may have; uploads beyond it get 429. 0: no limit "
        "(the global `PDFQ_MAX_QUEUED_JOBS` still applies).",
    )
    tenant_max_running: int = Field(
        0,
        ge=0,
        description="Jobs (or chunks of large jobs) of one tenant that run at once; more wait "
        "in the queue. 0: no limit (the fair order across tenants still applies).",
    )

    insecure: bool = Field(
        False,
        description="Let `pdfq serve` run without API keys on a non-loopback address (when "
        "something in front of pdfq authenticates callers). Without keys and without this, "
        "it refuses to start on such an address.",
    )

    # --- hostile input ------------------------------------------------------------------------
    reject_findings: str = Field(
        "",
        description="Safety-scan findings that fail a job `unsafe_pdf`, comma-separated: "
        "`javascript`, `launch_actions`, `uri_actions`, `submit_form_actions`, "
        "`import_data_actions`, `remote_goto_actions`, `embedded_goto_actions`, "
        "`embedded_files`, `embedded_file_names`, `xfa`, `open_action`, "
        "`additional_actions`, `encrypted`, `damaged_objects`. Empty: findings are recorded "
        "on the job (`scanned` event) and nothing is refused for them.",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks to private, loopback and link-local addresses (checked when "
        "the job is submitted and again, after DNS resolution, when each call is made).",
    )

    # --- logging ---------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`auto`: readable on a terminal, JSON otherwise."
    )
    otel_endpoint: str = Field(
        "",
        description="OpenTelemetry collector (OTLP over HTTP, e.g. `http://collector:4318`): "
        "traces from each HTTP request through the queue into the worker (the `otel` extra). "
        "Empty: no tracing.",
    )
    access_log: bool = Field(
        True,
        description="Log every HTTP request (method, path, status, time, request id, tenant).",
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_urls(cls, data: dict[str, object]) -> dict[str, object]:
        # The embedded shape places everything under data_dir unless told otherwise.
        data = dict(data)
        data_dir = Path(str(data.get("data_dir") or "./pdfq-data")).expanduser().absolute()
        data["data_dir"] = data_dir
        # Built as URLs, not pasted into them: a folder named "pdfq#2" or "what?" stays whole.
        if not data.get("database_url"):
            data["database_url"] = f"sqlite:///{quote(str(data_dir / 'pdfq.db'))}"
        if not data.get("blobs_url"):
            data["blobs_url"] = (data_dir / "blobs").as_uri()
        return data

    @field_validator("secret_key", "webhook_secret", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        # `PDFQ_SECRET_KEY=` (an unset variable in a compose file, an empty secret) means
        # "not set", never "the empty key", which anyone could use.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("blobs_url")
    @classmethod
    def _check_blobs_url(cls, value: str) -> str:
        url = urlparse(value)
        if url.scheme not in ("file", "s3"):
            raise ValueError(f"PDFQ_BLOBS_URL {value!r}: use file:///folder or s3://bucket/prefix")
        if url.query or url.fragment or value.endswith(("?", "#")):
            raise ValueError(
                f"PDFQ_BLOBS_URL {value!r} has a query or fragment; write '?' and '#' in a "
                "folder or prefix as %3F and %23"
            )
        if url.scheme == "s3" and not url.netloc:
            raise ValueError(f"PDFQ_BLOBS_URL {value!r} names no bucket: s3://bucket/prefix")
        if url.scheme == "file" and (not url.path or url.netloc not in ("", "localhost")):
            raise ValueError(f"PDFQ_BLOBS_URL {value!r}: a local folder is file:///absolute/path")
        return value

    @field_validator("ocr_providers")
    @classmethod
    def _check_ocr_providers(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in OCR_PROVIDERS]
        if unknown:
            raise ValueError(
                f"unknown OCR provider {', '.join(unknown)}; known: {', '.join(OCR_PROVIDERS)}"
            )
        return ",".join(names)

    @field_validator("reject_findings")
    @classmethod
    def _check_reject_findings(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = [n for n in names if n not in REJECTABLE_FINDINGS]
        if unknown:
            raise ValueError(
                f"unknown finding {', '.join(unknown)}; known: {', '.join(REJECTABLE_FINDINGS)}"
            )
        return ",".join(names)

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("PDFQ_WEBHOOK_URL must be an http:// or https:// URL")
        return value

    @property
    def retention(self) -> Retention:
        from datetime import timedelta

        from pdfq.store.retention import Retention

        def period(value: float, unit: str) -> timedelta | None:
            return timedelta(**{unit: value}) if value > 0 else None

        return Retention(
            inputs=period(self.retention_inputs_hours, "hours"),
            results=period(self.retention_results_days, "days"),
            records=period(self.retention_records_days, "days"),
        )

    @property
    def accepted_inputs(self) -> frozenset[str]:
        """The input families uploads may be: ``pdf``, ``image``, ``office``."""
        return frozenset(["pdf"] + ["image"] * self.accept_images + ["office"] * self.accept_office)

    @property
    def rejected_findings(self) -> frozenset[str]:
        return frozenset(n for n in self.reject_findings.split(",") if n)

    @model_validator(mode="after")
    def _check_shape(self) -> Settings:
        if self.queue == "celery" and not self.broker_url:
            raise ValueError("PDFQ_BROKER_URL is required when PDFQ_QUEUE=celery")
        return self

    @property
    def host_keys(self) -> list[str]:
        """In the distributed shape, the keys not set, so kept in this host's data folder,
        where every host needs the same one: ``PDFQ_SECRET_KEY`` (a worker elsewhere cannot
        open a protected PDF) and ``PDFQ_WEBHOOK_SECRET`` (signatures differ by API host)."""
        if self.queue != "celery":
            return []
        unset = {"PDFQ_SECRET_KEY": self.secret_key, "PDFQ_WEBHOOK_SECRET": self.webhook_secret}
        return [name for name, value in unset.items() if value is None]

    @property
    def job_hard_time_limit_seconds(self) -> float:
        return self.job_time_limit_seconds + self.job_time_limit_grace_seconds


def settings_reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from :class:`Settings`."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m pdfq.config > docs/configuration.md`; a test keeps it "
        "in sync with `src/pdfq/config.py`. -->",
        "",
        "Every setting is an environment variable. Defaults give the embedded shape.",
        "",
        "| variable | default | description |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "CPU count" if name == "workers" else "computed"
        elif field.default in (None, ""):
            default = "—"
        else:
            default = f"`{field.default}`"
        lines.append(f"| `PDFQ_{name.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(settings_reference_markdown())
