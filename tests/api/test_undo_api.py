"""The undo endpoint: what it answers, who may use it, what the job shows afterwards, and two clicks at once."""

import threading
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.imports.factories import customer_rows
from tests.workers import run_worker_until_idle
from users.imports.services import import_job_create_from_payload
from users.models import Customer, ImportJob, ImportStatus, User

pytestmark = [pytest.mark.django_db(transaction=True)]


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def undoer(admin_user: User) -> User:
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    return User.objects.get(pk=admin_user.pk)


@pytest.fixture
def finished_import(undoer: User) -> ImportJob:
    job = import_job_create_from_payload(user=undoer, customers=customer_rows(6))
    run_worker_until_idle(timeout=120)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETE
    return job


def url(job: ImportJob, suffix: str = "") -> str:
    return f"/api/imports/{job.id}/{suffix}"


def test_preview_then_undo_then_the_job_shows_who_undid_it_when_and_what_it_did(
    undoer: User, finished_import: ImportJob
) -> None:
    client = client_for(undoer)
    preview = client.get(url(finished_import, "undo/")).json()
    assert preview == {
        "to_delete": 6,
        "to_restore": 0,
        "changed_since": 0,
        "texts_sent": 0,
        "allowed": True,
        "code": "",
        "message": "",
    }

    answer = client.post(url(finished_import, "undo/"))
    assert answer.status_code == 202, answer.json()
    undo = answer.json()
    assert (undo["source"], undo["undoes"], undo["status"]) == ("UNDO", str(finished_import.id), "QUEUED")
    run_worker_until_idle(timeout=120)

    detail = client.get(url(finished_import)).json()
    assert detail["links"]["undo"] == url(finished_import, "undo/")
    shown = detail["undo"]
    assert (shown["id"], shown["status"], shown["undone_by"], shown["undone_by_name"]) == (
        undo["id"],
        "COMPLETE",
        undoer.pk,
        "Ama Admin",
    )
    assert shown["finished_at"] and shown["requested_at"], "when it was undone"
    assert (shown["deleted"], shown["restored"], shown["kept_changed_since"], shown["kept_referenced"]) == (6, 0, 0, 0)
    assert Customer.objects.count() == 0
    listed = client.get("/api/imports/").json()["results"]
    assert [job["id"] for job in listed] == [str(finished_import.id)], "the undo shows on its import, not in the list"
    assert listed[0]["undo"]["status"] == "COMPLETE", "and the history shows it"

    again = client.post(url(finished_import, "undo/"))
    assert (again.status_code, again.json()["code"]) == (409, "already_undone")
    assert client.get(url(finished_import, "undo/")).json()["allowed"] is False


def test_undo_without_the_delete_customer_permission_is_a_403_and_nothing_changes(
    admin_user: User, finished_import: ImportJob
) -> None:
    admin_user.user_permissions.remove(Permission.objects.get(codename="delete_customer"))
    answer = client_for(User.objects.get(pk=admin_user.pk)).post(url(finished_import, "undo/"))
    assert (answer.status_code, answer.json()["code"]) == (403, "permission_denied")
    assert Customer.objects.count() == 6 and not ImportJob.objects.filter(undoes=finished_import).exists()


def test_another_users_import_answers_404(finished_import: ImportJob) -> None:
    stranger = User.objects.create_user("0241000077", "pw", is_staff=True)
    stranger.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_customer", "change_customer", "delete_customer"])
    )
    assert client_for(stranger).post(url(finished_import, "undo/")).status_code == 404


def test_the_job_detail_still_costs_one_query_for_the_job_with_its_undo(
    undoer: User, finished_import: ImportJob
) -> None:
    client = client_for(undoer)
    assert client.post(url(finished_import, "undo/")).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(finished_import)).json()["undo"]["status"] == "QUEUED"
    job_queries = [q["sql"] for q in queries if '"users_importjob"' in q["sql"]]
    assert len(job_queries) == 1, "\n".join(job_queries)


def test_two_undos_at_once_one_runs_and_the_other_is_refused(undoer: User, finished_import: ImportJob) -> None:
    start = threading.Barrier(2)
    answers: list[Any] = []

    def click() -> None:
        try:
            client = client_for(undoer)
            start.wait()
            answers.append(client.post(url(finished_import, "undo/")))
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202, 409], [answer.json() for answer in answers]
    refused = next(answer.json() for answer in answers if answer.status_code == 409)
    assert refused["code"] in {"undo_in_progress", "already_undone"}
    assert ImportJob.objects.filter(undoes=finished_import).count() == 1, "one undo job"
    run_worker_until_idle(timeout=120)
    assert Customer.objects.count() == 0
