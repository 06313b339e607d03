"""Health endpoints: 200 with the database up, 503 when it can't be reached."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health", "/api/health/"])
def test_health_is_healthy_without_auth(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["database"] == "ok" and body["version"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_health_answers_503_when_the_database_is_unreachable() -> None:
    port = free_port()
    dead_db_port = free_port()  # nothing listens there
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_db_port}/nowhere",
        "DEBUG": "true",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn_config.py", "primepre.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                pytest.fail("health said healthy with no database")
            except urllib.error.HTTPError as error:
                assert error.code == 503
                body = error.read().decode()
                assert '"database": "error"' in body
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "[HEALTH] database unreachable" in output, "ops see why the check failed"
