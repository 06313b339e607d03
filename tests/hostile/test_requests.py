"""Hostile requests: bad bodies, bad credentials, other people's jobs, forged sessions.

Every refusal is a JSON error with a sentence, and leaves the database, the task
queue and the upload folder exactly as they were. Credentials are real: JWTs in
the Authorization header (expired, forged, unsigned, of a deleted or inactive
user ...) and real session cookies with and without the CSRF token, never
`force_authenticate`, which would skip the very checks under test.

Generated requests against the whole OpenAPI schema are not repeated here:
tests/api/test_schema.py runs schemathesis over every operation outside /api/auth/
and tests/api/test_frontend_schema.py over /api/auth/ (docs/reliability.md).
"""

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.conftest import PASSWORD
from tests.hostile.conftest import sheet_row
from tests.imports.factories import customer_rows
from tests.imports.spreadsheets import HEADER, write_xlsx
from users.models import Customer, ImportJob, ImportRowError, ImportStatus, RowErrorCode, User, UserRole

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
PREVIEW = "/api/auth/customers/excel/upload/"
JOBS = "/api/imports/"


@pytest.fixture(autouse=True)
def _fast_and_private(settings: Any, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHER  # these tests are about who gets in, not about hashing
    settings.MEDIA_ROOT = tmp_path / "media"


def snapshot() -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    media = Path(settings.MEDIA_ROOT)
    return {
        "customers": list(Customer.objects.order_by("id").values()),
        "jobs": list(ImportJob.objects.order_by("id").values()),
        "row errors": ImportRowError.objects.count(),
        "queued tasks": DBTaskResult.objects.count(),
        "stored files": sorted(str(p) for p in media.rglob("*")) if media.exists() else [],
    }


def assert_json_refusal(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.content[:300]!r}"
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["success"] is False and body["message"], body
    return body


def xlsx_upload(folder: Path) -> SimpleUploadedFile:
    path = write_xlsx(folder / "customers.xlsx", [HEADER, sheet_row(1), sheet_row(2)])
    return SimpleUploadedFile(path.name, path.read_bytes())


@pytest.fixture
def validated_job(admin_user: User) -> ImportJob:
    """A dry run waiting to be committed, with a row error: what commit and cancel would change."""
    job = ImportJob.objects.create(
        created_by=admin_user,
        status=ImportStatus.VALIDATED,
        dry_run=True,
        original_filename="secret-branch-list.xlsx",
        total_rows=2,
        valid_rows=1,
        failed_count=1,
    )
    ImportRowError.objects.create(
        job=job,
        row_number=3,
        column="Phone Number",
        value="0200000000",
        code=RowErrorCode.PHONE_INVALID,
        reason="Not a phone number.",
        raw_data={"Phone Number": "0200000000"},
    )
    return job


Send = Callable[[APIClient], Any]


def writes(job: ImportJob, folder: Path) -> dict[str, Send]:
    """Every request that would write something, if it were let in."""
    return {
        "upload a job": lambda c: c.post(JOBS, {"file": xlsx_upload(folder)}, format="multipart"),
        "preview a file": lambda c: c.post(PREVIEW, {"file": xlsx_upload(folder)}, format="multipart"),
        "bulk-create": lambda c: c.post(BULK_CREATE, {"customers": customer_rows(2)}, format="json"),
        "bulk-create-async": lambda c: c.post(BULK_CREATE_ASYNC, {"customers": customer_rows(2)}, format="json"),
        "commit": lambda c: c.post(f"{JOBS}{job.id}/commit/"),
        "cancel": lambda c: c.post(f"{JOBS}{job.id}/cancel/"),
    }


def reads(job: ImportJob) -> dict[str, Send]:
    """Requests that would reveal customers or jobs."""
    return {
        "job list": lambda c: c.get(JOBS),
        "job": lambda c: c.get(f"{JOBS}{job.id}/"),
        "job errors": lambda c: c.get(f"{JOBS}{job.id}/errors/"),
        "errors.csv": lambda c: c.get(f"{JOBS}{job.id}/errors.csv"),
        "errors.xlsx": lambda c: c.get(f"{JOBS}{job.id}/errors.xlsx"),
        "customers": lambda c: c.get("/api/customers/"),
        "clients": lambda c: c.get("/api/auth/admin/users/"),
        "task status": lambda c: c.get(f"/api/auth/customers/excel/bulk-create/status/{job.id}/"),
        "upload stats": lambda c: c.get("/api/auth/customers/upload/stats/"),
        "profile": lambda c: c.get("/api/auth/profile/"),
        "metrics": lambda c: c.get("/api/admin/metrics"),
    }


# --- credentials that must not get in ---------------------------------------------------------------------------


def _unsigned(token: str) -> str:
    """The same claims with `alg: none` and no signature (the classic JWT downgrade)."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    return f"{header}.{token.split('.')[1]}."


def bad_credentials(admin: User) -> dict[str, str | None]:
    """Name → Authorization header value; each must be refused with 401."""
    valid = RefreshToken.for_user(admin)
    access = str(valid.access_token)
    expired = AccessToken.for_user(admin)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    claims = jwt.decode(access, options={"verify_signature": False})
    deleted = User.objects.create_user("0241000077", PASSWORD, is_staff=True, user_role=UserRole.ADMIN)
    deleted.user_permissions.add(Permission.objects.get(codename="add_customer"))
    deleted_token = str(RefreshToken.for_user(deleted).access_token)
    deleted.delete()
    inactive = User.objects.create_user("0241000078", PASSWORD, is_staff=True, is_active=True)
    inactive_token = str(RefreshToken.for_user(inactive).access_token)
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    return {
        "no Authorization header": None,
        "an empty bearer": "Bearer ",
        "garbage": "Bearer not-a-token",
        "a 10 KB bearer": "Bearer " + "A" * 10_240,
        "basic auth with the right password": "Basic "
        + base64.b64encode(f"{admin.phone}:{PASSWORD}".encode()).decode(),
        "an expired access token": f"Bearer {expired}",
        "a token signed with another key": "Bearer " + jwt.encode(claims, "not-our-secret-key-" * 4, algorithm="HS256"),
        "an unsigned token (alg none)": f"Bearer {_unsigned(access)}",
        "a refresh token used as an access token": f"Bearer {valid}",
        "a token whose user was deleted": f"Bearer {deleted_token}",
        "a token whose user is now inactive": f"Bearer {inactive_token}",
    }


def client_with(authorization: str | None) -> APIClient:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


@pytest.mark.django_db
def test_no_bad_credential_gets_any_request_in_and_nothing_is_touched(
    admin_user: User, validated_job: ImportJob, tmp_path: Path
) -> None:
    credentials = bad_credentials(admin_user)
    requests = {**writes(validated_job, tmp_path), **reads(validated_job)}
    before = snapshot()
    let_in = []
    for name, authorization in credentials.items():
        for what, send in requests.items():
            response = send(client_with(authorization))
            if response.status_code != 401:
                let_in.append(f"{what} with {name}: {response.status_code}")
            else:
                body = assert_json_refusal(response, 401)
                assert "secret-branch-list" not in json.dumps(body)
    assert let_in == [], "each of these should have been a 401"
    assert snapshot() == before, "a refused request changed something"


@pytest.fixture
def staff_without_import(db: None) -> User:
    return User.objects.create_user("0241000006", PASSWORD, user_role=UserRole.STAFF, is_staff=True)


def bearer(user: User) -> str:
    return f"Bearer {RefreshToken.for_user(user).access_token}"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["a signed-in user who is not staff", "staff without the add-customer permission"])
def test_a_signed_in_user_without_the_right_to_import_gets_403_and_nothing_is_touched(
    admin_user: User, plain_user: User, staff_without_import: User, validated_job: ImportJob, tmp_path: Path, who: str
) -> None:
    user = plain_user if who.startswith("a signed-in user") else staff_without_import
    plain_user.user_permissions.add(Permission.objects.get(codename="add_customer"))  # not staff: still no
    before = snapshot()
    for send in writes(validated_job, tmp_path).values():
        assert_json_refusal(send(client_with(bearer(user))), 403)
    if not user.is_staff:
        for what, send in reads(validated_job).items():
            if what == "profile":
                continue  # anyone signed in may see who they are
            response = send(client_with(bearer(user)))
            assert response.status_code in {403, 404}, f"{what}: {response.status_code}"
            assert "secret-branch-list" not in response.content.decode(errors="replace")
    assert snapshot() == before


# --- another user's job ------------------------------------------------------------------------------------------


@pytest.fixture
def other_admin(db: None) -> User:
    user = User.objects.create_user("0241000004", PASSWORD, user_role=UserRole.ADMIN, is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="add_customer"), Permission.objects.get(codename="view_customer")
    )
    return user


@pytest.mark.django_db
def test_another_admins_job_is_not_found_or_forbidden_everywhere_and_untouched(
    other_admin: User, validated_job: ImportJob
) -> None:
    client = client_with(bearer(other_admin))
    job_paths = ["", "errors/", "errors.csv", "errors.xlsx"]
    before = snapshot()
    for suffix in job_paths:
        assert_json_refusal(client.get(f"{JOBS}{validated_job.id}/{suffix}"), 404)
    for suffix in ("commit/", "cancel/"):
        assert_json_refusal(client.post(f"{JOBS}{validated_job.id}/{suffix}"), 404)
    status = assert_json_refusal(client.get(f"/api/auth/customers/excel/bulk-create/status/{validated_job.id}/"), 403)
    assert status["status"] == "FORBIDDEN"
    listed = client.get(JOBS).json()
    assert listed["count"] == 0, "someone else's job is not listed"
    pages = Client()
    pages.force_login(other_admin)
    for path in (f"/imports/{validated_job.id}/", f"/imports/{validated_job.id}/customers/"):
        response = pages.get(path)
        assert response.status_code == 404 and b"secret-branch-list" not in response.content, path
    assert snapshot() == before, "nothing about the job changed"


# --- bodies that are not what the API expects --------------------------------------------------------------------

MALFORMED: dict[str, bytes] = {
    "not JSON at all": b"customers=PM1",
    "cut off": b'{"customers": [{"shipping_mark": "PM1"',
    "a trailing comma": b'{"customers": [{"shipping_mark": "PM1",}]}',
    "NaN": b'{"customers": [{"phone": NaN}]}',
    "Infinity": b'{"customers": [{"phone": Infinity}]}',
    "not UTF-8": b'{"customers": [{"first_name": "\xff\xfe"}]}',
    "a UTF-16 body": '{"customers": []}'.encode("utf-16"),
    "empty": b"",
}
WRONG_SHAPE: dict[str, Any] = {
    "no customers key": {},
    "customers is null": {"customers": None},
    "customers is a string": {"customers": "PM1,Ama,Mensah"},
    "customers is an object": {"customers": {"shipping_mark": "PM1"}},
    "customers is empty": {"customers": []},
    "an item is a number": {"customers": [1, 2, 3]},
    "an item is a list": {"customers": [["PM1", "Ama"]]},
    "a value is an object": {"customers": [{"shipping_mark": {"$gt": ""}}]},
    "a value is a list": {"customers": [{"phone": ["0241234567", "0201234567"]}]},
    "a NUL in a value": {"customers": [{"first_name": "Ama\u0000"}]},
    "source_row_number is text": {"customers": [{"source_row_number": "2"}]},
    "source_row_number is true": {"customers": [{"source_row_number": True}]},
    "source_row_number is 0": {"customers": [{"source_row_number": 0}]},
    "source_row_number is 2**31": {"customers": [{"source_row_number": 2**31}]},
    "source_row_number is 10**400": {"customers": [{"source_row_number": 10**400}]},
    "a top-level list": [{"shipping_mark": "PM1"}],
    "10,001 customers": {"customers": [{"shipping_mark": f"PM{n}"} for n in range(10_001)]},
}
LOGIN_BODIES: dict[str, Any] = {
    "no fields": {},
    "password is a list": {"phone": "0241000001", "password": [PASSWORD]},
    "phone is null": {"phone": None, "password": PASSWORD},
    # Within the 4 KB sign-in body limit, so the serializer's own length checks answer (1 MB is a 413:
    # tests/api/test_limits.py).
    "a 3 KB phone": {"phone": "0" * 3_000, "password": PASSWORD},
    "a 3 KB password": {"phone": "0241000001", "password": "x" * 3_000},
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, BULK_CREATE_ASYNC])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_json_body_is_a_400_with_a_sentence_and_writes_nothing(
    admin_user: User, path: str, case: str
) -> None:
    client = client_with(bearer(admin_user))
    before = snapshot()
    response = client.generic("POST", path, MALFORMED[case], content_type="application/json")
    assert_json_refusal(response, 400)
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, BULK_CREATE_ASYNC])
@pytest.mark.parametrize("case", list(WRONG_SHAPE))
def test_a_body_of_the_wrong_shape_is_a_400_naming_the_problem_and_writes_nothing(
    admin_user: User, path: str, case: str
) -> None:
    client = client_with(bearer(admin_user))
    before = snapshot()
    body = json.dumps(WRONG_SHAPE[case]) if case != "source_row_number is 10**400" else _huge_int_body()
    response = client.generic("POST", path, body, content_type="application/json")
    assert_json_refusal(response, 400)
    assert snapshot() == before


def _huge_int_body() -> str:
    # json.dumps refuses ints past 4,300 digits' worth of work only on decode; 10**400 is fine to send.
    return '{"customers": [{"source_row_number": 1' + "0" * 400 + "}]}"


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(LOGIN_BODIES))
def test_a_malformed_sign_in_is_a_400_and_issues_no_token(admin_user: User, case: str) -> None:
    response = APIClient().post("/api/auth/login/", LOGIN_BODIES[case], format="json")
    body = assert_json_refusal(response, 400)
    assert "access" not in body and "tokens" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("path", [BULK_CREATE, "/api/auth/login/"])
def test_a_deeply_nested_json_body_is_a_400_not_a_server_error(admin_user: User, path: str) -> None:
    client = client_with(bearer(admin_user))
    # 4,000 deep fits the sign-in's 4 KB limit and is still far past Python's recursion limit.
    response = client.generic("POST", path, b"[" * 4_000, content_type="application/json")
    assert_json_refusal(response, 400)


@pytest.mark.django_db
def test_a_huge_value_in_one_customer_fails_that_row_only(admin_user: User) -> None:
    customers = customer_rows(3)
    customers[1]["first_name"] = "A" * 5_000_000  # 5 MB of name in a 15 MB body
    response = client_with(bearer(admin_user)).post(BULK_CREATE, {"customers": customers}, format="json")

    assert response.status_code == 201, response.content[:300]
    body = response.json()
    assert (body["total_created"], body["total_failed"]) == (2, 1)
    assert "5,000,000 characters" in body["failed_customers"][0]["error"]
    assert len(body["failed_customers"][0]["error"]) < 300, "the message quotes the length, not the value"


# --- CSRF: a session may only post with its token ----------------------------------------------------------------


def session_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    assert client.login(phone=user.phone, password=PASSWORD)
    return client


def session_writes(job: ImportJob, folder: Path) -> dict[str, Callable[[Client, dict[str, str]], Any]]:
    def upload(path: str) -> Callable[[Client, dict[str, str]], Any]:
        return lambda c, headers: c.post(path, {"file": xlsx_upload(folder)}, headers=headers)

    def posted_json(path: str) -> Callable[[Client, dict[str, str]], Any]:
        body = json.dumps({"customers": customer_rows(2)})
        return lambda c, headers: c.post(path, body, content_type="application/json", headers=headers)

    return {
        "upload a job": upload(JOBS),
        "preview a file": upload(PREVIEW),
        "bulk-create": posted_json(BULK_CREATE),
        "bulk-create-async": posted_json(BULK_CREATE_ASYNC),
        "cancel": lambda c, headers: c.post(f"{JOBS}{job.id}/cancel/", headers=headers),
        "commit": lambda c, headers: c.post(f"{JOBS}{job.id}/commit/", headers=headers),
    }


@pytest.mark.django_db
def test_a_session_post_without_the_csrf_token_is_refused_everywhere_and_touches_nothing(
    admin_user: User, validated_job: ImportJob, tmp_path: Path
) -> None:
    client = session_client(admin_user)
    before = snapshot()
    forged = {"X-CSRFToken": "a" * 64}
    for what, send in session_writes(validated_job, tmp_path).items():
        for headers in ({}, forged):
            body = assert_json_refusal(send(client, headers), 403)
            assert "CSRF" in body["message"], f"{what}: {body}"
    assert snapshot() == before


@pytest.mark.django_db
def test_the_same_session_posts_succeed_with_the_csrf_token(
    admin_user: User, validated_job: ImportJob, tmp_path: Path
) -> None:
    """The refusals above are the CSRF check's, not some other failure: with the token each request goes through."""
    client = session_client(admin_user)
    client.get("/imports/")  # the page sets the CSRF cookie, as a browser would receive it
    token = {"X-CSRFToken": client.cookies["csrftoken"].value}
    statuses = {what: send(client, token).status_code for what, send in session_writes(validated_job, tmp_path).items()}
    assert statuses == {
        "upload a job": 202,
        "preview a file": 200,
        "bulk-create": 201,
        "bulk-create-async": 202,
        "cancel": 202,
        "commit": 409,  # cancelled a moment ago: refused by the service, after the CSRF check let it through
    }
