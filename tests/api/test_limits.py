"""Request limits: every body is held to its endpoint's limit before a byte of it is read (users/api/limits.py).

Sign-in, tokens and every endpoint not listed for large bodies: 4 KB. The admin's
forms: 64 KB. An importer's JSON customers: 6 MB; an importer's upload: 50 MB
plus 64 KB of form. Anyone else posting more than 4 KB to an import endpoint gets
the view's own 401 or 403, the body unread. A body of unknown length is a 411.
Within the limits, a JSON body may not build more than 10,000 customers need
(users/api/parsers.py), and forms hold at most 1,000 fields and 5 files.

Bodies are real and credentials are real JWTs or sessions: the limit is chosen
from them before DRF runs, so force_authenticate would not be seen. Where a body
must not be read at all, it is a ReadSpy that counts the bytes taken from it.
The same limits over real HTTP, with the worker's memory measured:
tests/deploy/test_request_memory.py.
"""

import io
import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import resolve, reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.conftest import PASSWORD
from tests.imports.factories import customer_rows
from users.api.limits import IMPORT_ENDPOINTS
from users.api.parsers import JSONTooComplexError, json_shape_budget, json_shape_check
from users.models import Customer, ImportJob, User, UserRole

KB = 1024
MB = 1024 * KB
UPLOAD = "/api/auth/customers/excel/upload/"
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
JOBS = "/api/imports/"
LOGIN = "/api/auth/login/"


class ReadSpy:
    """A request body (wsgi.input) that counts the bytes read from it."""

    def __init__(self, content: bytes) -> None:
        self._stream = io.BytesIO(content)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.bytes_read += len(data)
        return data


def post_spied(
    client: Client,
    path: str,
    content: bytes,
    *,
    content_type: str = "application/json",
    claimed: int | None = None,
    **extra: str,
) -> tuple[Any, ReadSpy]:
    """POST `content` through a ReadSpy, declaring `claimed` bytes (default: its real length)."""
    spy = ReadSpy(content)
    length = len(content) if claimed is None else claimed
    response = client.generic(
        "POST", path, content, content_type=content_type, CONTENT_LENGTH=str(length), **{"wsgi.input": spy}, **extra
    )
    return response, spy


def assert_refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["success"], body["code"]) == (False, code), body
    assert body["message"]
    assert not ImportJob.objects.exists() and not Customer.objects.exists(), "a refused request touches nothing"
    return body


def bearer_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # these tests are about bodies


def customers_json(count: int) -> bytes:
    return json.dumps({"customers": customer_rows(count)}).encode()


# --- the figures ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_limits_are_the_documented_figures(settings: Any) -> None:
    figures = {
        "REQUEST_MAX_BODY_SIZE": 4 * KB,
        "ADMIN_MAX_BODY_SIZE": 64 * KB,
        "IMPORT_MAX_JSON_BODY_SIZE": 6 * MB,
        "IMPORT_MAX_UPLOAD_SIZE": 50 * MB,
        "DATA_UPLOAD_MAX_NUMBER_FIELDS": 1000,
        "DATA_UPLOAD_MAX_NUMBER_FILES": 5,
        "IMPORT_MAX_CUSTOMERS_PER_REQUEST": 10_000,
        "IMPORT_INLINE_MAX_ROWS": 10_000,
    }
    assert {name: getattr(settings, name) for name in figures} == figures
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= settings.IMPORT_MAX_JSON_BODY_SIZE, (
        "DRF reads JSON through request.body, which Django caps at DATA_UPLOAD_MAX_MEMORY_SIZE"
    )


def test_every_endpoint_listed_for_large_bodies_is_a_route_that_takes_them() -> None:
    for name, kind in IMPORT_ENDPOINTS.items():
        view = resolve(reverse(name)).func.view_class
        parsers = {parser.media_type for parser in view.parser_classes}
        wanted = "multipart/form-data" if kind == "upload" else "application/json"
        assert wanted in parsers, f"{name} is listed for {kind} bodies but parses {parsers}"


