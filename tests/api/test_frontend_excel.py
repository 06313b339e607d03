"""The Excel upload dialog's endpoints: preview, bulk-create, bulk-create-async, status and template."""

from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.imports.factories import customer_row, customer_rows
from users.models import (
    Customer,
    ImportJob,
    ImportRowError,
    ImportSource,
    ImportStatus,
    RowErrorCode,
    SmsMessage,
    SmsStatus,
    User,
)

UPLOAD = "/api/auth/customers/excel/upload/"
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
TEMPLATE = "/api/auth/customers/excel/template/"
HEADER = ["Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CANDIDATE_FIELDS = {
    "source_row_number",
    "shipping_mark",
    "shipping_mark_normalized",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_normalized",
    "region",
}


def status_url(task_id: Any) -> str:
    return f"/api/auth/customers/excel/bulk-create/status/{task_id}/"


def xlsx_file(rows: list[list[Any]], *, header: list[str] = HEADER, name: str = "customers.xlsx") -> SimpleUploadedFile:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    workbook.save(out)
    return SimpleUploadedFile(name, out.getvalue(), content_type=XLSX)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(client: APIClient, file: SimpleUploadedFile) -> Any:
    return client.post(UPLOAD, {"file": file}, format="multipart")


# --- upload ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_upload_sorts_rows_into_unique_invalid_existing_and_repeated(
    importer_client: APIClient, admin_user: User
) -> None:
    Customer.objects.create(
        shipping_mark="PM OLD", first_name="Old", last_name="Timer", phone="+233209999999", email=""
    )
    file = xlsx_file(
        [
            ["pm  new", "Ama", "Mensah", "ama@example.com", "0241234567", "ashanti"],  # row 2: unique
            ["", "Kofi", "Boateng", "", "12", ""],  # row 3: two problems
            ["PM OTHER", "Yaw", "Old", "", "020 999 9999", ""],  # row 4: phone of PM OLD
            ["PM NEW", "Esi", "Again", "", "0551234567", ""],  # row 5: repeats row 2's mark
        ]
    )

    response = upload(importer_client, file)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["message"]
    parsing, duplicates = body["parsing_results"], body["duplicate_results"]
    assert parsing["total_rows"] == 4
    assert [row["source_row_number"] for row in parsing["candidates"]] == [2, 4, 5]
    assert parsing["valid_candidates"] == 3

    assert duplicates["unique_candidates"] == [
        {
            "source_row_number": 2,
            "shipping_mark": "pm new",  # as typed, spaces folded
            "shipping_mark_normalized": "PM NEW",
            "first_name": "Ama",
            "last_name": "Mensah",
            "email": "ama@example.com",
            "phone": "0241234567",
            "phone_normalized": "+233241234567",
            "region": "ASHANTI",
        }
    ]

    [invalid] = parsing["invalid_rows"]
    assert invalid["source_row_number"] == 3
    assert "shipping mark is empty" in invalid["reason"] and "phone" in invalid["reason"].lower()
    assert invalid["raw_data"]["First Name"] == "Kofi"
    assert {error["code"] for error in invalid["errors"]} == {"mark_missing", "phone_invalid"}

    [existing] = duplicates["existing_duplicates"]
    assert existing["candidate"]["source_row_number"] == 4 and existing["candidate"]["shipping_mark"] == "PM OTHER"
    assert existing["reason"]
    assert [customer["shipping_mark"] for customer in existing["existing_customers"]] == ["PM OLD"]

    [repeated] = duplicates["batch_duplicates"]
    assert repeated["candidate"]["source_row_number"] == 5 and repeated["reason"]
    assert repeated["duplicate_of_row"] == 2


