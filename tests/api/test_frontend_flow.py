"""The React frontend's whole flow, call by call as its code makes them, over real HTTP.

authStore.login → POST /api/auth/login/; initializeAuth → GET /api/auth/profile/;
the Clients page → GET /api/auth/admin/users/?user_role=CUSTOMER…;
CustomerExcelUploadDialog → template, upload (FormData), bulk-create or
bulk-create-async, then polling …/status/<task_id>/ until COMPLETE; back on the
Clients page the new customers are listed. Each credentialed call from the
frontend's origin is preceded by the browser's preflight, as a browser would
send it. The server is gunicorn and the background work is done by a real
`run_worker` process, both on this run's test database.
"""

import time
from typing import Any

import pytest

from tests.api.test_frontend_http import (
    FRONTEND_ORIGIN,
    ApiServer,
    HttpApi,
    HttpResult,
    api_server,  # noqa: F401 - a fixture
    staff,  # noqa: F401 - a fixture
    xlsx_bytes,
)
from tests.conftest import PASSWORD
from tests.workers import LiveWorker
from users.models import Customer, User

pytestmark = pytest.mark.slow

CLIENTS = "/api/auth/admin/users/?user_role=CUSTOMER&ordering=-date_joined&page=1&page_size=25"
STATUS_TIMEOUT_SECONDS = 60.0


def browser_call(api: HttpApi, method: str, path: str, **kwargs: Any) -> HttpResult:
    """A fetch() from the frontend's origin: the preflight the browser sends first, then the call itself."""
    request_headers = "authorization" if api.token else ""
    if "json_body" in kwargs:
        request_headers = ",".join(filter(None, [request_headers, "content-type"]))
    if request_headers:
        preflight = api.preflight(path, method, request_headers)
        assert 200 <= preflight.status < 300, f"preflight for {method} {path}: {preflight.status}"
        assert preflight.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN
    response = api.request(method, path, **kwargs)
    assert response.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN, f"{method} {path} lacks CORS headers"
    return response


def poll_until_finished(api: HttpApi, task_id: str, worker: LiveWorker) -> dict[str, Any]:
    """What the dialog does every 2 seconds (here every 0.2 s), until COMPLETE or FAILED."""
    seen: list[str] = []
    deadline = time.monotonic() + STATUS_TIMEOUT_SECONDS
    while True:
        response = browser_call(api, "GET", f"/api/auth/customers/excel/bulk-create/status/{task_id}/")
        assert response.status == 200, response.body
        body = response.json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in {"COMPLETE", "FAILED"}:
            body["_seen"] = seen
            return body
        assert body["status"] in {"QUEUED", "RUNNING"}, body
        if time.monotonic() > deadline:
            waited = f"{STATUS_TIMEOUT_SECONDS:.0f} s"
            pytest.fail(f"task {task_id} still {body['status']} after {waited}; worker output:\n{worker.output()}")
        time.sleep(0.2)


def sheet_rows() -> list[list[Any]]:
    return [
        ["PM FLOW 1", "Ama", "Mensah", "ama@example.com", "0241110001", "Greater Accra"],
        ["pm flow 2", "Kofi", "Boateng", "", "024 111 0002", "ashanti"],
        ["PM FLOW 3", "Esi", "Owusu", "esi@example", "0241110003", ""],  # bad email
        ["PM FLOW 1", "Yaw", "Again", "", "0241110004", ""],  # repeats row 2's mark
        ["PM EXISTING", "Old", "Customer", "", "0241110009", ""],  # already a customer
        ["PM FLOW 6", "Abena", "Asante", "", 241110006, "Volta"],  # Excel dropped the 0
    ]


def sign_in_and_open_the_clients_page(api: HttpApi) -> dict[str, Any]:
    login = browser_call(api, "POST", "/api/auth/login/", json_body={"phone": "024 100 0001", "password": PASSWORD})
    assert login.status == 200, login.body
    body = login.json()
    api.token = body["tokens"]["access"]

    profile = browser_call(api, "GET", "/api/auth/profile/").json()
    assert profile == body["user"]
    assert profile["user_role"] in {"SUPER_ADMIN", "ADMIN", "MANAGER", "STAFF"}, "or the app leaves the admin pages"

    clients = browser_call(api, "GET", CLIENTS)
    assert clients.status == 200
    return clients.json()