# --- everything not listed: 4 KB, for anyone ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [LOGIN, "/api/auth/token/", "/api/auth/token/refresh/", f"{JOBS}7b0d7c1e-3f1a-4c55-9d7e-000000000000/commit/"],
)
def test_a_body_over_4_kb_is_a_413_before_a_byte_of_it_is_read(admin_user: User, path: str) -> None:
    # Even a signed-in importer: these endpoints have no use for more.
    response, spy = post_spied(bearer_client(admin_user), path, b"{}", claimed=47 * MB)

    body = assert_refused(response, 413, "too_large")
    assert body["message"] == "The request body is 47 MB; this endpoint accepts at most 4 KB.", body["message"]
    assert spy.bytes_read == 0


@pytest.mark.django_db
def test_a_sign_in_of_exactly_4_kb_is_read_and_answered_by_the_view(admin_user: User) -> None:
    phone = "0" * (4 * KB - len(json.dumps({"phone": "", "password": PASSWORD})))
    content = json.dumps({"phone": phone, "password": PASSWORD}).encode()
    assert len(content) == 4 * KB

    response, spy = post_spied(APIClient(), LOGIN, content)

    assert response.status_code == 400 and "phone" in response.json()["message"], response.content[:300]
    assert spy.bytes_read == len(content)


@pytest.mark.django_db
def test_a_1_mb_phone_is_too_large_and_issues_no_token(admin_user: User) -> None:
    response = APIClient().post(LOGIN, {"phone": "0" * MB, "password": PASSWORD}, format="json")

    body = assert_refused(response, 413, "too_large")
    assert "access" not in body and "tokens" not in body


