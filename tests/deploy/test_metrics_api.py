"""GET /api/admin/metrics: on-call staff only, JWT or session, memory per process, jobs and queue depth."""

import os

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import PASSWORD
from users.models import ImportJob, ImportStatus, User, UserRole

URL = "/api/admin/metrics"


@pytest.fixture
def on_call(db: None) -> User:
    """Staff with users.view_service_metrics and nothing else: may see the metrics, not a single customer."""
    user = User.objects.create_user("0241000007", PASSWORD, user_role=UserRole.STAFF, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_service_metrics"))
    return user


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def admin_client(on_call: User) -> APIClient:
    return bearer(on_call)


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
    assert body["queue_depth"] == 1 and body["queue_depth_by_queue"] == {"default": 1}
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
def test_a_jwt_bearer_token_is_enough(on_call: User) -> None:
    assert bearer(on_call).get(URL).status_code == 200


@pytest.mark.django_db
def test_a_session_cookie_is_enough(client: Client, on_call: User) -> None:
    client.post("/accounts/login/", {"username": on_call.phone, "password": PASSWORD})
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_an_importer_without_the_metrics_permission_gets_403_with_a_sentence(admin_user: User) -> None:
    response = bearer(admin_user).get(URL)
    assert response.status_code == 403, "importing customers is no reason to see the service's processes"
    assert "metrics" in response.json()["message"]


@pytest.mark.django_db
def test_a_superuser_sees_the_metrics_without_being_granted_anything(superuser: User) -> None:
    assert bearer(superuser).get(URL).status_code == 200


@pytest.mark.django_db
def test_the_metrics_permission_without_staff_status_is_refused(on_call: User) -> None:
    User.objects.filter(pk=on_call.pk).update(is_staff=False)
    assert bearer(on_call).get(URL).status_code == 403


@pytest.mark.django_db
def test_only_get_is_allowed(admin_client: APIClient) -> None:
    assert admin_client.post(URL).status_code == 405
