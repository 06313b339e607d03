"""Request limits with clear JSON errors (#4 item 11).

Body over 50 MB → 413; more than 50,000 form fields → 400; more than 10,000
customers → 400; a JSON body that would build more arrays, objects or values
than 10,000 customers need → 400 (users/api/parsers.py); a file over the
upload limit → 413; an unsupported content type → 415. Each refusal touches
nothing. The real limits are used where the request is cheap to build; the
50 MB ones are also checked on real HTTP in test_cors.py without sending 50 MB.
"""

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.imports.factories import customer_rows
from users.api.parsers import JSONTooComplexError, json_shape_budget, json_shape_check
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


# --- the shape of a JSON body ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("shape", "content", "counted"),
    [
        ("arrays", b"[" + b",".join([b"[]"] * 300) + b"]", "arrays and objects"),
        ("objects", b'{"customers":[' + b",".join([b"{}"] * 300) + b"]}", "arrays and objects"),
        ("nesting", b"[" * 300, "arrays and objects"),
        ("floats", b"[" + b",".join([b"1e1"] * 3300) + b"]", "values and keys"),
        ("strings", b"[" + b",".join([b'"ab"'] * 3300) + b"]", "values and keys"),
        ("strings without commas", b'"a"' * 4000, "values and keys"),
    ],
)
def test_a_json_body_that_would_build_more_than_the_customers_need_is_a_400(
    admin_client: APIClient, settings: Any, shape: str, content: bytes, counted: str
) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 100  # budget: 264 arrays and objects, 3,264 commas and colons

    response = admin_client.generic("POST", BULK_CREATE, content, content_type="application/json")

    body = assert_refused(response, 400, "json_too_complex")
    assert counted in body["message"] and "POST /api/imports/" in body["message"], body["message"]


@pytest.mark.django_db
def test_a_deeply_nested_body_from_an_importer_is_refused_before_parsing(admin_client: APIClient) -> None:
    response = admin_client.generic("POST", BULK_CREATE, b"[" * 100_000, content_type="application/json")

    assert_refused(response, 400, "json_too_complex")


@pytest.mark.django_db
def test_brackets_commas_and_colons_inside_strings_do_not_count(admin_client: APIClient, settings: Any) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 100
    customers = [
        {**row, "first_name": "Ama [{,:}] " * 20, "last_name": 'Mensah \\"[[' * 20}
        for row in customer_rows(100, start=1)
    ]

    response = admin_client.post(BULK_CREATE, {"customers": customers}, format="json")

    assert response.status_code in {201, 400}, response.content[:300]
    assert response.json().get("code") != "json_too_complex"


def _real_counts(value: Any) -> tuple[int, int, int]:
    """The arrays and objects, commas and colons, and strings that json.loads builds for `value`."""
    if isinstance(value, list):
        parts = [_real_counts(item) for item in value]
        return 1 + sum(p[0] for p in parts), max(len(value) - 1, 0) + sum(p[1] for p in parts), sum(p[2] for p in parts)
    if isinstance(value, dict):
        parts = [_real_counts(item) for item in value.values()]
        return (
            1 + sum(p[0] for p in parts),
            max(len(value) - 1, 0) + len(value) + sum(p[1] for p in parts),
            len(value) + sum(p[2] for p in parts),
        )
    return 0, 0, int(isinstance(value, str))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=12) | st.dictionaries(st.text(max_size=8), children, max_size=12),
    max_leaves=150,
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 1]))
def test_the_shape_check_refuses_exactly_the_bodies_over_budget(
    settings: Any, value: Any, ensure_ascii: bool, indent: int | None
) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 0  # budget: 64 arrays and objects, 64 commas and colons
    containers, separators, _strings = _real_counts(value)
    max_containers, max_separators = json_shape_budget()
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)

    over = containers > max_containers or separators > max_separators
    try:
        json_shape_check(text)
        refused = False
    except JSONTooComplexError:
        refused = True

    assert refused == over, f"{containers} containers, {separators} separators: {text[:200]}"


@pytest.mark.parametrize(
    "text",
    ['"' + '\\"' * 2_000_000, '"' * 4_000_000, '"' + "\\" * 4_000_001, '"\\' * 2_000_000],
    ids=["escaped quotes, unterminated", "quotes", "backslashes", "quote-backslash"],
)
def test_the_shape_check_is_linear_on_text_built_to_make_it_backtrack(settings: Any, text: str) -> None:
    started = time.monotonic()
    try:
        json_shape_check(text)
    except JSONTooComplexError:
        pass
    seconds = time.monotonic() - started

    assert seconds < 2, f"{seconds:.1f} s for {len(text):,} characters: the pattern backtracks"


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
