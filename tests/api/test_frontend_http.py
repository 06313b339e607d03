"""The frontend's endpoints over real HTTP: gunicorn with the production config, on a free port, on the test database.

This module also holds the harness the CORS, limits and flow tests share: the
`api_server` fixture (a gunicorn serving this test run's database, with a CORS
allowlist) and `HttpApi`, a small stdlib client that talks to it the way a
browser on another origin does.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.workers import worker_database_url
from users.models import User

ROOT = Path(__file__).resolve().parents[2]
FRONTEND_ORIGIN = "https://app.primepre.test"
OTHER_ORIGIN = "https://evil.example"
STARTUP_SECONDS = 30.0
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        assert self.content_type == "application/json", (
            f"{self.status} answered {self.content_type}: {self.body[:200]!r}"
        )
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""


def multipart(fields: dict[str, Any], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser's FormData sends it, and its Content-Type."""
    boundary = f"----primepre{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class HttpApi:
    """Calls the server as the React app's fetch() does: from another origin, with a bearer token once signed in."""

    def __init__(self, port: int, *, origin: str = FRONTEND_ORIGIN) -> None:
        self.port = port
        self.origin = origin
        self.token = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        content_type: str = "",
        headers: dict[str, str] | None = None,
        send_body: bool = True,
        authorize: bool = True,
    ) -> HttpResult:
        all_headers = {"Origin": self.origin, "Accept": "*/*", **(headers or {})}
        if self.token and authorize:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        if content_type:
            all_headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.putrequest(method, path)
            for name, value in all_headers.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders()
            if body is not None and send_body:
                connection.send(body)
            response = connection.getresponse()
            return HttpResult(status=response.status, headers=response.headers, body=response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResult:
        return self.request("POST", path, **kwargs)

    def upload(self, path: str, filename: str, content: bytes, content_type: str = XLSX) -> HttpResult:
        body, multipart_type = multipart({}, {"file": (filename, content, content_type)})
        return self.post(path, body=body, content_type=multipart_type)

    def preflight(self, path: str, method: str, request_headers: str) -> HttpResult:
        """The OPTIONS request a browser sends first, because the call carries Authorization or JSON."""
        return self.request(
            "OPTIONS",
            path,
            headers={"Access-Control-Request-Method": method, "Access-Control-Request-Headers": request_headers},
            authorize=False,  # a browser's preflight carries no credentials
        )

    def login(self, phone: str = "0241000001", password: str = PASSWORD) -> dict[str, Any]:
        response = self.post("/api/auth/login/", json_body={"phone": phone, "password": password})
        assert response.status == 200, response.body
        body = response.json()
        self.token = body["tokens"]["access"]
        return body


@dataclass
class ApiServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    media_root: Path

    def client(self, *, origin: str = FRONTEND_ORIGIN) -> HttpApi:
        return HttpApi(self.port, origin=origin)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_server(
    *, database_url: str, media_root: Path, extra_env: dict[str, str] | None = None, wait_healthy: bool = True
) -> ApiServer:
    """gunicorn with gunicorn_config.py, as `make run` and Render start it, on a free port of 127.0.0.1."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        # Production's error pages (handler404/500), not DEBUG's technical ones.
        "DEBUG": "false",
        "SECRET_KEY": "test-only-secret-key-for-the-http-tests-" + "0123456789abcdef" * 2,
        "ALLOW_PLAIN_HTTP": "true",  # plain HTTP on 127.0.0.1
        "CORS_ALLOWED_ORIGINS": FRONTEND_ORIGIN,
        "CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    env.pop("RENDER", None)
    fd, log_name = tempfile.mkstemp(prefix="gunicorn-", suffix=".log")
    os.close(fd)
    log_path = Path(log_name)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn_config.py", "primepre.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(port=port, process=process, log_path=log_path, media_root=media_root)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.output()[-3000:]}")
        try:
            response = server.client().get("/health")
            if response.status == 200 or not wait_healthy:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS:.0f} s:\n{server.output()[-3000:]}")
        time.sleep(0.2)


def stop_server(server: ApiServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def api_server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """One gunicorn for a test module, serving this run's test database (tests use transactional_db)."""
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    server = start_server(database_url=database_url, media_root=tmp_path_factory.mktemp("http-media"))
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def staff(transactional_db: None, admin_user: User) -> User:
    """The admin, committed so the server process sees them."""
    return admin_user


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from io import BytesIO

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region"])
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- every endpoint, once, over HTTP ------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_frontend_endpoint_answers_over_real_http(api_server: ApiServer, staff: User) -> None:
    api = api_server.client()

    signed_in = api.login("+233 24 100 0001")
    assert signed_in["user"]["user_role"] == "ADMIN"
    assert api.get("/api/auth/profile/").json()["id"] == staff.id

    refreshed = api.post("/api/auth/token/refresh/", json_body={"refresh": signed_in["tokens"]["refresh"]})
    assert refreshed.status == 200 and refreshed.json()["access"]
    pair = api.post("/api/auth/token/", json_body={"phone": "0241000001", "password": PASSWORD})
    assert pair.status == 200 and set(pair.json()) == {"access", "refresh"}

    template = api.get("/api/auth/customers/excel/template/")
    assert (template.status, template.content_type) == (200, XLSX)

    preview = api.upload("/api/auth/customers/excel/upload/", "customers.xlsx", template.body)
    assert preview.status == 200, preview.body
    unique = preview.json()["duplicate_results"]["unique_candidates"]
    assert len(unique) == 3

    created = api.post("/api/auth/customers/excel/bulk-create/", json_body={"customers": unique[:2]})
    assert created.status == 201, created.body
    assert created.json()["total_created"] == 2

    queued = api.post("/api/auth/customers/excel/bulk-create-async/", json_body={"customers": unique[2:]})
    assert queued.status == 202, queued.body
    task_id = queued.json()["task_id"]
    status = api.get(f"/api/auth/customers/excel/bulk-create/status/{task_id}/")
    assert status.status == 200 and status.json()["status"] == "QUEUED"

    clients = api.get("/api/auth/admin/users/?user_role=CUSTOMER&ordering=-date_joined&page=1&page_size=25")
    assert clients.status == 200 and clients.json()["count"] == 2

    stats = api.get("/api/auth/customers/upload/stats/")
    assert stats.status == 200 and stats.json()["total_customers"] == 2


@pytest.mark.slow
def test_answers_carry_the_cors_headers_for_the_allowed_origin_only(api_server: ApiServer, staff: User) -> None:
    allowed = api_server.client().get("/api/auth/profile/")
    other = api_server.client(origin=OTHER_ORIGIN).get("/api/auth/profile/")

    assert allowed.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN
    assert allowed.header("Access-Control-Allow-Credentials") == "true"
    assert other.header("Access-Control-Allow-Origin") == "", "an origin off the allowlist gets no CORS grant"
