"""The ``pdfq`` command line (Typer): serve, worker, migrate, webhook-secret, the client
commands of :mod:`pdfq.cli_client` (submit, status, result, jobs, watch) and the in-process
``extract`` of :mod:`pdfq.cli_extract`.

Every server flag mirrors a ``PDFQ_*`` environment variable, named in its help text; flags win.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from pdfq import cli_client, cli_extract
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
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log every HTTP request [env: PDFQ_ACCESS_LOG, default on].",
            show_default=False,
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve without API keys on a non-loopback address: anyone who can reach it "
            "may use it [env: PDFQ_INSECURE].",
        ),
    ] = False,
) -> None:
    """Run the HTTP API (and, with PDFQ_QUEUE=local, the worker pool)."""
    import uvicorn

    from pdfq.api import create_app

    settings = _settings(
        host=host, port=port, workers=workers, insecure=insecure or None, access_log=access_log
    )
    _refuse_open_exposure(settings)
    # The event loop shares the GIL with the I/O threads; a shorter switch interval than
    # Python's 5 ms keeps a thread's burst of work from delaying every waiting request.
    sys.setswitchinterval(0.001)
    uvicorn.run(
        create_app(settings, own_process=True),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # pdfq writes its own access log (api/middleware.py)
        timeout_graceful_shutdown=15,
    )


def _refuse_open_exposure(settings: Settings) -> None:
    """Without API keys the API is open to whoever reaches it: loopback only, unless told."""
    import ipaddress

    import structlog

    from pdfq.logs import configure_logging
    from pdfq.store import Database, upgrade
    from pdfq.store.keys import live_key_count

    configure_logging(settings)
    _warn_about_host_keys(settings)
    db = Database(settings.database_url, pool_size=1)
    try:
        upgrade(db)
        keys = live_key_count(db)
    finally:
        db.dispose()
    if keys:
        return
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    log = structlog.get_logger("pdfq.cli")
    if loopback:
        log.warning(
            "no API keys: the API is open to every local user; create one with "
            "`pdfq keys create --tenant NAME` before exposing it",
            host=settings.host,
        )
        return
    if not settings.insecure:
        typer.echo(
            f"refusing to serve on {settings.host} without API keys: anyone who can reach it "
            "could use it. Create a key (`pdfq keys create --tenant NAME`), bind to 127.0.0.1, "
            "or pass --insecure (PDFQ_INSECURE=true) if something in front of pdfq "
            "authenticates callers.",
            err=True,
        )
        raise typer.Exit(2)
    log.warning(
        "serving without API keys on a non-loopback address (--insecure)", host=settings.host
    )


def _warn_about_host_keys(settings: Settings) -> None:
    import structlog

    if settings.host_keys:
        structlog.get_logger("pdfq.cli").warning(
            "keys are kept in this host's data folder: set them to the same value on every "
            "API and worker host, or protected PDFs fail on other hosts' workers and webhook "
            "signatures depend on the API host that sends them",
            unset=settings.host_keys,
            data_dir=str(settings.data_dir),
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
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Do not run a worker: check that a pdfq worker on this host answers over the "
            "broker and that the store and blobs are reachable (exit 0), for health checks.",
        ),
    ] = False,
) -> None:
    """Run a Celery worker (PDFQ_QUEUE=celery): processes jobs published by `pdfq serve`."""
    import socket

    from pdfq.heap import freeze_heap
    from pdfq.logs import configure_logging
    from pdfq.queue.celery import create_celery
    from pdfq.store import Database, upgrade, warn_if_autovacuum_off

    settings = _settings(workers=concurrency)
    if settings.queue != "celery":
        typer.echo(
            "pdfq worker runs Celery workers: set PDFQ_QUEUE=celery and PDFQ_BROKER_URL", err=True
        )
        raise typer.Exit(2)
    if check:
        _check_worker(settings)
        return
    configure_logging(settings)
    _warn_about_host_keys(settings)
    # The consumer process too: on a host shared with the API, the API wins the CPU.
    os.setpriority(os.PRIO_PROCESS, 0, settings.worker_nice)
    db = Database(settings.database_url, pool_size=1)
    upgrade(db)
    warn_if_autovacuum_off(db)
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
    celery_app = create_celery(settings)
    # Celery runs a full garbage collection in this process before forking each pool process
    # (every PDFQ_WORKER_MAX_JOBS jobs): over everything imported that took ~100 ms and
    # stalled the consumer. Frozen objects are skipped, and the pool processes share them.
    freeze_heap()
    celery_app.worker_main(argv)


def _check_worker(settings: Settings) -> None:
    import socket

    from pdfq.blobs import open_blobs
    from pdfq.queue.celery import create_celery, live_workers
    from pdfq.store import Database

    problems: list[str] = []
    names: list[str] = []
    try:
        names = live_workers(create_celery(settings), host=socket.gethostname(), timeout=2.0)
        if not names:
            problems.append(f"no pdfq worker on {socket.gethostname()} answered a ping")
    except Exception as exc:
        problems.append(f"broker: {exc}")
    try:
        Database(settings.database_url, pool_size=1).ping()
    except Exception as exc:
        problems.append(f"store: {exc}")
    try:
        open_blobs(settings).check()
    except Exception as exc:
        problems.append(f"blobs: {exc}")
    if problems:
        typer.echo("; ".join(problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {', '.join(names)}")


@app.command()
def migrate() -> None:
    """Apply database migrations (serve and worker also do it on start)."""
    from pdfq.store import Database, upgrade

    settings = Settings()
    upgrade(Database(settings.database_url))
    typer.echo("database is up to date")


@app.command()
def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed.")
    ] = False,
) -> None:
    """Remove what outlived its retention now (PDFQ_RETENTION_*; serve also does it
    periodically)."""
    from rich.console import Console
    from rich.table import Table

    from pdfq.blobs import open_blobs
    from pdfq.store import Database, upgrade
    from pdfq.store.retention import cleanup as run_cleanup

    settings = Settings()
    if not settings.retention.active:
        typer.echo("no retention period is set (PDFQ_RETENTION_*): nothing expires")
        return
    db = Database(settings.database_url, pool_size=1)
    upgrade(db)
    report = run_cleanup(db, open_blobs(settings), settings.retention, dry_run=dry_run)
    verb = "would be" if dry_run else "were"
    table = Table(title=f"what {verb} removed")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("jobs")
    for what, ids in (
        ("input files", report.inputs),
        ("results (job files)", report.results),
        ("expired job records", report.records),
    ):
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        table.add_row(what, str(len(ids)), shown)
    table.add_row("events", str(report.events), "")
    Console().print(table)


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print the key that signs webhook calls (PDFQ_WEBHOOK_SECRET, or the generated one in
    the data folder), for receivers to verify X-Pdfq-Signature."""
    from pdfq.crypto import load_webhook_secret

    typer.echo(load_webhook_secret(Settings()).decode())