@pytest.mark.django_db
def test_the_session_sign_in_page_answers_a_large_form_with_a_plain_413_page() -> None:
    response, spy = post_spied(
        Client(), "/accounts/login/", b"", content_type="application/x-www-form-urlencoded", claimed=47 * MB
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"The request body is 47 MB; this endpoint accepts at most 4 KB." in response.content
    assert spy.bytes_read == 0


# --- the admin: 64 KB --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_takes_a_bulk_action_on_the_200_rows_show_all_lists(superuser: User) -> None:
    customers = Customer.objects.bulk_create(
        Customer(shipping_mark=f"PM {n}", first_name="A", last_name="B", phone=f"+23324{n:07d}") for n in range(200)
    )
    form = [("action", "delete_selected"), ("index", "0")] + [("_selected_action", str(c.pk)) for c in customers]
    content = urlencode(form).encode()
    assert len(content) > 4 * KB, "more than the small limit, so the admin's own limit is what lets it in"
    client = Client()
    client.force_login(superuser)

    response = client.post(
        "/admin/users/customer/", content, content_type="application/x-www-form-urlencoded", follow=False
    )

    assert response.status_code == 200, response.status_code
    assert b"Are you sure" in response.content, "the delete confirmation page, listing the 200 customers"


@pytest.mark.django_db
def test_an_admin_form_over_64_kb_is_a_plain_413_page(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)

    response, spy = post_spied(
        client, "/admin/users/customer/", b"", content_type="application/x-www-form-urlencoded", claimed=64 * KB + 1
    )

    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")
    assert b"at most 64 KB" in response.content
    assert spy.bytes_read == 0


@pytest.mark.django_db
def test_an_admin_form_of_more_than_1000_fields_is_a_400(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)

    response = client.post(
        "/admin/users/customer/", urlencode([("f", "1")] * 1001), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400


# --- the import endpoints: large, for importers only -------------------------------------------------------------


@pytest.mark.django_db
def test_an_importer_may_send_json_up_to_the_json_limit_and_no_further(
    admin_user: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.IMPORT_MAX_JSON_BODY_SIZE = 64 * KB
    fits, too_big = customers_json(300), customers_json(800)
    assert len(fits) < 64 * KB < len(too_big)
    client = bearer_client(admin_user)

    with django_capture_on_commit_callbacks(execute=False):
        accepted = client.generic("POST", BULK_CREATE_ASYNC, fits, content_type="application/json")
    ImportJob.objects.all().delete()
    refused = client.generic("POST", BULK_CREATE_ASYNC, too_big, content_type="application/json")

    assert accepted.status_code == 202, accepted.content[:300]
    body = assert_refused(refused, 413, "too_large")
    size = f"{len(too_big) / KB:.1f} KB"
    assert body["message"].startswith(f"The request body is {size}; at most 64 KB of customers"), body["message"]
    assert "POST /api/imports/" in body["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "claimed", "limit_text"), [(BULK_CREATE, 6 * MB + 1, "6 MB"), (UPLOAD, 51 * MB, "50 MB")]
)
def test_an_importers_body_claiming_over_its_limit_is_a_413_before_a_byte_is_read(
    admin_user: User, path: str, claimed: int, limit_text: str
) -> None:
    content_type = "application/json" if path == BULK_CREATE else "multipart/form-data; boundary=x"

    response, spy = post_spied(bearer_client(admin_user), path, b"--x--", content_type=content_type, claimed=claimed)

    body = assert_refused(response, 413, "too_large")
    assert limit_text in body["message"], body["message"]
    assert spy.bytes_read == 0


@pytest.mark.django_db
def test_a_file_over_the_upload_limit_is_413(importer_client: APIClient, settings: Any) -> None:
    settings.IMPORT_MAX_UPLOAD_SIZE = 100 * KB
    big = SimpleUploadedFile("big.xlsx", b"x" * (300 * KB))

    response = importer_client.post(UPLOAD, {"file": big}, format="multipart")

    assert_refused(response, 413, "too_large")


@pytest.mark.django_db
def test_a_file_just_over_the_upload_limit_is_413_even_inside_the_multipart_margin(
    importer_client: APIClient, settings: Any
) -> None:
    # The request-level check allows 64 KB for the form's boundaries; the file itself is measured too.
    settings.IMPORT_MAX_UPLOAD_SIZE = 100 * KB
    file = SimpleUploadedFile("big.xlsx", b"x" * (110 * KB))

    response = importer_client.post(UPLOAD, {"file": file}, format="multipart")

    assert_refused(response, 413, "too_large")


def _unsigned_by_us(user: User) -> str:
    claims = jwt.decode(str(AccessToken.for_user(user)), options={"verify_signature": False})
    return jwt.encode(claims, "not-our-secret-key-" * 4, algorithm="HS256")


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def _deleted_users_token() -> str:
    user = User.objects.create_user("0241000077", PASSWORD, is_staff=True, user_role=UserRole.ADMIN)
    user.user_permissions.add(Permission.objects.get(codename="add_customer"))
    token = str(RefreshToken.for_user(user).access_token)
    user.delete()
    return token


def _staff_without_import() -> User:
    return User.objects.create_user("0241000006", PASSWORD, is_staff=True, user_role=UserRole.STAFF)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("no credentials", 401),
        ("a garbage token", 401),
        ("a token signed with another key", 401),
        ("an expired token", 401),
        ("a refresh token as access token", 401),
        ("a deleted user's token", 401),
        ("a user who is not staff", 403),
        ("staff without the add-customer permission", 403),
        ("a session of a user who is not staff", 403),
    ],
)
@pytest.mark.parametrize("path", [BULK_CREATE, UPLOAD])
def test_credentials_that_may_not_import_get_the_views_own_answer_and_the_body_is_never_read(
    admin_user: User, plain_user: User, who: str, status: int, path: str
) -> None:
    tokens = {
        "a garbage token": lambda: "not-a-token",
        "a token signed with another key": lambda: _unsigned_by_us(admin_user),
        "an expired token": lambda: _expired(admin_user),
        "a refresh token as access token": lambda: str(RefreshToken.for_user(admin_user)),
        "a deleted user's token": _deleted_users_token,
        "a user who is not staff": lambda: str(AccessToken.for_user(plain_user)),
        "staff without the add-customer permission": lambda: str(AccessToken.for_user(_staff_without_import())),
    }
    client: Client = APIClient()
    if who in tokens:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[who]()}")
    elif who.startswith("a session"):
        client = Client()
        client.force_login(plain_user)
    content_type = "application/json" if path == BULK_CREATE else "multipart/form-data; boundary=x"

    response, spy = post_spied(client, path, b"x" * (10 * KB), content_type=content_type)

    assert response.status_code == status, response.content[:300]
    assert response.json()["success"] is False
    assert spy.bytes_read == 0, "the body of someone who may not import is never read"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_the_same_body_from_an_importer_is_read(admin_user: User) -> None:
    response, spy = post_spied(bearer_client(admin_user), BULK_CREATE, b"x" * (10 * KB))

    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert spy.bytes_read == 10 * KB