@pytest.mark.django_db
def test_upload_creates_no_customers_and_keeps_a_validated_job_as_upload_id(
    importer_client: APIClient, admin_user: User
) -> None:
    response = upload(importer_client, xlsx_file([["PM 1", "Ama", "Mensah", "", "0241234567", ""]]))

    job = ImportJob.objects.get(id=response.json()["upload_id"])
    assert (job.status, job.dry_run, job.created_by) == (ImportStatus.VALIDATED, True, admin_user)
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_a_file_whose_rows_are_all_invalid_still_answers_200_with_every_row(importer_client: APIClient) -> None:
    rows = [[f"PM {n}", "Ama", "", "", "not a phone", ""] for n in range(1, 8)]

    response = upload(importer_client, xlsx_file(rows))

    assert response.status_code == 200, "the old service answered 500 here and the dialog showed nothing"
    body = response.json()
    assert [row["source_row_number"] for row in body["parsing_results"]["invalid_rows"]] == list(range(2, 9))
    assert body["duplicate_results"]["unique_candidates"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("file", "code"),
    [
        (SimpleUploadedFile("scan.xlsx", b"%PDF-1.4\n1 0 obj", content_type=XLSX), "unsupported_type"),
        (SimpleUploadedFile("cut.xlsx", b"PK\x03\x04" + b"cut short" * 20, content_type=XLSX), "damaged"),
        (SimpleUploadedFile("empty.xlsx", b"", content_type=XLSX), "empty"),
    ],
    ids=["a-pdf", "damaged", "empty"],
)
def test_a_file_that_is_not_a_usable_spreadsheet_is_a_json_400(
    admin_client: APIClient, file: SimpleUploadedFile, code: str
) -> None:
    response = upload(admin_client, file)

    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["code"]) == (False, code)
    assert body["message"]


@pytest.mark.django_db
def test_a_sheet_without_the_phone_column_is_a_json_400_naming_it(importer_client: APIClient) -> None:
    file = xlsx_file([["PM 1", "Ama", "Mensah", ""]], header=["Shipping Mark", "First Name", "Last Name", "Email"])

    response = upload(importer_client, file)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "missing_columns"
    assert "Phone" in body["message"]


@pytest.mark.django_db
def test_upload_without_a_file_is_a_json_400(admin_client: APIClient) -> None:
    response = admin_client.post(UPLOAD, {}, format="multipart")

    assert response.status_code == 400
    assert response.json()["message"].startswith("file")


@pytest.mark.django_db
def test_a_file_over_the_inline_row_limit_is_refused_with_a_pointer_to_the_job_api(
    importer_client: APIClient, settings: Any
) -> None:
    settings.IMPORT_INLINE_MAX_ROWS = 3
    rows = [[r["shipping_mark"], r["first_name"], r["last_name"], "", r["phone"], ""] for r in customer_rows(5)]

    response = upload(importer_client, xlsx_file(rows))

    assert response.status_code == 413
    body = response.json()
    assert (body["success"], body["code"]) == (False, "too_large")
    assert "/api/imports/" in body["message"] or "job" in body["message"].lower()


@pytest.mark.django_db
def test_upload_refuses_a_json_body_with_415(admin_client: APIClient) -> None:
    response = admin_client.post(UPLOAD, {"file": "x"}, format="json")

    assert response.status_code == 415
    assert response.json()["success"] is False


# --- who may import ----------------------------------------------------------------------------------------------


def staff_without_add_permission() -> User:
    user = User.objects.create_user("0241000004", PASSWORD, first_name="No", last_name="Perm", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "plain", "staff-without-add", "inactive-admin"])
@pytest.mark.parametrize("path", [UPLOAD, BULK_CREATE, BULK_CREATE_ASYNC])
def test_only_active_staff_with_add_customer_may_import_and_nothing_is_touched(
    api_client: APIClient, admin_user: User, plain_user: User, who: str, path: str
) -> None:
    if who == "plain":
        api_client.force_authenticate(plain_user)
    elif who == "staff-without-add":
        api_client.force_authenticate(staff_without_add_permission())
    elif who == "inactive-admin":
        admin_user.is_active = False
        admin_user.save()
        api_client.force_authenticate(admin_user)
    if path == UPLOAD:
        response = api_client.post(path, {"file": xlsx_file([["PM 1", "A", "B", "", "0241234567", ""]])})
    else:
        response = api_client.post(path, {"customers": customer_rows(2)}, format="json")

    assert response.status_code == (401 if who == "anonymous" else 403)
    assert response.json()["success"] is False
    assert not ImportJob.objects.exists() and not Customer.objects.exists()