keys_app = typer.Typer(help="Create, list and revoke API keys (each belongs to a tenant).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: submit, read, admin.")
    ] = "submit,read",
    name: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
) -> None:
    """Create a key and print it (this once: only its hash is stored)."""
    from pdfq.store import Database, upgrade
    from pdfq.store import keys as key_repo

    try:
        scope_set = key_repo.parse_scopes(scopes)
        key_repo.check_tenant(tenant)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    db = Database(Settings().database_url, pool_size=1)
    upgrade(db)
    record, token = key_repo.create_key(db, tenant=tenant, scopes=scope_set, name=name)
    typer.echo(token)
    typer.echo(
        f"key {record.id} for tenant {record.tenant} ({','.join(sorted(record.scopes))}): "
        "store it now, it cannot be shown again",
        err=True,
    )


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from pdfq.store import Database, upgrade
    from pdfq.store import keys as key_repo

    db = Database(Settings().database_url, pool_size=1)
    upgrade(db)
    table = Table(title="API keys")
    for column in ("id", "tenant", "scopes", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for key in key_repo.list_keys(db, tenant=tenant):
        table.add_row(
            key.id,
            key.tenant,
            ",".join(sorted(key.scopes)),
            key.name,
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-",
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see keys list).")],
) -> None:
    """Revoke a key: API processes refuse it within two seconds."""
    from pdfq.store import Database
    from pdfq.store import keys as key_repo

    if not key_repo.revoke_key(Database(Settings().database_url, pool_size=1), key_id=key_id):
        typer.echo(f"no live key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


cli_client.register(app)
cli_extract.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
