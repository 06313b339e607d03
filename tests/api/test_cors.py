"""CORS for the frontend on another origin: real preflights, and the headers on every error.

The old service's 502s reached the browser without CORS headers, so the
frontend reported a CORS failure instead of the real error. Here every answer
from an allowed origin, errors included, carries Access-Control-Allow-Origin,
and errors are JSON.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

import primepre.urls
from tests.api.test_frontend_http import (
    FRONTEND_ORIGIN,
    OTHER_ORIGIN,
    ApiServer,
    HttpResult,
    api_server,  # noqa: F401 - a fixture
    free_port,
    staff,  # noqa: F401 - a fixture
    start_server,
    stop_server,
)
from tests.conftest import PASSWORD
from users.models import User

pytestmark = pytest.mark.slow

FRONTEND_CALLS = [
    ("/api/auth/login/", "POST", "content-type"),
    ("/api/auth/profile/", "GET", "authorization"),
    ("/api/auth/token/refresh/", "POST", "content-type"),
    ("/api/auth/admin/users/", "GET", "authorization"),
    ("/api/auth/customers/excel/upload/", "POST", "authorization"),
    ("/api/auth/customers/excel/bulk-create/", "POST", "authorization,content-type"),
    ("/api/auth/customers/excel/bulk-create-async/", "POST", "authorization,content-type"),
    ("/api/auth/customers/excel/bulk-create/status/7b0d7c1e-3f1a-4c55-9d7e-000000000000/", "GET", "authorization"),
    ("/api/auth/customers/excel/template/", "GET", "authorization"),
    ("/api/auth/customers/upload/stats/", "GET", "authorization"),
]


def assert_cors_json_error(response: HttpResult, status: int) -> None:
    assert response.status == status, f"expected {status}, got {response.status}: {response.body[:300]!r}"
    assert response.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN, (
        f"a {status} without CORS headers looks like a CORS failure to the browser"
    )
    body = response.json()
    assert body["success"] is False and body["message"], body


@pytest.mark.parametrize(("path", "method", "request_headers"), FRONTEND_CALLS)
def test_a_preflight_from_the_frontend_is_allowed(
    api_server: ApiServer,  # noqa: F811
    path: str,
    method: str,
    request_headers: str,
) -> None:
    response = api_server.client().preflight(path, method, request_headers)

    assert 200 <= response.status < 300, response.body
    assert response.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN
    assert method in response.header("Access-Control-Allow-Methods")
    allowed_headers = {h.strip().lower() for h in response.header("Access-Control-Allow-Headers").split(",")}
    assert {"authorization", "content-type"} <= allowed_headers


def test_a_preflight_from_another_origin_is_not_granted(api_server: ApiServer) -> None:  # noqa: F811
    response = api_server.client(origin=OTHER_ORIGIN).preflight("/api/auth/login/", "POST", "content-type")

    assert response.header("Access-Control-Allow-Origin") == ""


def test_a_400_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    response = api_server.client().post("/api/auth/login/", json_body={"phone": "0241000001"})

    assert_cors_json_error(response, 400)


def test_a_wrong_password_401_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    response = api_server.client().post("/api/auth/login/", json_body={"phone": "0241000001", "password": "no"})

    assert_cors_json_error(response, 401)
    assert response.json()["detail"]


def test_an_unauthenticated_401_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    assert_cors_json_error(api_server.client().get("/api/auth/customers/upload/stats/"), 401)


def test_a_403_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    User.objects.create_user("0241000002", PASSWORD, first_name="Kofi", last_name="Plain")
    api = api_server.client()
    api.login("0241000002")

    response = api.upload("/api/auth/customers/excel/upload/", "customers.xlsx", b"irrelevant")

    assert_cors_json_error(response, 403)


def test_a_404_for_an_unknown_task_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    api = api_server.client()
    api.login()

    response = api.get("/api/auth/customers/excel/bulk-create/status/7b0d7c1e-3f1a-4c55-9d7e-000000000000/")

    assert_cors_json_error(response, 404)
    assert response.json()["status"] == "NOT_FOUND"


def test_a_404_for_a_path_that_matches_nothing_is_json_with_cors_headers(
    api_server: ApiServer,  # noqa: F811
) -> None:
    assert_cors_json_error(api_server.client().get("/api/auth/no-such-endpoint/"), 404)


def test_a_413_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    api = api_server.client()
    api.login()
    too_big = b"x" * (50 * 1024 * 1024 + 1)

    # The limit is decided on Content-Length, before the body is read, so the body need not be sent.
    response = api.post(
        "/api/auth/customers/excel/bulk-create/", body=too_big, content_type="application/json", send_body=False
    )

    assert_cors_json_error(response, 413)


def test_a_415_carries_cors_headers(api_server: ApiServer, staff: User) -> None:  # noqa: F811
    api = api_server.client()
    api.login()

    response = api.post("/api/auth/customers/excel/upload/", json_body={"file": "customers.xlsx"})

    assert_cors_json_error(response, 415)


@pytest.fixture
def server_without_database(tmp_path: Path) -> Iterator[ApiServer]:
    """gunicorn whose database is down, as during the old service's outages: the real way to a 500."""
    dead_port = free_port()  # nothing listens there
    server = start_server(
        database_url=f"postgres://postgres@127.0.0.1:{dead_port}/nowhere", media_root=tmp_path, wait_healthy=False
    )
    try:
        yield server
    finally:
        stop_server(server)


def test_a_500_is_json_with_cors_headers(server_without_database: ApiServer) -> None:
    response = server_without_database.client().post(
        "/api/auth/login/", json_body={"phone": "0241000001", "password": PASSWORD}
    )

    assert_cors_json_error(response, 500)
    assert response.json()["code"] == "internal"
    assert "Traceback" not in response.body.decode(), "a 500 must not leak the server's internals"


# --- Django's own handler500, for errors outside DRF (a crash in middleware or a plain view) ---------------------


def crashing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("api/test-crash/", crashing_view), path("page-crash/", crashing_view), *primepre.urls.urlpatterns]
handler500 = primepre.urls.handler500


@pytest.mark.urls(__name__)
def test_a_crash_outside_drf_under_api_is_json_with_cors_headers(settings: Any, db: None) -> None:
    settings.CORS_ALLOWED_ORIGINS = [FRONTEND_ORIGIN]
    client = Client(raise_request_exception=False)

    response = client.get("/api/test-crash/", HTTP_ORIGIN=FRONTEND_ORIGIN)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "internal"
    assert response["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN


@pytest.mark.urls(__name__)
def test_a_crash_on_a_page_outside_the_api_keeps_djangos_html_500(db: None) -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/page-crash/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
