"""Least privilege over HTTP with real JWTs: each option that reaches further than importing needs its own right.

- an existing customer's name, email and phone: users.view_customer (the preview, the job's row errors)
- on_duplicate=update: users.change_customer, on every way in
- welcome texts: users.send_welcome_sms (the frontend's default asks for none)
- seeing every job (users.view_all_importjobs) is not a licence to commit or cancel it
- the frontend's task status: what importing needs
"""

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.conftest import PASSWORD
from tests.imports.factories import customer_rows
from users.models import Customer, ImportJob, ImportRowError, ImportStatus, RowErrorCode, RowOutcome, User, UserRole

pytestmark = pytest.mark.django_db

JOBS = "/api/imports/"
PREVIEW = "/api/auth/customers/excel/upload/"
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
HEADER = ("Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    # PBKDF2 costs ~0.3 s per user; these tests are about permissions, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


def staff(phone: str, *codenames: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        phone, PASSWORD, first_name="Staff", last_name=phone[-2:], user_role=UserRole.STAFF, is_staff=True
    )
    if superuser:
        User.objects.filter(pk=user.pk).update(is_superuser=True)
        user.refresh_from_db()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def bearer(user: User) -> APIClient:
    """Signed in as a client signs in: a real access token, checked by the real authentication and permissions."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def importer(db: None) -> User:
    """May import and nothing more: no customer details, no updates, no texts."""
    return staff("0241000011", "add_customer")


@pytest.fixture
def viewer(db: None) -> User:
    """Oversight: imports too, and sees every user's jobs, but may not read customers' details."""
    return staff("0241000012", "add_customer", "view_all_importjobs")


def xlsx(rows: list[tuple[str, ...]], name: str = "customers.xlsx") -> SimpleUploadedFile:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return SimpleUploadedFile(name, out.getvalue(), content_type=XLSX)


@pytest.fixture
def existing() -> Customer:
    return Customer.objects.create(
        shipping_mark="PM OLD", first_name="Abena", last_name="Secret", email="abena@private.example",
        phone="+233209999999",
    )  # fmt: skip


# Row 2 shares the existing customer's phone, typed in local form.
MATCHING_ROW = ("PM NEW", "Yaw", "Typed", "", "020 999 9999", "")


# --- the upload preview: an existing customer's details ---------------------------------------------------------


def test_preview_hides_an_existing_customers_details_from_an_importer_who_may_not_view_customers(
    importer: User, existing: Customer
) -> None:
    response = bearer(importer).post(PREVIEW, {"file": xlsx([MATCHING_ROW])}, format="multipart")

    assert response.status_code == 200, response.content
    [match] = response.json()["duplicate_results"]["existing_duplicates"]
    assert match["existing_customers"] == [
        {"id": existing.id, "shipping_mark": "PM OLD", "name": "", "email": "", "phone": ""}
    ], "the match (id and mark) is shown, the person's details are not"
    assert "Abena" not in response.content.decode() and "private.example" not in response.content.decode()
    assert match["candidate"]["phone"] == "020 999 9999", "the row as the importer typed it is theirs to see"


def test_preview_shows_an_existing_customers_details_to_staff_who_may_view_customers(
    admin_user: User, existing: Customer
) -> None:
    response = bearer(admin_user).post(PREVIEW, {"file": xlsx([MATCHING_ROW])}, format="multipart")

    [match] = response.json()["duplicate_results"]["existing_duplicates"]
    assert match["existing_customers"] == [
        {
            "id": existing.id,
            "shipping_mark": "PM OLD",
            "name": "Abena Secret",
            "email": "abena@private.example",
            "phone": "+233209999999",
        }
    ]


# --- on_duplicate=update needs users.change_customer ----------------------------------------------------------


@pytest.mark.parametrize("url", [JOBS, PREVIEW], ids=["job API", "frontend preview"])
def test_updating_existing_customers_without_change_customer_is_a_403_that_stores_nothing(
    importer: User, media_root: Path, url: str
) -> None:
    response = bearer(importer).post(url, {"file": xlsx([MATCHING_ROW]), "on_duplicate": "update"}, format="multipart")

    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "permission_denied" and "change customers" in body["message"]
    assert not ImportJob.objects.exists() and not any(media_root.rglob("*.*")), "a refusal leaves no trace"


def test_skipping_existing_customers_needs_no_more_than_importing(importer: User) -> None:
    response = bearer(importer).post(JOBS, {"file": xlsx([MATCHING_ROW]), "on_duplicate": "skip"}, format="multipart")

    assert response.status_code == 202, response.content


def test_staff_with_change_customer_may_update(admin_user: User) -> None:
    response = bearer(admin_user).post(
        JOBS, {"file": xlsx([MATCHING_ROW]), "on_duplicate": "update"}, format="multipart"
    )

    assert response.status_code == 202 and response.json()["on_duplicate"] == "update"


def test_committing_an_update_after_losing_change_customer_is_refused(admin_user: User) -> None:
    job = ImportJob.objects.create(
        created_by=admin_user, status=ImportStatus.VALIDATED, dry_run=True, on_duplicate="update"
    )
    admin_user.user_permissions.remove(Permission.objects.get(codename="change_customer"))

    response = bearer(User.objects.get(pk=admin_user.pk)).post(f"{JOBS}{job.id}/commit/")

    assert response.status_code == 403 and "change customers" in response.json()["message"]
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATED, "the job waits, untouched, for someone allowed to commit it"


def test_the_command_line_refuses_an_update_for_a_user_without_change_customer(importer: User, tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    path.write_bytes(xlsx([MATCHING_ROW]).read())

    with pytest.raises(CommandError, match="change customers"):
        call_command("import_customers", str(path), "--on-duplicate", "update", "--user", importer.phone)
    assert not ImportJob.objects.exists()


# --- welcome texts need users.send_welcome_sms ------------------------------------------------------------------


def test_asking_the_job_api_for_texts_without_the_sms_permission_is_a_403(importer: User) -> None:
    response = bearer(importer).post(JOBS, {"file": xlsx([MATCHING_ROW]), "send_sms": "true"}, format="multipart")

    assert response.status_code == 403 and "send_welcome_sms" in response.json()["message"]
    assert not ImportJob.objects.exists()


def test_asking_bulk_create_async_for_texts_without_the_sms_permission_is_a_403(importer: User) -> None:
    response = bearer(importer).post(
        BULK_CREATE_ASYNC, {"customers": customer_rows(2), "send_sms": True}, format="json"
    )

    assert response.status_code == 403 and "send_welcome_sms" in response.json()["message"]
    assert not ImportJob.objects.exists()


def test_the_frontends_bulk_create_async_asks_for_no_texts_so_an_importer_without_the_permission_is_served(
    importer: User,
) -> None:
    """The React dialog posts {"customers": [...]} and nothing else (frontend/src/.../CustomerExcelUploadDialog)."""
    client = bearer(importer)
    queued = client.post(BULK_CREATE_ASYNC, {"customers": customer_rows(2)}, format="json")

    assert queued.status_code == 202, queued.content
    status = client.get(f"/api/auth/customers/excel/bulk-create/status/{queued.json()['task_id']}/")
    assert status.status_code == 200 and status.json()["sms"] is None


# --- seeing every job is not controlling it ---------------------------------------------------------------------


@pytest.fixture
def someone_elses_validated_job(admin_user: User) -> ImportJob:
    return ImportJob.objects.create(created_by=admin_user, status=ImportStatus.VALIDATED, dry_run=True, total_rows=3)


@pytest.mark.parametrize("action", ["commit/", "cancel/"])
def test_a_job_you_may_see_but_do_not_own_answers_403_with_a_sentence_and_is_untouched(
    viewer: User, someone_elses_validated_job: ImportJob, action: str
) -> None:
    client = bearer(viewer)
    assert client.get(f"{JOBS}{someone_elses_validated_job.id}/").status_code == 200, "following it is allowed"

    response = client.post(f"{JOBS}{someone_elses_validated_job.id}/{action}")

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert "Only the person who" in response.json()["message"]
    someone_elses_validated_job.refresh_from_db()
    assert (someone_elses_validated_job.status, someone_elses_validated_job.dry_run) == (ImportStatus.VALIDATED, True)


@pytest.mark.parametrize("action", ["commit/", "cancel/"])
def test_a_job_you_may_not_see_stays_404(importer: User, someone_elses_validated_job: ImportJob, action: str) -> None:
    response = bearer(importer).post(f"{JOBS}{someone_elses_validated_job.id}/{action}")

    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_superuser_may_cancel_anyones_import_as_the_emergency_brake(
    someone_elses_validated_job: ImportJob,
) -> None:
    root = staff("0241000019", superuser=True)

    response = bearer(root).post(f"{JOBS}{someone_elses_validated_job.id}/cancel/")

    assert response.status_code == 202 and response.json()["status"] == ImportStatus.CANCELLED


def test_a_superuser_may_not_commit_someone_elses_import(someone_elses_validated_job: ImportJob) -> None:
    root = staff("0241000019", superuser=True)

    response = bearer(root).post(f"{JOBS}{someone_elses_validated_job.id}/commit/")

    assert response.status_code == 403, "a commit writes customers with the owner's choices, in the owner's name"
    someone_elses_validated_job.refresh_from_db()
    assert someone_elses_validated_job.status == ImportStatus.VALIDATED


# --- the job's row errors: an existing customer's details ------------------------------------------------------


@pytest.fixture
def job_with_a_skipped_match(admin_user: User, existing: Customer) -> ImportJob:
    job = ImportJob.objects.create(created_by=admin_user, status=ImportStatus.COMPLETE, total_rows=2, skipped_count=1)
    ImportRowError.objects.create(
        job=job,
        row_number=2,
        outcome=RowOutcome.SKIPPED,
        column="Phone Number",
        value="+233209999999",
        code=RowErrorCode.ALREADY_EXISTS,
        reason=f"A customer with this phone number already exists (id {existing.id}, mark PM OLD).",
        raw_data=dict(
            zip(HEADER, ("PM NEW", "Abena", "Secret", "abena@private.example", "020 999 9999", ""), strict=True)
        ),
        existing_customer_id=existing.id,
    )
    return job


def test_row_errors_hide_a_matched_customers_details_from_a_viewer_who_may_not_view_customers(
    viewer: User, job_with_a_skipped_match: ImportJob, existing: Customer
) -> None:
    client = bearer(viewer)
    [first] = client.get(f"{JOBS}{job_with_a_skipped_match.id}/").json()["first_errors"]
    [listed] = client.get(f"{JOBS}{job_with_a_skipped_match.id}/errors/").json()["results"]
    status = client.get(f"/api/auth/customers/excel/bulk-create/status/{job_with_a_skipped_match.id}/").json()

    assert (first["existing_customer_id"], first["value"]) == (existing.id, "")
    assert "PM OLD" in first["reason"], "which customer it matched (id and mark) is still said"
    assert listed["raw_data"] == {"Shipping Mark": "PM NEW", "First Name": "", "Last Name": "", "Email": "",
                                  "Phone Number": "", "Region": ""}  # fmt: skip
    assert status["errors"][0]["value"] == ""


def test_the_error_report_of_someone_elses_import_needs_view_customer(
    viewer: User, job_with_a_skipped_match: ImportJob
) -> None:
    response = bearer(viewer).get(f"{JOBS}{job_with_a_skipped_match.id}/errors.csv")

    assert response.status_code == 403 and "view customers" in response.json()["message"]


def test_the_owner_and_staff_who_may_view_customers_see_the_rows_as_typed(
    admin_user: User, job_with_a_skipped_match: ImportJob
) -> None:
    overseer = staff("0241000013", "add_customer", "view_all_importjobs", "view_customer")
    for user in (admin_user, overseer):
        [row] = bearer(user).get(f"{JOBS}{job_with_a_skipped_match.id}/errors/").json()["results"]
        assert row["raw_data"]["Email"] == "abena@private.example", user
        assert bearer(user).get(f"{JOBS}{job_with_a_skipped_match.id}/errors.csv").status_code == 200


# --- the frontend's task status ---------------------------------------------------------------------------------


def test_task_status_needs_what_importing_needs(admin_user: User) -> None:
    job = ImportJob.objects.create(created_by=admin_user, status=ImportStatus.RUNNING)
    logged_in_staff = staff("0241000014")  # staff, but may not import
    url = f"/api/auth/customers/excel/bulk-create/status/{job.id}/"

    refused = bearer(logged_in_staff).get(url)
    served = bearer(admin_user).get(url)

    assert refused.status_code == 403 and refused.json()["status"] == "FORBIDDEN", refused.content
    assert "add customers" in refused.json()["message"]
    assert served.status_code == 200 and served.json()["task_id"] == str(job.id), "the user who queued it polls on"


def test_task_status_of_an_account_that_is_no_longer_staff_is_refused(admin_user: User) -> None:
    job = ImportJob.objects.create(created_by=admin_user, status=ImportStatus.RUNNING)
    client = bearer(admin_user)
    User.objects.filter(pk=admin_user.pk).update(is_staff=False)

    response = client.get(f"/api/auth/customers/excel/bulk-create/status/{job.id}/")

    assert response.status_code == 403 and response.json()["status"] == "FORBIDDEN"


def test_bulk_create_sync_still_creates_for_an_importer_without_extra_rights(importer: User) -> None:
    response = bearer(importer).post(BULK_CREATE, {"customers": customer_rows(2)}, format="json")

    assert response.status_code == 201 and response.json()["total_created"] == 2
