"""GET /api/admin/metrics (#7 item 4): staff only, JWT or session, memory per process, jobs and queue depth."""

import os

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from users.models import ImportJob, ImportStatus, User

URL = "/api/admin/metrics"


@pytest.mark.django_db
def test_staff_see_memory_per_process_running_imports_and_queue_depth(admin_client: APIClient) -> None:
    from users.imports.tasks import run_import_job

    running = ImportJob.objects.create(status=ImportStatus.RUNNING, total_rows=1000, processed_rows=400)
    ImportJob.objects.create(status=ImportStatus.COMPLETE, total_rows=10, processed_rows=10)
    run_import_job.enqueue(str(running.id))

    body = admin_client.get(URL).json()

    assert body["current_pid"] == os.getpid()
    everyone = [
        *body["processes"]["web_workers"],
        *body["processes"]["task_workers"],
        *body["processes"]["other"],
    ]
    [me] = [process for process in everyone if process["current"]]
    assert me["pid"] == os.getpid() and me["rss_mb"] > 0
    assert [(job["id"], job["processed_rows"], job["total_rows"]) for job in body["running_jobs"]] == [
        (str(running.id), 400, 1000)
    ], "only running imports are listed"
    assert body["queue_depth"] == 1 and body["queue_depth_by_queue"] == {"imports": 1}
    assert body["memory_warning_mb"] > 0 and body["total_rss_mb"] >= me["rss_mb"] and body["database_error"] == ""


@pytest.mark.django_db
def test_a_signed_in_user_who_is_not_staff_gets_403_json(api_client: APIClient, plain_user: User) -> None:
    api_client.force_authenticate(plain_user)
    response = api_client.get(URL)
    assert response.status_code == 403
    assert response.json()["success"] is False and response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_an_anonymous_request_gets_401_json(api_client: APIClient) -> None:
    response = api_client.get(URL)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_jwt_bearer_token_is_enough(api_client: APIClient, admin_user: User) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(admin_user)}")
    assert api_client.get(URL).status_code == 200


@pytest.mark.django_db
def test_a_session_cookie_is_enough(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_only_get_is_allowed(admin_client: APIClient) -> None:
    assert admin_client.post(URL).status_code == 405
