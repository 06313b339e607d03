"""The real service for deploy tests and bench/load_test.py: `python -m primepre.supervisor` on a free port.

Each stack gets its own SQLite file (copied from one migrated template per
session), its own MEDIA_ROOT and a log file, so tests on one machine never
share state with each other or with the pytest-django test database. The load
test may use a throwaway PostgreSQL database instead.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAFF_PHONE = "+233241110001"
STAFF_PASSWORD = "deploy-test-password-1"  # only ever in a throwaway database
# One key per test session, so the template's JWT is valid in every stack started from it.
SECRET_KEY = "deploy-tests-" + secrets.token_urlsafe(32)

# Variables that would point a child at the developer's or CI's own database or production mode.
SCRUBBED = {"DATABASE_URL", "RENDER", "IS_RENDER", "SECRET_KEY", "DEBUG", "GUNICORN_BIND", "PORT", "MEDIA_ROOT"}

PREPARE_SCRIPT = f"""
from django.core.management import call_command
call_command("migrate", verbosity=0)
from users.models import User
from rest_framework_simplejwt.tokens import AccessToken
user = User.objects.create_superuser({STAFF_PHONE!r}, {STAFF_PASSWORD!r}, first_name="Deploy", last_name="Test")
print("TOKEN=" + str(AccessToken.for_user(user)))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(database_url: str, media: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED and not key.startswith("PYTEST")}
    return {
        **env,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        # Production-like: DEBUG keeps every query in memory, which would spoil memory measurements.
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        # Served over plain HTTP on 127.0.0.1, as no production deployment may be without saying so.
        "ALLOW_PLAIN_HTTP": "true",
        "PYTHONUNBUFFERED": "1",
        # The database is private to this stack; no pooled connection should outlive a request.
        "CONN_MAX_AGE": "0",
        **extra,
    }


@dataclass(frozen=True)
class Template:
    """A migrated database with one superuser, and a JWT access token for them.

    A SQLite template is copied for each stack; a PostgreSQL one is used as it is.
    """

    database_url: str
    token: str
    sqlite_file: Path | None


def prepare_template(directory: Path, *, database_url: str | None = None) -> Template:
    directory.mkdir(parents=True, exist_ok=True)
    sqlite_file = None if database_url else directory / "template.sqlite3"
    database_url = database_url or f"sqlite:///{sqlite_file}"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PREPARE_SCRIPT],
        cwd=ROOT,
        env=child_environment(database_url, directory / "media"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"Preparing the stack's database failed:\n{result.stderr[-3000:]}"
    token = next(line for line in result.stdout.splitlines() if line.startswith("TOKEN="))[len("TOKEN=") :]
    return Template(database_url=database_url, token=token, sqlite_file=sqlite_file)


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    token: str
    database_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, *, token: str | None = None, timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url(path))  # noqa: S310 - always http://127.0.0.1
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - always http://127.0.0.1
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post_json(
        self, path: str, payload: object, *, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> tuple[int, bytes]:
        data = json.dumps(payload).encode()
        request = urllib.request.Request(self.url(path), data=data, method="POST")  # noqa: S310 - always http://127.0.0.1
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - always http://127.0.0.1
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def post_file(
        self, path: str, file_path: Path, *, token: str, fields: dict[str, str] | None = None, timeout: float = 120
    ) -> tuple[int, bytes]:
        """POST a multipart form with `file` (as the browser sends an upload) and any other fields."""
        body, content_type = multipart_body(file_path, fields or {})
        request = urllib.request.Request(self.url(path), data=body, method="POST")  # noqa: S310 - always http://127.0.0.1
        request.add_header("Content-Type", content_type)
        request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - always http://127.0.0.1
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"The supervisor exited ({self.process.returncode}) while waiting for {what}:\n{self.log()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            return self.get("/health", timeout=5)[0] == 200
        except OSError:
            return False

    def stop(self, timeout: float = 90) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(self.process.pid)
                self.process.wait()
        return self.process.returncode


def multipart_body(file_path: Path, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "----primepre-" + secrets.token_hex(12)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_path.name}"\r\n'
        "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n".encode()
        + file_path.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _kill_tree(pid: int) -> None:
    """Last resort for a test that failed half-way: no process of ours outlives the test."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for child in parent.children(recursive=True):
        child.kill()
    parent.kill()


@contextmanager
def running_stack(
    template: Template, directory: Path, *, args: tuple[str, ...] = (), ready_timeout: float = 90, **env: str
) -> Iterator[Stack]:
    """Start the supervisor with web + worker on a free port and wait for /health to answer 200."""
    directory.mkdir(parents=True, exist_ok=True)
    database_url = template.database_url
    if template.sqlite_file is not None:
        shutil.copyfile(template.sqlite_file, directory / "db.sqlite3")
        database_url = f"sqlite:///{directory / 'db.sqlite3'}"
    port = free_port()
    log_path = directory / "stack.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "primepre.supervisor", *args],
            cwd=ROOT,
            env=child_environment(database_url, directory / "media", **{"GUNICORN_BIND": f"127.0.0.1:{port}", **env}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stack = Stack(process=process, port=port, log_path=log_path, token=template.token, database_url=database_url)
    try:
        if "--no-web" not in args:
            stack.wait_until(stack.healthy, timeout=ready_timeout, what="/health to answer 200")
        yield stack
    finally:
        stack.stop()