@pytest.mark.django_db
def test_a_signed_in_importers_session_earns_the_large_limit(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    client.get("/imports/")  # the page sets the CSRF cookie, as a browser would receive it
    content = customers_json(100)
    assert len(content) > 4 * KB

    token = {"X-CSRFToken": client.cookies["csrftoken"].value}

    response = client.post(BULK_CREATE, content, content_type="application/json", headers=token)

    assert response.status_code == 201, response.content[:300]
    assert Customer.objects.count() == 100


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "json_answer"), [(LOGIN, True), (BULK_CREATE, True), ("/accounts/login/", False)])
def test_a_body_of_unknown_length_is_a_411(admin_user: User, path: str, json_answer: bool) -> None:
    spy = ReadSpy(b"5\r\nhello\r\n0\r\n\r\n")

    response = bearer_client(admin_user).generic(
        "POST",
        path,
        b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": spy},
    )

    assert response.status_code == 411
    if json_answer:
        assert response.json()["code"] == "length_required"
    else:
        assert b"Content-Length" in response.content
    assert spy.bytes_read == 0


@pytest.mark.django_db
def test_a_413_carries_the_cors_headers_for_the_frontend(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.primepre.test"]

    response, _ = post_spied(APIClient(), LOGIN, b"{}", claimed=MB, HTTP_ORIGIN="https://app.primepre.test")

    assert response.status_code == 413
    assert response["Access-Control-Allow-Origin"] == "https://app.primepre.test"


# --- forms: fields and files -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_more_than_1000_form_fields_is_a_json_400(importer_client: APIClient) -> None:
    response = importer_client.generic(
        "POST", UPLOAD, urlencode([("f", "1")] * 1001), content_type="application/x-www-form-urlencoded"
    )

    assert_refused(response, 400, "too_many_fields")


@pytest.mark.django_db
def test_more_than_1000_multipart_fields_is_a_json_400(importer_client: APIClient) -> None:
    response = importer_client.post(UPLOAD, {f"f{n}": "1" for n in range(1001)}, format="multipart")

    assert_refused(response, 400, "too_many_fields")


@pytest.mark.django_db
def test_more_than_5_files_is_a_json_400(importer_client: APIClient) -> None:
    files = {f"file{n}": SimpleUploadedFile(f"c{n}.xlsx", b"x" * KB) for n in range(6)}

    response = importer_client.post(JOBS, files, format="multipart")

    assert_refused(response, 400, "too_many_fields")


@pytest.mark.django_db
def test_more_than_1000_query_parameters_is_a_json_400(admin_client: APIClient) -> None:
    response = admin_client.get("/api/auth/admin/users/?" + "a=1&" * 1001)

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_fields"


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
    importer_client: APIClient, settings: Any, shape: str, content: bytes, counted: str
) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 100  # budget: 264 arrays and objects, 3,264 commas and colons

    response = importer_client.generic("POST", BULK_CREATE, content, content_type="application/json")

    body = assert_refused(response, 400, "json_too_complex")
    assert counted in body["message"] and "POST /api/imports/" in body["message"], body["message"]


@pytest.mark.django_db
def test_a_deeply_nested_body_from_an_importer_is_refused_before_parsing(importer_client: APIClient) -> None:
    response = importer_client.generic("POST", BULK_CREATE, b"[" * 100_000, content_type="application/json")

    assert_refused(response, 400, "json_too_complex")


@pytest.mark.django_db
def test_brackets_commas_and_colons_inside_strings_do_not_count(importer_client: APIClient, settings: Any) -> None:
    settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST = 100
    customers = [
        {**row, "first_name": "Ama [{,:}] " * 20, "last_name": 'Mensah \\"[[' * 20}
        for row in customer_rows(100, start=1)
    ]

    response = importer_client.post(BULK_CREATE, {"customers": customers}, format="json")

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


# --- 10,000 customers, as the upload dialog posts them ------------------------------------------------------------


