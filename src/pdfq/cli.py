"""The ``pdfq`` command line (Typer): serve, worker, migrate, webhook-secret, and the client
commands of :mod:`pdfq.cli_client` (submit, status, result, jobs, watch).

Every server flag mirrors a ``PDFQ_*`` environment variable, named in its help text; flags win.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from pdfq import cli_client
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
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Worker processes on this host [env: PDFQ_WORKERS, default CPU count]."),
    ] = None,
    queues: Annotated[
        str, typer.Option(help="Celery queues to consume, comma-separated.")
    ] = "pdfq,pdfq.chunks",
    beat: Annotated[
        bool,
        typer.Option(help="Also run the sweeper on a schedule (Celery beat) in this worker."),
    ] = False,
) -> None:
    """Run a Celery worker (PDFQ_QUEUE=celery): processes jobs published by `pdfq serve`."""
    import socket

    from pdfq.logs import configure_logging
    from pdfq.queue.celery import create_celery
    from pdfq.store import Database, upgrade

    settings = _settings(workers=concurrency)
    if settings.queue != "celery":
        typer.echo(
            "pdfq worker runs Celery workers: set PDFQ_QUEUE=celery and PDFQ_BROKER_URL", err=True
        )
        raise typer.Exit(2)
    configure_logging(settings)
    # The consumer process too: on a host shared with the API, the API wins the CPU.
    os.setpriority(os.PRIO_PROCESS, 0, settings.worker_nice)
    db = Database(settings.database_url, pool_size=1)
    upgrade(db)
    db.dispose()  # pool processes are forked: they must not share a connection
    argv = [
        "worker",
        f"--loglevel={settings.log_level.upper()}",
        f"--concurrency={settings.workers}",
        f"--queues={queues}",
        f"--hostname=pdfq-{os.getpid()}@{socket.gethostname()}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv.append("--beat")
    create_celery(settings).worker_main(argv)


@app.command()
def migrate() -> None:
    """Apply database migrations (serve and worker also do it on start)."""
    from pdfq.store import Database, upgrade

    settings = Settings()
    upgrade(Database(settings.database_url))
    typer.echo("database is up to date")


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print the key that signs webhook calls (PDFQ_WEBHOOK_SECRET, or the generated one in
    the data folder), for receivers to verify X-Pdfq-Signature."""
    from pdfq.crypto import load_webhook_secret

    typer.echo(load_webhook_secret(Settings()).decode())


cli_client.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