def upload_the_sheet(api: HttpApi) -> dict[str, Any]:
    template = browser_call(api, "GET", "/api/auth/customers/excel/template/")
    assert template.status == 200 and template.body[:2] == b"PK", "the template is an .xlsx (a zip)"

    path = "/api/auth/customers/excel/upload/"
    preflight = api.preflight(path, "POST", "authorization")  # FormData: the browser sets multipart itself
    assert 200 <= preflight.status < 300
    uploaded = api.upload(path, "customers.xlsx", xlsx_bytes(sheet_rows()))
    assert uploaded.status == 200, uploaded.body
    assert uploaded.header("Access-Control-Allow-Origin") == FRONTEND_ORIGIN
    results = uploaded.json()

    parsing, duplicates = results["parsing_results"], results["duplicate_results"]
    assert parsing["total_rows"] == 6
    assert [row["source_row_number"] for row in parsing["invalid_rows"]] == [4]
    assert [d["candidate"]["source_row_number"] for d in duplicates["batch_duplicates"]] == [5]
    assert [d["candidate"]["shipping_mark"] for d in duplicates["existing_duplicates"]] == ["PM EXISTING"]
    assert [c["shipping_mark_normalized"] for c in duplicates["unique_candidates"]] == [
        "PM FLOW 1",
        "PM FLOW 2",
        "PM FLOW 6",
    ]
    return results


def test_the_frontends_whole_flow_with_the_background_create(
    api_server: ApiServer,  # noqa: F811
    staff: User,  # noqa: F811
    settings: Any,
) -> None:
    settings.MEDIA_ROOT = api_server.media_root  # the worker reads the payload the server stored
    Customer.objects.create(shipping_mark="PM EXISTING", first_name="Old", last_name="Customer", phone="+233241110009")
    worker = LiveWorker(interval=0.2)
    try:
        api = api_server.client()
        before = sign_in_and_open_the_clients_page(api)
        assert before["count"] == 1

        results = upload_the_sheet(api)
        unique = results["duplicate_results"]["unique_candidates"]

        queued = browser_call(
            api, "POST", "/api/auth/customers/excel/bulk-create-async/", json_body={"customers": unique}
        )
        assert queued.status == 202, queued.body
        task = queued.json()
        assert (task["success"], task["status"], task["total_customers"]) == (True, "QUEUED", 3)

        finished = poll_until_finished(api, task["task_id"], worker)
        assert finished["status"] == "COMPLETE", finished
        assert (finished["created"], finished["failed"], finished["is_complete"]) == (3, 0, True)
        assert finished["_seen"][-1] == "COMPLETE"

        after = browser_call(api, "GET", CLIENTS).json()
        assert after["count"] == 4
        newest = {row["shipping_mark"]: row for row in after["results"][:3]}
        assert set(newest) == {"PM FLOW 1", "PM FLOW 2", "PM FLOW 6"}, "the newest customers come first"
        assert newest["PM FLOW 6"]["phone"] == "+233241110006"
        assert newest["PM FLOW 2"]["region"] == "ASHANTI"
        assert all(row["user_type"] == "INDIVIDUAL" and row["region"] for row in after["results"])

        searched = browser_call(api, "GET", CLIENTS + "&search=mensah").json()
        assert [row["shipping_mark"] for row in searched["results"]] == ["PM FLOW 1"]
    finally:
        worker.stop()


def test_the_frontends_flow_with_the_synchronous_create(
    api_server: ApiServer,  # noqa: F811
    staff: User,  # noqa: F811
) -> None:
    Customer.objects.create(shipping_mark="PM EXISTING", first_name="Old", last_name="Customer", phone="+233241110009")
    api = api_server.client()
    sign_in_and_open_the_clients_page(api)
    unique = upload_the_sheet(api)["duplicate_results"]["unique_candidates"]

    created = browser_call(api, "POST", "/api/auth/customers/excel/bulk-create/", json_body={"customers": unique})

    assert created.status == 201, created.body
    body = created.json()
    assert (body["total_created"], body["total_failed"], body["failed_customers"]) == (3, 0, [])
    assert {row["shipping_mark"] for row in body["created_customers"]} == {"PM FLOW 1", "PM FLOW 2", "PM FLOW 6"}
    assert browser_call(api, "GET", CLIENTS).json()["count"] == 4

    again = browser_call(api, "POST", "/api/auth/customers/excel/bulk-create/", json_body={"customers": unique})
    assert again.status == 400, "creating the same customers twice creates nothing"
    assert again.json()["created_customers"] == [] and len(again.json()["failed_customers"]) == 3