def dialog_rows(count: int) -> list[dict[str, Any]]:
    """Customers as the dialog posts the upload's unique_candidates: nine keys each (users/api/excel.py)."""
    return [
        {
            **row,
            "shipping_mark_normalized": row["shipping_mark"],
            "phone_normalized": "+233" + row["phone"][1:],
            "region": "GREATER_ACCRA",
        }
        for row in customer_rows(count)
    ]


@pytest.mark.django_db
def test_10000_customers_as_the_dialog_posts_them_fit_the_json_limit_more_than_twice(settings: Any) -> None:
    content = json.dumps({"customers": dialog_rows(10_000)}, separators=(",", ":")).encode()

    assert len(content) * 2 < settings.IMPORT_MAX_JSON_BODY_SIZE, f"{len(content):,} bytes"
    json_shape_check(content.decode())  # and their shape passes


@pytest.mark.django_db
def test_10000_customers_are_accepted_although_their_keys_outnumber_the_field_limit(
    importer_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = importer_client.post(BULK_CREATE_ASYNC, {"customers": dialog_rows(10_000)}, format="json")

    assert response.status_code == 202, response.content[:300]
    assert ImportJob.objects.get().total_rows == 10_000


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, BULK_CREATE_ASYNC])
def test_more_than_10000_customers_is_a_json_400(importer_client: APIClient, path: str) -> None:
    customers = [{"shipping_mark": f"PM {n}"} for n in range(10_001)]

    response = importer_client.post(path, {"customers": customers}, format="json")

    body = assert_refused(response, 400, "too_many_customers")
    assert "10,000" in body["message"] and "10,001" in body["message"]


@pytest.mark.django_db
def test_bulk_create_echoes_rejected_customers_with_their_text_escaped(importer_client: APIClient) -> None:
    # Escaped, an answer full of emoji costs a quarter of the memory to build (users/api/renderers.py).
    customers = [{**row, "phone": "not a phone 😀", "first_name": "Ɛfua"} for row in customer_rows(2)]

    response = importer_client.post(BULK_CREATE, {"customers": customers}, format="json")

    assert response.status_code == 400, response.content[:300]
    assert response.content.isascii() and b"\\ud83d\\ude00" in response.content
    assert response.json()["failed_customers"][0]["customer_data"]["first_name"] == "Ɛfua"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        (BULK_CREATE, "text/plain", b'{"customers": []}'),
        (BULK_CREATE, "application/x-www-form-urlencoded", b"customers=1"),
        (BULK_CREATE_ASYNC, "application/xml", b"<customers/>"),
        (UPLOAD, "application/json", b'{"file": "customers.xlsx"}'),
        (LOGIN, "application/xml", b"<phone/>"),
    ],
    ids=["bulk-create-text", "bulk-create-form", "async-xml", "upload-json", "login-xml"],
)
def test_an_unsupported_content_type_is_a_json_415(
    admin_client: APIClient, path: str, content_type: str, body: bytes
) -> None:
    response = admin_client.generic("POST", path, body, content_type=content_type)

    assert_refused(response, 415, "unsupported_media_type")


def xlsx_with_rows(count: int) -> SimpleUploadedFile:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region"])
    for n in range(count):
        sheet.append([f"PM {n:06d}", f"First{n}", f"Last{n}", "", f"024{n:07d}", ""])
    out = io.BytesIO()
    workbook.save(out)
    return SimpleUploadedFile("customers.xlsx", out.getvalue())


@pytest.mark.slow
@pytest.mark.django_db
def test_the_upload_dialog_checks_10000_rows_inline_and_sends_10001_to_the_job_api(
    importer_client: APIClient,
) -> None:
    inline = importer_client.post(UPLOAD, {"file": xlsx_with_rows(10_000)}, format="multipart")
    too_many = importer_client.post(UPLOAD, {"file": xlsx_with_rows(10_001)}, format="multipart")

    assert inline.status_code == 200
    assert len(inline.json()["duplicate_results"]["unique_candidates"]) == 10_000
    assert too_many.status_code == 413
    body = too_many.json()
    assert body["code"] == "too_large" and "/api/imports/" in body["message"], body["message"]
    assert not Customer.objects.exists()
