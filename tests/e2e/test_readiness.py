"""/readyz follows the real services: 503 naming PostgreSQL or Redis while it is stopped, 200
again once it is back. The services of this machine are stopped and started for real."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Cluster, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def postgres_cluster() -> str:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("PostgreSQL is not managed by pg_ctlcluster here")
    return sorted(Path("/etc/postgresql").iterdir())[-1].name


def start_redis() -> None:
    command = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1"]
    command += ["--port", "6379", "--save", "", "--appendonly", "no"]
    if Path("/var/lib/redis").is_dir():
        command += ["--dir", "/var/lib/redis"]
    subprocess.run(command, check=True, timeout=30)
    wait_until(lambda: listening(6379), timeout=30, interval=0.2)


@pytest.fixture
def cluster(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    running = Cluster(tmp_path / "cluster", cluster_env).start(workers=1)
    running.wait_for_workers()
    yield running
    running.stop()


def ready(cluster: Cluster) -> tuple[int, dict[str, str]]:
    with cluster.client() as client:
        answer = client.get("/readyz", timeout=30)
    return answer.status_code, answer.json()["checks"]


def test_readyz_turns_503_while_postgresql_is_down(cluster: Cluster) -> None:
    version = postgres_cluster()
    wait_until(lambda: ready(cluster)[0] == 200, timeout=30, interval=0.5)
    subprocess.run(["pg_ctlcluster", version, "main", "stop", "-m", "fast"], check=True, timeout=60)
    try:
        wait_until(lambda: ready(cluster)[0] == 503, timeout=30, interval=0.5)
        _, checks = ready(cluster)
        assert checks["store"] != "ok"
        assert checks["blobs"] == "ok"
    finally:
        subprocess.run(["pg_ctlcluster", version, "main", "start"], check=True, timeout=60)
        wait_until(lambda: listening(5432), timeout=60, interval=0.2)
    wait_until(lambda: ready(cluster)[0] == 200, timeout=60, interval=0.5)


def test_readyz_turns_503_while_redis_is_down(cluster: Cluster) -> None:
    wait_until(lambda: ready(cluster)[0] == 200, timeout=30, interval=0.5)
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], timeout=30)
    try:
        wait_until(lambda: not listening(6379), timeout=30, interval=0.2)
        wait_until(lambda: ready(cluster)[0] == 503, timeout=30, interval=0.5)
        assert "broker unreachable" in ready(cluster)[1]["queue"]
        assert ready(cluster)[1]["store"] == "ok"
    finally:
        if not listening(6379):
            start_redis()
    # the worker reconnects to the broker on its own, then answers pings again
    wait_until(lambda: ready(cluster)[0] == 200, timeout=90, interval=1)
    time.sleep(0.1)