@pytest.mark.django_db
def test_a_session_without_the_csrf_token_is_refused(admin_user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.login(phone="0241000001", password=PASSWORD)

    response = client.post(BULK_CREATE, {"customers": customer_rows(1)}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_a_session_with_the_csrf_token_may_import(admin_user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.login(phone="0241000001", password=PASSWORD)
    secret = "a" * 32  # the browser page sends the csrftoken cookie back in X-CSRFToken
    client.cookies["csrftoken"] = secret

    response = client.post(BULK_CREATE, {"customers": customer_rows(1)}, format="json", HTTP_X_CSRFTOKEN=secret)

    assert response.status_code == 201, response.content
    assert Customer.objects.count() == 1


# --- bulk-create -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_create_answers_201_with_created_and_failed_rows(admin_client: APIClient, admin_user: User) -> None:
    customers = [customer_row(1), customer_row(2, phone="12345"), customer_row(3)]

    response = admin_client.post(BULK_CREATE, {"customers": customers}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["success"], body["total_attempted"], body["total_created"], body["total_failed"]) == (True, 3, 2, 1)
    created = {row["shipping_mark"]: row for row in body["created_customers"]}
    customer = Customer.objects.get(shipping_mark="PM 00001")
    assert created["PM 00001"] == {
        "id": customer.id,
        "shipping_mark": "PM 00001",
        "name": "First1 Last1",
        "email": "customer1@example.com",
        "phone": "+233240000001",
        "source_row_number": 2,
    }
    [failed] = body["failed_customers"]
    assert failed["source_row_number"] == 3
    assert failed["customer_data"]["shipping_mark"] == "PM 00002"
    assert failed["error"]
    assert customer.created_by == admin_user


@pytest.mark.django_db
def test_bulk_create_that_creates_nothing_answers_400_with_both_lists(admin_client: APIClient) -> None:
    customers = [customer_row(1, phone="x"), customer_row(2, first_name="")]

    response = admin_client.post(BULK_CREATE, {"customers": customers}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["created_customers"] == [], "the dialog reads created_customers.length unguarded"
    assert len(body["failed_customers"]) == 2
    assert (body["total_created"], body["total_failed"]) == (0, 2)


@pytest.mark.django_db
def test_bulk_create_reports_existing_customers_as_failed_not_as_an_error(admin_client: APIClient) -> None:
    admin_client.post(BULK_CREATE, {"customers": [customer_row(1)]}, format="json")

    response = admin_client.post(BULK_CREATE, {"customers": [customer_row(1), customer_row(2)]}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert [row["source_row_number"] for row in body["failed_customers"]] == [2]
    assert body["failed_customers"][0]["error"]
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_the_upload_dialogs_unique_candidates_can_be_posted_back_as_they_are(importer_client: APIClient) -> None:
    rows = [["pm  one", "Ama", "Mensah", "", "024 123 4567", "volta"], ["PM TWO", "Kofi", "Boateng", "", 241234568, ""]]
    unique = upload(importer_client, xlsx_file(rows)).json()["duplicate_results"]["unique_candidates"]

    response = importer_client.post(BULK_CREATE, {"customers": unique}, format="json")

    assert response.status_code == 201, response.content
    assert sorted(Customer.objects.values_list("shipping_mark", "phone", "region")) == [
        ("PM ONE", "+233241234567", "VOLTA"),
        ("PM TWO", "+233241234568", "GREATER_ACCRA"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"customers": []}, "empty"),
        ({}, "required"),
        ({"customers": "PM 1"}, "list"),
        ({"customers": [1]}, "not an object"),
        ({"customers": [{"shipping_mark": {"nested": 1}}]}, "shipping_mark must be text"),
        ({"customers": [{"first_name": "Ko\x00fi"}]}, "NUL"),
        ({"customers": [{"source_row_number": 0}]}, "source_row_number"),
        ({"customers": [{"source_row_number": "2"}]}, "source_row_number"),
    ],
    ids=["empty", "missing", "not-a-list", "not-objects", "nested", "nul", "row-zero", "row-text"],
)
def test_a_malformed_bulk_create_body_is_a_json_400(admin_client: APIClient, body: dict, fragment: str) -> None:
    response = admin_client.post(BULK_CREATE, body, format="json")

    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("customers") and fragment in message, message
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_keys_the_importer_does_not_read_are_ignored_whatever_they_hold(admin_client: APIClient) -> None:
    customer = {**customer_row(1), "accessible_warehouses": [{"id": 1}], "notes": None}

    response = admin_client.post(BULK_CREATE, {"customers": [customer]}, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, BULK_CREATE_ASYNC])
def test_more_customers_than_the_limit_are_refused_before_any_work(
    admin_client: APIClient, settings: Any, path: str
) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 3

    response = admin_client.post(path, {"customers": customer_rows(4)}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["code"]) == (False, "too_many_customers")
    assert "3" in body["message"] and "4" in body["message"]
    assert not ImportJob.objects.exists()


# --- bulk-create-async and status --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_create_async_queues_a_job_and_answers_202(
    admin_client: APIClient, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(BULK_CREATE_ASYNC, {"customers": customer_rows(3)}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"success", "message", "task_id", "total_customers", "estimated_time_seconds", "status"}
    assert (body["success"], body["status"], body["total_customers"]) == (True, "QUEUED", 3)
    assert body["estimated_time_seconds"] >= 1
    job = ImportJob.objects.get(id=body["task_id"])
    assert (job.source, job.status, job.created_by, job.total_rows) == (
        ImportSource.PAYLOAD,
        ImportStatus.QUEUED,
        admin_user,
        3,
    )
    assert callbacks, "the worker's task is enqueued once the job is committed"


@pytest.mark.django_db
def test_bulk_create_async_can_ask_for_welcome_texts(admin_client: APIClient) -> None:
    response = admin_client.post(
        BULK_CREATE_ASYNC, {"customers": customer_rows(2), "send_sms": True}, format="json"
    )

    assert response.status_code == 202
    assert ImportJob.objects.get(id=response.json()["task_id"]).send_sms is True


def make_job(user: User | None, **fields: Any) -> ImportJob:
    return ImportJob.objects.create(created_by=user, source=ImportSource.PAYLOAD, **fields)


@pytest.mark.django_db
def test_a_job_queued_for_long_says_which_command_runs_the_worker(admin_client: APIClient, admin_user: User) -> None:
    job = make_job(admin_user, status=ImportStatus.QUEUED, total_rows=10)
    assert admin_client.get(status_url(job.id)).json()["message"] == "Waiting for the worker to start."

    ImportJob.objects.filter(id=job.id).update(updated_at=timezone.now() - timedelta(seconds=30))

    message = admin_client.get(status_url(job.id)).json()["message"]
    assert "python manage.py run_worker" in message, message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("job_status", "dry_run", "shown"),
    [
        (ImportStatus.QUEUED, False, "QUEUED"),
        (ImportStatus.VALIDATING, False, "RUNNING"),
        (ImportStatus.RUNNING, False, "RUNNING"),
        (ImportStatus.VALIDATED, False, "RUNNING"),
        (ImportStatus.VALIDATED, True, "COMPLETE"),
        (ImportStatus.COMPLETE, False, "COMPLETE"),
        (ImportStatus.FAILED, False, "FAILED"),
        (ImportStatus.CANCELLED, False, "FAILED"),
    ],
)
def test_status_maps_the_jobs_statuses_onto_the_four_the_frontend_knows(
    admin_client: APIClient, admin_user: User, job_status: str, dry_run: bool, shown: str
) -> None:
    job = make_job(admin_user, status=job_status, dry_run=dry_run, total_rows=10)

    response = admin_client.get(status_url(job.id))

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["job_status"]) == (shown, job_status)
    assert (body["is_complete"], body["is_failed"], body["success"]) == (
        shown == "COMPLETE",
        shown == "FAILED",
        shown != "FAILED",
    )
    assert body["message"]


