"""Request limits with clear JSON errors (#4 item 11).

Body over 50 MB → 413; more than 50,000 form fields → 400; more than 10,000
customers → 400; a file over the upload limit → 413; an unsupported content
type → 415. Each refusal touches nothing. The real limits are used where the
request is cheap to build; the 50 MB ones are also checked on real HTTP in
test_cors.py without sending 50 MB.
"""

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.imports.factories import customer_rows
from users.models import Customer, ImportJob

MB = 1024 * 1024
UPLOAD = "/api/auth/customers/excel/upload/"
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def assert_refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["success"], body["code"]) == (False, code), body
    assert body["message"]
    assert not ImportJob.objects.exists() and not Customer.objects.exists(), "a refused request touches nothing"
    return body


@pytest.mark.django_db
def test_the_settings_carry_the_issues_limits(settings: Any) -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 50 * MB
    assert settings.IMPORT_MAX_UPLOAD_SIZE == 50 * MB
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS == 50_000
    assert settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST == 10_000
    assert settings.IMPORT_INLINE_MAX_ROWS == 10_000


@pytest.mark.django_db
def test_a_json_body_over_the_limit_is_413(admin_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    customers = customer_rows(800)  # ~130 KB of JSON

    response = admin_client.post(BULK_CREATE, {"customers": customers}, format="json")

    assert_refused(response, 413, "too_large")


@pytest.mark.django_db
def test_a_request_claiming_over_50_mb_is_refused_before_its_body_is_read(admin_client: APIClient) -> None:
    # Django's test client would send the whole body; the limit reads only Content-Length.
    response = admin_client.generic(
        "POST", BULK_CREATE, b"{}", content_type="application/json", CONTENT_LENGTH=str(50 * MB + 1)
    )

    body = assert_refused(response, 413, "too_large")
    assert "50 MB" in body["message"]


@pytest.mark.django_db
def test_a_file_over_the_upload_limit_is_413(admin_client: APIClient, settings: Any) -> None:
    settings.IMPORT_MAX_UPLOAD_SIZE = 100 * 1024
    big = SimpleUploadedFile("big.xlsx", b"x" * (300 * 1024))

    response = admin_client.post(UPLOAD, {"file": big}, format="multipart")

    assert_refused(response, 413, "too_large")


@pytest.mark.django_db
def test_a_file_just_over_the_upload_limit_is_413_even_inside_the_multipart_margin(
    admin_client: APIClient, settings: Any
) -> None:
    # The request-level check allows 64 KB for the form's boundaries; the file itself is measured too.
    settings.IMPORT_MAX_UPLOAD_SIZE = 100 * 1024
    file = SimpleUploadedFile("big.xlsx", b"x" * (110 * 1024))

    response = admin_client.post(UPLOAD, {"file": file}, format="multipart")

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_more_than_50000_form_fields_is_a_json_400(admin_client: APIClient) -> None:
    body = urlencode([("f", "1")] * 50_001)

    response = admin_client.generic("POST", UPLOAD, body, content_type="application/x-www-form-urlencoded")

    assert_refused(response, 400, "too_many_fields")


@pytest.mark.slow
@pytest.mark.django_db
def test_more_than_50000_multipart_fields_is_a_json_400(admin_client: APIClient) -> None:
    response = admin_client.post(UPLOAD, {f"f{n}": "1" for n in range(50_001)}, format="multipart")

    assert_refused(response, 400, "too_many_fields")


@pytest.mark.django_db
def test_more_than_50000_query_parameters_is_a_json_400(admin_client: APIClient) -> None:
    response = admin_client.get("/api/auth/admin/users/?" + "a=1&" * 50_001)

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_fields"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, BULK_CREATE_ASYNC])
def test_more_than_10000_customers_is_a_json_400(admin_client: APIClient, path: str) -> None:
    customers = [{"shipping_mark": f"PM {n}"} for n in range(10_001)]

    response = admin_client.post(path, {"customers": customers}, format="json")

    body = assert_refused(response, 400, "too_many_customers")
    assert "10,000" in body["message"] and "10,001" in body["message"]


@pytest.mark.django_db
def test_10000_customers_are_accepted_although_their_keys_outnumber_the_field_limit(
    admin_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    # 10,000 customers × 7 keys = 70,000 JSON keys: the form-field limit must not count them.
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(BULK_CREATE_ASYNC, {"customers": customer_rows(10_000)}, format="json")

    assert response.status_code == 202, response.content[:300]
    assert ImportJob.objects.get().total_rows == 10_000


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        (BULK_CREATE, "text/plain", b'{"customers": []}'),
        (BULK_CREATE, "application/x-www-form-urlencoded", b"customers=1"),
        (BULK_CREATE_ASYNC, "application/xml", b"<customers/>"),
        (UPLOAD, "application/json", b'{"file": "customers.xlsx"}'),
        ("/api/auth/login/", "application/xml", b"<phone/>"),
    ],
    ids=["bulk-create-text", "bulk-create-form", "async-xml", "upload-json", "login-xml"],
)
def test_an_unsupported_content_type_is_a_json_415(
    admin_client: APIClient, path: str, content_type: str, body: bytes
) -> None:
    response = admin_client.generic("POST", path, body, content_type=content_type)

    assert_refused(response, 415, "unsupported_media_type")


def xlsx_with_rows(count: int) -> SimpleUploadedFile:
    from io import BytesIO

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region"])
    for n in range(count):
        sheet.append([f"PM {n:06d}", f"First{n}", f"Last{n}", "", f"024{n:07d}", ""])
    out = BytesIO()
    workbook.save(out)
    return SimpleUploadedFile("customers.xlsx", out.getvalue())


@pytest.mark.slow
@pytest.mark.django_db
def test_the_upload_dialog_checks_10000_rows_inline_and_sends_10001_to_the_job_api(admin_client: APIClient) -> None:
    inline = admin_client.post(UPLOAD, {"file": xlsx_with_rows(10_000)}, format="multipart")
    too_many = admin_client.post(UPLOAD, {"file": xlsx_with_rows(10_001)}, format="multipart")

    assert inline.status_code == 200
    assert len(inline.json()["duplicate_results"]["unique_candidates"]) == 10_000
    assert too_many.status_code == 413
    body = too_many.json()
    assert body["code"] == "too_large" and "/api/imports/" in body["message"], body["message"]
    assert not Customer.objects.exists()

