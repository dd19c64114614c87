"""The ``pdfq`` command line (Typer): serve, worker, migrate and the client commands.

Every flag mirrors a ``PDFQ_*`` environment variable, named in its help text; flags win.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from pdfq.config import Settings

app = typer.Typer(
    name="pdfq",
    help="Asynchronous PDF ingestion service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind [env: PDFQ_HOST, default 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: PDFQ_PORT, default 8000].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes of the local queue [env: PDFQ_WORKERS, default CPU count]."
        ),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log every HTTP request [env: PDFQ_ACCESS_LOG].", envvar="PDFQ_ACCESS_LOG"
        ),
    ] = True,
) -> None:
    """Run the HTTP API (and, with PDFQ_QUEUE=local, the worker pool)."""
    import uvicorn

    from pdfq.api import create_app

    settings = _settings(host=host, port=port, workers=workers)
    # The event loop shares the GIL with the I/O threads; a shorter switch interval than
    # Python's 5 ms keeps a thread's burst of work from delaying every waiting request.
    sys.setswitchinterval(0.001)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=15,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (serve and worker also do it on start)."""
    from pdfq.store import Database, upgrade

    settings = Settings()
    upgrade(Database(settings.database_url))
    typer.echo("database is up to date")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
