"""Settings: defaults give the embedded shape; the reference doc cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pdfq.config import Settings, settings_reference_markdown

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


def test_configuration_reference_is_generated_from_the_code() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == settings_reference_markdown(), (
        "docs/configuration.md is stale: run `python -m pdfq.config > docs/configuration.md`"
    )
    for name in Settings.model_fields:
        assert f"`PDFQ_{name.upper()}`" in documented
