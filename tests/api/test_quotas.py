"""Quotas over HTTP with real JWTs: active jobs per user (429) and bytes of uploads on disk (507).

And the races: uploads sent at the same moment, each in its own thread with its
own database connection, can't share the last slot.
"""

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.conftest import PASSWORD
from tests.imports.factories import customer_rows
from users.models import ImportJob, ImportStatus, StoredFile, User, UserRole

JOBS = "/api/imports/"
PREVIEW = "/api/auth/customers/excel/upload/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
CSV_HEADER = "Shipping Mark,First Name,Last Name,Email,Phone Number,Region\n"
KB = 1024


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IMPORT_MAX_ACTIVE_JOBS_PER_USER = 3
    return settings.MEDIA_ROOT


def importer(phone: str) -> User:
    user = User.objects.create_user(phone, PASSWORD, user_role=UserRole.STAFF, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_customer"))
    return user


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def csv_file(size: int = 0, name: str = "customers.csv") -> SimpleUploadedFile:
    """A valid one-customer CSV, padded with blank lines to `size` bytes (the reader skips them)."""
    body = CSV_HEADER + "PM 1,Ama,Mensah,,0241234567,Ashanti\n"
    return SimpleUploadedFile(name, (body + "\n" * max(0, size - len(body))).encode(), content_type="text/csv")


def stored_files(media_root: Path) -> list[str]:
    """Every stored upload: in the database (where they go) and on the local disk (where they must not)."""
    on_disk = [str(path) for path in media_root.rglob("*") if path.is_file()]
    return sorted([*StoredFile.objects.values_list("name", flat=True), *on_disk])


def active_jobs(user: User, count: int, status: str = ImportStatus.QUEUED) -> None:
    for _ in range(count):
        ImportJob.objects.create(created_by=user, status=status, original_filename="waiting.csv")


# --- active jobs per user ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fourth_waiting_or_running_upload_is_a_json_429_with_a_sentence_and_stores_nothing(
    media_root: Path,
) -> None:
    user = importer("0241000041")
    active_jobs(user, 1, ImportStatus.QUEUED)
    active_jobs(user, 1, ImportStatus.VALIDATING)
    active_jobs(user, 1, ImportStatus.RUNNING)

    response = bearer(user).post(JOBS, {"file": csv_file()}, format="multipart")

    assert response.status_code == 429, response.content
    body = response.json()
    assert (body["success"], body["code"]) == (False, "too_many_active_imports")
    assert "3 imports waiting or running" in body["message"] and "cancel one" in body["message"]
    assert ImportJob.objects.count() == 3 and stored_files(media_root) == [], "a refusal leaves no trace"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "payload", "fmt"),
    [
        (PREVIEW, lambda: {"file": csv_file()}, "multipart"),
        (BULK_CREATE_ASYNC, lambda: {"customers": customer_rows(2)}, "json"),
    ],
    ids=["frontend preview", "bulk-create-async"],
)
def test_the_frontends_uploads_obey_the_same_quota(url: str, payload: Callable[[], Any], fmt: str) -> None:
    user = importer("0241000042")
    active_jobs(user, 3)

    response = bearer(user).post(url, payload(), format=fmt)

    assert response.status_code == 429 and response.json()["code"] == "too_many_active_imports"
    assert ImportJob.objects.count() == 3


@pytest.mark.django_db
def test_committing_a_dry_run_at_the_quota_is_a_429_and_the_job_waits_validated() -> None:
    user = importer("0241000043")
    validated = ImportJob.objects.create(created_by=user, status=ImportStatus.VALIDATED, dry_run=True, total_rows=2)
    active_jobs(user, 3)

    response = bearer(user).post(f"{JOBS}{validated.id}/commit/")

    assert response.status_code == 429
    validated.refresh_from_db()
    assert (validated.status, validated.dry_run, validated.total_rows) == (ImportStatus.VALIDATED, True, 2)


@pytest.mark.django_db
def test_finished_and_validated_jobs_and_other_peoples_jobs_take_no_slot() -> None:
    user, someone_else = importer("0241000044"), importer("0241000045")
    for status in (ImportStatus.VALIDATED, ImportStatus.COMPLETE, ImportStatus.FAILED, ImportStatus.CANCELLED):
        active_jobs(user, 2, status)
    active_jobs(someone_else, 3)
    active_jobs(user, 2)

    response = bearer(user).post(JOBS, {"file": csv_file()}, format="multipart")

    assert response.status_code == 202, response.content