@pytest.mark.django_db
def test_status_reports_counts_progress_and_at_most_100_errors(admin_client: APIClient, admin_user: User) -> None:
    job = make_job(
        admin_user,
        status=ImportStatus.RUNNING,
        total_rows=400,
        processed_rows=200,
        created_count=70,
        failed_count=120,
        skipped_count=10,
    )
    ImportRowError.objects.bulk_create(
        ImportRowError(job=job, row_number=n, code=RowErrorCode.PHONE_INVALID, reason=f"Row {n} is bad")
        for n in range(2, 132)
    )

    body = admin_client.get(status_url(job.id)).json()

    expected_keys = {"task_id", "status", "success", "message", "created", "failed", "total_customers"}
    expected_keys |= {"progress_percent", "errors", "updated_at", "is_complete", "is_failed"}
    assert expected_keys <= set(body)
    assert (body["task_id"], body["created"], body["failed"], body["total_customers"]) == (str(job.id), 70, 130, 400)
    assert body["progress_percent"] == 50.0
    assert len(body["errors"]) == 100
    assert body["errors"][0] == {
        "source_row_number": 2,
        "column": "",
        "value": "",
        "code": "phone_invalid",
        "error": "Row 2 is bad",
        "outcome": "FAILED",
    }


@pytest.mark.django_db
def test_a_failed_jobs_status_carries_its_error_for_the_dialog(admin_client: APIClient, admin_user: User) -> None:
    job = make_job(
        admin_user, status=ImportStatus.FAILED, error_code="internal", error_message="The database went away."
    )

    body = admin_client.get(status_url(job.id)).json()

    assert (body["status"], body["error"], body["message"]) == ("FAILED", "The database went away.", body["error"])


