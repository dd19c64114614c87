"""Settings: defaults give the embedded shape; the reference doc cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from pdfq.blobs import open_blobs
from pdfq.blobs.s3 import S3Blobs
from pdfq.config import Settings, settings_reference_markdown
from pdfq.crypto import load_secret_box, load_webhook_secret

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.queue == "local"
    assert settings.database_url == f"sqlite:///{tmp_path / 'pdfq-data' / 'pdfq.db'}"
    assert settings.blobs_url == f"file://{tmp_path / 'pdfq-data' / 'blobs'}"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.max_file_bytes == 512 * 1024 * 1024
    assert settings.max_pages == 5000
    assert settings.workers >= 1


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PDFQ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PDFQ_MAX_PAGES", "12")
    monkeypatch.setenv("PDFQ_DATABASE_URL", "postgresql+psycopg://u@db/pdfq")
    settings = Settings()
    assert settings.max_pages == 12
    assert settings.database_url == "postgresql+psycopg://u@db/pdfq"
    assert settings.blobs_url == f"file://{tmp_path / 'blobs'}"


def test_celery_needs_a_broker() -> None:
    with pytest.raises(ValidationError, match="PDFQ_BROKER_URL"):
        Settings(queue="celery")
    assert Settings(queue="celery", broker_url="redis://x").broker_url == "redis://x"


@pytest.mark.parametrize("folder", ["pdfq#2", "what?", "a%20b", "100% full"])
def test_a_data_folder_of_any_name_holds_the_store_and_the_blobs(
    tmp_path: Path, folder: str
) -> None:
    data_dir = tmp_path / folder
    settings = Settings(data_dir=data_dir)
    assert make_url(settings.database_url).database == str(data_dir / "pdfq.db")
    assert open_blobs(settings).root == data_dir / "blobs"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3:/bucket/inputs", "names no bucket"),
        ("s3:///bucket", "names no bucket"),
        ("s3://bucket/reports#2024", "query or fragment"),
        ("s3://bucket/prefix?versionId=1", "query or fragment"),
        ("gs://bucket", "use file:///folder or s3://bucket/prefix"),
        ("file://", "file:///absolute/path"),
        ("file://pdfq-data/blobs", "file:///absolute/path"),  # would have been /blobs
    ],
)
def test_a_malformed_blobs_url_is_refused_at_start(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(blobs_url=url)


def test_an_s3_prefix_may_hold_escaped_characters() -> None:
    blobs = S3Blobs.from_settings(
        Settings(blobs_url="s3://bucket/reports%232024/", s3_endpoint_url="http://127.0.0.1:1")
    )
    assert (blobs.bucket, blobs.prefix) == ("bucket", "reports#2024")


def test_an_empty_key_is_unset_not_the_empty_key(tmp_path: Path) -> None:
    """`PDFQ_SECRET_KEY=` (a variable a compose file left empty) must not make the empty
    string the key: that key anyone could use. It means what unset means: a random key kept
    in the data folder."""
    settings = Settings(data_dir=tmp_path, secret_key="", webhook_secret="  ")
    assert settings.secret_key is None
    assert settings.webhook_secret is None
    webhook_key = load_webhook_secret(settings)
    assert len(webhook_key) >= 32
    assert webhook_key == (tmp_path / "webhook.key").read_bytes().strip()
    box = load_secret_box(settings)
    assert (tmp_path / "secret.key").exists()
    sealed = box.encrypt("pdf-password")
    assert box.decrypt(sealed) == "pdf-password"
    assert load_secret_box(Settings(data_dir=tmp_path / "other")).decrypt(sealed) is None


def test_errors_do_not_show_the_secrets_they_were_given() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(queue="celery", secret_key="my-fernet-passphrase", webhook_secret="hook-key")
    message = str(caught.value)
    assert "PDFQ_BROKER_URL" in message
    assert "my-fernet-passphrase" not in message
    assert "hook-key" not in message


def test_the_distributed_shape_names_keys_left_to_one_host() -> None:
    assert Settings().host_keys == []
    distributed = Settings(queue="celery", broker_url="redis://x")
    assert distributed.host_keys == ["PDFQ_SECRET_KEY", "PDFQ_WEBHOOK_SECRET"]
    shared = distributed.model_copy(
        update={"secret_key": SecretStr("k" * 32), "webhook_secret": SecretStr("w" * 32)}
    )
    assert shared.host_keys == []


def test_configuration_reference_is_generated_from_the_code() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == settings_reference_markdown(), (
        "docs/configuration.md is stale: run `python -m pdfq.config > docs/configuration.md`"
    )
    for name in Settings.model_fields:
        assert f"`PDFQ_{name.upper()}`" in documented


def test_serve_and_worker_warn_about_keys_left_to_one_host() -> None:
    from structlog.testing import capture_logs

    from pdfq.cli import _warn_about_host_keys

    with capture_logs() as logs:
        _warn_about_host_keys(Settings(queue="celery", broker_url="redis://x", secret_key="k"))
        _warn_about_host_keys(Settings())
    assert [entry["unset"] for entry in logs] == [["PDFQ_WEBHOOK_SECRET"]]
    assert logs[0]["log_level"] == "warning"