@pytest.mark.django_db
def test_cancelling_a_waiting_job_frees_its_slot() -> None:
    user = importer("0241000046")
    active_jobs(user, 3)
    client = bearer(user)
    assert client.post(JOBS, {"file": csv_file()}, format="multipart").status_code == 429

    waiting = ImportJob.objects.filter(created_by=user).first()
    assert client.post(f"{JOBS}{waiting.id}/cancel/").status_code == 202

    assert client.post(JOBS, {"file": csv_file()}, format="multipart").status_code == 202


@pytest.mark.django_db
def test_zero_switches_the_active_job_quota_off(settings: Any) -> None:
    settings.IMPORT_MAX_ACTIVE_JOBS_PER_USER = 0
    user = importer("0241000047")
    active_jobs(user, 10)

    assert bearer(user).post(JOBS, {"file": csv_file()}, format="multipart").status_code == 202


# --- bytes stored on disk ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_upload_that_would_overfill_the_storage_is_a_json_507_and_stores_nothing(
    settings: Any, media_root: Path
) -> None:
    settings.IMPORT_MAX_STORED_BYTES = 100 * KB
    user = importer("0241000048")
    client = bearer(user)
    assert client.post(JOBS, {"file": csv_file(60 * KB)}, format="multipart").status_code == 202
    before = stored_files(media_root)

    response = client.post(JOBS, {"file": csv_file(60 * KB)}, format="multipart")

    assert response.status_code == 507, response.content
    body = response.json()
    assert body["code"] == "storage_full" and "space for uploaded files is full" in body["message"]
    assert ImportJob.objects.count() == 1 and stored_files(media_root) == before


@pytest.mark.django_db
def test_deleted_uploads_no_longer_count_against_the_storage(settings: Any) -> None:
    settings.IMPORT_MAX_STORED_BYTES = 100 * KB
    user = importer("0241000049")
    client = bearer(user)
    first = client.post(JOBS, {"file": csv_file(60 * KB)}, format="multipart").json()
    ImportJob.objects.filter(id=first["id"]).update(
        status=ImportStatus.COMPLETE, file="", file_deleted_at=timezone.now()
    )  # what retention does

    assert client.post(JOBS, {"file": csv_file(60 * KB)}, format="multipart").status_code == 202


@pytest.mark.django_db
def test_the_frontend_preview_counts_against_the_storage_too(settings: Any) -> None:
    settings.IMPORT_MAX_STORED_BYTES = 10 * KB

    response = bearer(importer("0241000050")).post(PREVIEW, {"file": csv_file(20 * KB)}, format="multipart")

    assert response.status_code == 507 and not ImportJob.objects.exists()


# --- races: the last slot goes to one upload --------------------------------------------------------------------


def send_at_once(requests: list[Callable[[], int]]) -> Counter[int]:
    """Run each request in its own thread (its own database connection), released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []

    def run(send: Callable[[], int]) -> None:
        try:
            barrier.wait()
            statuses.append(send())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(send,)) for send in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return Counter(statuses)


@pytest.mark.django_db(transaction=True)
def test_eight_simultaneous_uploads_by_one_user_get_exactly_the_three_slots(media_root: Path) -> None:
    user = importer("0241000051")
    client = bearer(user)  # a token; each thread's request authenticates it on its own connection

    def upload(n: int) -> Callable[[], int]:
        return lambda: client.post(JOBS, {"file": csv_file(name=f"part-{n}.csv")}, format="multipart").status_code

    statuses = send_at_once([upload(n) for n in range(8)])

    assert statuses == Counter({202: 3, 429: 5}), statuses
    assert ImportJob.objects.filter(created_by=user).count() == 3
    assert len(stored_files(media_root)) == 3, "the refused uploads' files are deleted"


@pytest.mark.django_db(transaction=True)
def test_simultaneous_uploads_by_different_users_never_overfill_the_storage(settings: Any) -> None:
    settings.IMPORT_MAX_STORED_BYTES = 100 * KB
    users = [importer(f"02410001{n:02d}") for n in range(6)]
    clients = [bearer(user) for user in users]

    def upload(client: APIClient) -> Callable[[], int]:
        return lambda: client.post(JOBS, {"file": csv_file(30 * KB)}, format="multipart").status_code

    statuses = send_at_once([upload(client) for client in clients])

    assert statuses == Counter({202: 3, 507: 3}), statuses
    stored = sum(ImportJob.objects.values_list("file_size", flat=True))
    assert stored <= settings.IMPORT_MAX_STORED_BYTES, f"{stored} bytes stored"