@pytest.mark.django_db
def test_status_counts_the_welcome_texts_of_a_job_that_sends_them(admin_client: APIClient, admin_user: User) -> None:
    job = make_job(admin_user, status=ImportStatus.COMPLETE, send_sms=True, total_rows=2, created_count=2)
    for n, sms_status in enumerate([SmsStatus.SENT, SmsStatus.FAILED], start=1):
        customer = Customer.objects.create(
            shipping_mark=f"PM {n}", first_name="A", last_name="B", phone=f"+23324000000{n}", import_job=job
        )
        SmsMessage.objects.create(customer=customer, import_job=job, to=customer.phone, body="Hi", status=sms_status)

    sms = admin_client.get(status_url(job.id)).json()["sms"]

    assert (sms["sent"], sms["failed"], sms["total"]) == (1, 1, 2)


@pytest.mark.django_db
def test_status_has_no_sms_counts_for_a_job_that_sends_no_texts(admin_client: APIClient, admin_user: User) -> None:
    job = make_job(admin_user, status=ImportStatus.COMPLETE)

    assert admin_client.get(status_url(job.id)).json()["sms"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("task_id", ["7b0d7c1e-3f1a-4c55-9d7e-000000000000", "not-a-uuid"])
def test_an_unknown_task_is_a_404_with_status_not_found(admin_client: APIClient, task_id: str) -> None:
    response = admin_client.get(status_url(task_id))

    assert response.status_code == 404
    body = response.json()
    assert (body["status"], body["success"]) == ("NOT_FOUND", False)


@pytest.mark.django_db
def test_someone_elses_task_is_a_403_with_status_forbidden_for_a_non_staff_user(
    api_client: APIClient, admin_user: User, plain_user: User
) -> None:
    job = make_job(admin_user, status=ImportStatus.RUNNING)
    api_client.force_authenticate(plain_user)

    response = api_client.get(status_url(job.id))

    assert response.status_code == 403
    assert response.json()["status"] == "FORBIDDEN"


@pytest.mark.django_db
def test_a_superuser_may_follow_anyones_task(api_client: APIClient, admin_user: User, superuser: User) -> None:
    job = make_job(admin_user, status=ImportStatus.COMPLETE)
    api_client.force_authenticate(superuser)

    assert api_client.get(status_url(job.id)).status_code == 200


@pytest.mark.django_db
def test_status_without_credentials_is_a_json_401(api_client: APIClient, admin_user: User) -> None:
    job = make_job(admin_user)

    response = api_client.get(status_url(job.id))

    assert response.status_code == 401
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_status_is_a_handful_of_queries(
    admin_client: APIClient, admin_user: User, django_assert_max_num_queries: Any
) -> None:
    job = make_job(admin_user, status=ImportStatus.RUNNING, total_rows=10)

    with django_assert_max_num_queries(5):  # permissions (2), the job, its first errors
        admin_client.get(status_url(job.id))


# --- template ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_template_is_an_xlsx_with_the_six_columns_samples_and_instructions(admin_client: APIClient) -> None:
    from openpyxl import load_workbook

    response = admin_client.get(TEMPLATE)

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert 'filename="customer_upload_template.xlsx"' in response["Content-Disposition"]
    workbook = load_workbook(BytesIO(response.content))
    assert workbook.sheetnames == ["Customers", "Instructions"]
    rows = list(workbook["Customers"].iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 4, "a header and three sample rows"
    assert workbook["Customers"].column_dimensions["E"].number_format == "@", "phones keep their leading 0"
    instructions = " ".join(str(cell) for row in workbook["Instructions"].iter_rows(values_only=True) for cell in row)
    assert "Shipping Mark" in instructions and "Delete the three sample rows" in instructions


@pytest.mark.django_db
def test_the_templates_sample_rows_pass_the_importers_checks(importer_client: APIClient) -> None:
    template = importer_client.get(TEMPLATE).content

    response = upload(importer_client, SimpleUploadedFile("template.xlsx", template, content_type=XLSX))

    body = response.json()
    assert body["parsing_results"]["invalid_rows"] == []
    assert [row["shipping_mark_normalized"] for row in body["duplicate_results"]["unique_candidates"]] == [
        "PM SAMPLE 1",
        "PM SAMPLE 2",
        "PM SAMPLE 3",
    ]


@pytest.mark.django_db
def test_the_template_needs_a_signed_in_staff_member(api_client: APIClient, plain_user: User) -> None:
    assert api_client.get(TEMPLATE).status_code == 401
    api_client.force_authenticate(plain_user)
    assert api_client.get(TEMPLATE).status_code == 403
