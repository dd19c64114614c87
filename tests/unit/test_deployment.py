"""The deployment files cannot run here (no Docker engine), so they are checked against the
code: every command, flag and PDFQ_* variable they use must exist and validate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from pdfq.cli import app
from pdfq.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMANDS: Any = typer.main.get_command(app)  # a click group (Typer vendors its own click)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def pdfq_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("build") == "."
    }


def check_command(argv: list[str]) -> None:
    assert argv[0] == "pdfq"
    command = COMMANDS.commands.get(argv[1])
    assert command is not None, f"no `pdfq {argv[1]}` command"
    options = {opt for param in command.params for opt in param.opts}
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in options, f"`pdfq {argv[1]}` has no {arg} option"


def test_compose_runs_the_api_and_workers_of_this_code() -> None:
    services = pdfq_services()
    assert {"api", "worker"} <= set(services)
    assert services["api"]["command"][:2] == ["pdfq", "serve"]
    assert services["worker"]["command"][:2] == ["pdfq", "worker"]
    for service in services.values():
        check_command(service["command"])
    assert {"postgres", "redis", "minio"} <= set(compose()["services"])


@pytest.mark.parametrize("name", ["api", "worker"])
def test_compose_settings_exist_and_validate(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: str(v) for k, v in pdfq_services()[name]["environment"].items()}
    for key in env:
        if key.startswith("PDFQ_"):
            assert key[5:].lower() in Settings.model_fields, f"{key} is not a pdfq setting"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.queue == "celery"
    assert settings.blobs_url.startswith("s3://")
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_dockerfile_runs_an_existing_command_with_the_setup_packages() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD \[(.*)\]", dockerfile, re.MULTILINE)
    assert cmd is not None
    check_command([part.strip().strip('"') for part in cmd.group(1).split(",")])
    installed = set(re.findall(r"\b(tesseract-ocr(?:-\w+)?|qpdf)\b", dockerfile))
    setup = (ROOT / "scripts" / "setup").read_text()
    assert installed
    assert all(package in setup for package in installed)
