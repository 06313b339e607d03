"""The job API's Check step over HTTP with real JWTs: choosing columns, the rows to correct, correcting one, the trail.

Files are uploaded through the API and checked in this process by the same
function the worker runs (`import_job_run`); the last test runs the whole loop
with a real `run_worker` process.
"""

import io
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests import workers
from tests.conftest import PASSWORD
from tests.imports.checkstep import OWN_HEADER, own_header_row, sheet_with_rejected_rows
from users.imports.jobs import import_job_run
from users.models import Customer, ImportJob, ImportStatus, User, UserRole

LIST_URL = "/api/imports/"
CHOSEN = {"A": "full_name", "B": "phone", "C": "shipping_mark", "D": "email"}


def job_url(job_id: Any, suffix: str = "") -> str:
    return f"/api/imports/{job_id}/{suffix}"


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def xlsx(rows: list[tuple[Any, ...]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload_and_check(client: APIClient, name: str, content: bytes) -> str:
    """Upload as a dry run through the API, then check it here, as the worker would."""
    answer = client.post(LIST_URL, {"file": SimpleUploadedFile(name, content), "dry_run": "true"}, format="multipart")
    assert answer.status_code == 202, answer.json()
    job_id = answer.json()["id"]
    import_job_run(job_id=uuid.UUID(job_id))
    return job_id


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def manager(db: None) -> User:
    """Staff who may follow every job (users.view_all_importjobs) but not import, nor view customers."""
    user = User.objects.create_user("0241000005", PASSWORD, user_role=UserRole.MANAGER, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_all_importjobs"))
    return user


@pytest.fixture
def rejected_job(admin_user: User, tmp_path: Path) -> str:
    """A checked dry run of 40 rows: rows 5, 9 and 14 are invalid, row 20 repeats row 3."""
    content = sheet_with_rejected_rows(tmp_path / "march.xlsx").read_bytes()
    return upload_and_check(client_for(admin_user), "march.xlsx", content)


# --- choosing columns ---


def test_a_sheet_missing_a_column_shows_its_columns_and_takes_a_column_map(admin_user: User) -> None:
    client = client_for(admin_user)
    job_id = upload_and_check(client, "clients.xlsx", xlsx([OWN_HEADER, *(own_header_row(n) for n in range(1, 8))]))

    waiting = client.get(job_url(job_id)).json()
    chosen = client.patch(job_url(job_id), {"column_map": {"A": "full_name"}}, format="json")
    import_job_run(job_id=uuid.UUID(job_id))
    checked = client.get(job_url(job_id)).json()

    assert waiting["status"] == "VALIDATED" and waiting["missing_fields"] == ["full_name"]
    assert waiting["columns"][0] == {
        "column": "A",
        "header": "Client",
        "samples": ["Kofi Mensah", "Esi Mensah", "Kwame Mensah"],
        "field": None,
        "matched_by": None,
        "suggested_field": "full_name",
    }
    assert "no name columns" in waiting["columns_message"]
    assert chosen.status_code == 202 and chosen.json()["status"] == "QUEUED"
    assert (checked["status"], checked["valid_rows"], checked["missing_fields"]) == ("VALIDATED", 7, [])
    assert checked["column_map"] == CHOSEN
    assert [(c["column"], c["matched_by"]) for c in checked["columns"]] == [
        ("A", "chosen"),
        ("B", "synonym"),
        ("C", "synonym"),
        ("D", "exact"),
    ]
    assert checked["row_fields"] == [
        {"field": "full_name", "column": "Client"},
        {"field": "phone", "column": "Tel."},
        {"field": "shipping_mark", "column": "Mark"},
        {"field": "email", "column": "E-mail"},
    ]
    assert checked["audit_trail"][0]["action"] == "columns_chosen"


def test_a_remembered_choice_is_said_so_on_the_next_upload(admin_user: User) -> None:
    client = client_for(admin_user)
    content = xlsx([OWN_HEADER, *(own_header_row(n) for n in range(1, 4))])
    first = upload_and_check(client, "clients.xlsx", content)
    client.patch(job_url(first), {"column_map": CHOSEN}, format="json")

    second = client.get(job_url(upload_and_check(client, "clients-april.xlsx", content))).json()

    assert second["valid_rows"] == 3 and second["columns"][0]["matched_by"] == "remembered"
    assert second["remembered_columns"]["confirmed_by"] == "Ama Admin"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"column_map": {"Q": "phone"}}, 400, "invalid_column_map"),
        ({"column_map": {"A": "phone"}}, 400, "invalid_column_map"),
        ({"column_map": "A=phone"}, 400, "invalid"),
    ],
)
def test_a_column_map_that_cant_work_is_a_400_with_a_sentence(
    admin_user: User, body: dict, status: int, code: str
) -> None:
    client = client_for(admin_user)
    job_id = upload_and_check(client, "clients.xlsx", xlsx([OWN_HEADER, own_header_row(1), own_header_row(2)]))

    answer = client.patch(job_url(job_id), body, format="json")

    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.json()
    assert ImportJob.objects.get(id=job_id).status == ImportStatus.VALIDATED, "nothing was queued"


def test_a_patch_choosing_nothing_changes_nothing(admin_user: User) -> None:
    client = client_for(admin_user)
    job_id = upload_and_check(client, "c.xlsx", xlsx([OWN_HEADER, own_header_row(1), own_header_row(2)]))

    answers = [client.patch(job_url(job_id), body, format="json") for body in ({}, {"column_map": {}})]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[1].json()["status"] == "VALIDATED" and answers[1].json()["missing_fields"] == ["full_name"]


def test_only_the_owner_chooses_columns(admin_user: User, manager: User, superuser: User) -> None:
    job_id = upload_and_check(
        client_for(admin_user), "c.xlsx", xlsx([OWN_HEADER, own_header_row(1), own_header_row(2)])
    )

    by_manager = client_for(manager).patch(job_url(job_id), {"column_map": CHOSEN}, format="json")
    by_superuser = client_for(superuser).patch(job_url(job_id), {"column_map": CHOSEN}, format="json")

    assert by_manager.status_code == 403, "may follow the job, not import"
    assert (by_superuser.status_code, by_superuser.json()["code"]) == (403, "permission_denied")


def test_a_job_waiting_for_columns_cant_be_committed(admin_user: User) -> None:
    client = client_for(admin_user)
    job_id = upload_and_check(client, "c.xlsx", xlsx([OWN_HEADER, own_header_row(1), own_header_row(2)]))

    answer = client.post(job_url(job_id, "commit/"))

    assert (answer.status_code, answer.json()["code"]) == (409, "columns_missing")


# --- the rows to correct ---


def test_the_rows_to_correct_are_paged_each_with_its_values_by_field_and_its_problems(
    admin_user: User, rejected_job: str
) -> None:
    client = client_for(admin_user)

    first = client.get(job_url(rejected_job, "rows/"), {"page_size": 3}).json()
    second = client.get(job_url(rejected_job, "rows/"), {"page_size": 3, "page": 2}).json()

    assert first["count"] == 4 and [row["row_number"] for row in first["results"]] == [5, 9, 14]
    assert [row["row_number"] for row in second["results"]] == [20]
    assert first["results"][0] == {
        "row_number": 5,
        "outcome": "FAILED",
        "values": {
            "shipping_mark": "PM00004",
            "first_name": "Abena",
            "last_name": "Mensah",
            "email": "c4@example.com",
            "phone": "12345",
            "region": "Ashanti",
        },
        "problems": [
            {
                "field": "phone",
                "column": "Phone Number",
                "value": "12345",
                "code": "phone_invalid",
                "reason": first["results"][0]["problems"][0]["reason"],
                "duplicate_of_row": None,
                "existing_customer_id": None,
            }
        ],
        "corrected": False,
    }
    assert second["results"][0]["problems"][0]["duplicate_of_row"] == 3


def test_correcting_a_row_answers_its_verdict_and_the_jobs_new_counts(admin_user: User, rejected_job: str) -> None:
    client = client_for(admin_user)

    answer = client.patch(job_url(rejected_job, "rows/5/"), {"values": {"phone": "0240000099"}}, format="json")

    body = answer.json()
    assert answer.status_code == 200, body
    assert (body["row_number"], body["outcome"], body["changed"], body["problems"]) == (5, "create", True, [])
    assert (body["job"]["valid_rows"], body["job"]["failed_count"], body["job"]["corrected_rows"]) == (37, 3, 1)
    assert [row["row_number"] for row in client.get(job_url(rejected_job, "rows/")).json()["results"]] == [9, 14, 20]
    trail = client.get(job_url(rejected_job, "audit/")).json()["results"]
    assert trail[0]["changes"] == [
        {"column": "Phone Number", "field": "phone", "before": "12345", "after": "0240000099"}
    ]
    assert trail[0]["user_name"] == "Ama Admin"


def test_a_correction_that_still_fails_is_a_422_with_its_problems_by_field(admin_user: User, rejected_job: str) -> None:
    answer = client_for(admin_user).patch(
        job_url(rejected_job, "rows/9/"), {"values": {"email": "still@wrong"}}, format="json"
    )

    body = answer.json()
    assert (answer.status_code, body["code"]) == (422, "row_invalid")
    assert list(body["errors"]) == ["email"]
    assert body["row"]["row_number"] == 9 and body["row"]["values"]["email"] == "still@wrong"
    assert body["message"].startswith("Row 9 still can't be imported:")


@pytest.mark.parametrize(
    ("row", "body", "status", "code"),
    [
        (2, {"values": {"phone": "0240000099"}}, 404, "not_found"),
        (5, {"values": {"nickname": "x"}}, 400, "invalid_option"),
        (5, {"values": {"phone": ["0240000099"]}}, 400, "invalid"),
    ],
)
def test_a_correction_of_no_rejected_row_or_no_column_is_refused(
    admin_user: User, rejected_job: str, row: int, body: dict, status: int, code: str
) -> None:
    answer = client_for(admin_user).patch(job_url(rejected_job, f"rows/{row}/"), body, format="json")

    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.json()


def test_a_patch_without_values_checks_the_row_again_as_it_stands(admin_user: User, rejected_job: str) -> None:
    answer = client_for(admin_user).patch(job_url(rejected_job, "rows/5/"), {}, format="json")

    assert (answer.status_code, answer.json()["code"]) == (422, "row_invalid")
    assert list(answer.json()["errors"]) == ["phone"]


def test_corrections_are_for_the_owner_while_the_job_waits(admin_user: User, manager: User, rejected_job: str) -> None:
    owner = client_for(admin_user)
    body = {"values": {"phone": "0240000099"}}

    by_manager = client_for(manager).patch(job_url(rejected_job, "rows/5/"), body, format="json")
    owner.post(job_url(rejected_job, "commit/"))
    after_commit = owner.patch(job_url(rejected_job, "rows/5/"), body, format="json")

    assert by_manager.status_code == 403
    assert (after_commit.status_code, after_commit.json()["code"]) == (409, "not_validated")


def test_a_correction_body_over_4_kb_is_refused_before_it_is_read(admin_user: User, rejected_job: str) -> None:
    answer = client_for(admin_user).patch(
        job_url(rejected_job, "rows/5/"), {"values": {"phone": "0" * 5000}}, format="json"
    )

    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")


def test_rows_matching_an_existing_customer_are_masked_for_viewers_who_may_not_see_customers(
    admin_user: User, manager: User, rejected_job: str
) -> None:
    Customer.objects.create(shipping_mark="PM OLD", first_name="Old", last_name="Timer", phone="+233240000077")
    client_for(admin_user).patch(job_url(rejected_job, "rows/5/"), {"values": {"phone": "0240000077"}}, format="json")

    owner_view = client_for(admin_user).get(job_url(rejected_job, "rows/")).json()["results"][0]
    manager_view = client_for(manager).get(job_url(rejected_job, "rows/")).json()["results"][0]
    manager_trail = client_for(manager).get(job_url(rejected_job, "audit/")).json()["results"][0]

    assert owner_view["outcome"] == "SKIPPED" and owner_view["values"]["phone"] == "0240000077"
    assert manager_view["values"]["phone"] == "" and manager_view["values"]["shipping_mark"] == "PM00004"
    assert manager_trail["changes"][0]["after"] == "", "the trail doesn't reveal an existing customer's phone"


def test_the_detail_view_queries_the_audit_trail_only_for_a_job_that_has_one(
    admin_user: User, rejected_job: str
) -> None:
    client = client_for(admin_user)

    with CaptureQueriesContext(connection) as plain:
        client.get(job_url(rejected_job))
    client.patch(job_url(rejected_job, "rows/5/"), {"values": {"phone": "0240000099"}}, format="json")
    with CaptureQueriesContext(connection) as corrected:
        body = client.get(job_url(rejected_job)).json()

    audit = [q["sql"] for q in plain if "users_importauditentry" in q["sql"]]
    assert audit == [], "a job nothing was changed on costs no query for its trail"
    assert len(corrected) == len(plain) + 1
    assert body["audit_trail"][0]["row_number"] == 5


@pytest.mark.django_db(transaction=True)
def test_corrections_racing_for_one_phone_number_let_exactly_one_row_have_it(admin_user: User, tmp_path: Path) -> None:
    """Four rows corrected at the same moment to the same new phone: one gets it, three are told whose it is."""
    job_id = upload_and_check(
        client_for(admin_user), "march.xlsx", sheet_with_rejected_rows(tmp_path / "march.xlsx").read_bytes()
    )
    phone = "0240000099"
    fixes = {
        5: {"phone": phone},
        9: {"email": "", "phone": phone},
        14: {"shipping_mark": "PM NEW 14", "phone": phone},
        20: {"shipping_mark": "PM NEW 20", "email": "", "phone": phone},
    }
    start = threading.Barrier(len(fixes))

    def correct(row: int) -> int:
        client = client_for(admin_user)
        start.wait()
        try:
            return client.patch(job_url(job_id, f"rows/{row}/"), {"values": fixes[row]}, format="json").status_code
        finally:
            connection.close()  # each thread's own connection, or the test database can't be dropped

    with ThreadPoolExecutor(max_workers=len(fixes)) as pool:
        answers = list(pool.map(correct, fixes))

    assert sorted(answers) == [200, 422, 422, 422], answers
    job = ImportJob.objects.get(id=job_id)
    assert (job.corrected_rows, job.valid_rows, job.failed_count) == (1, 37, 3), "the counts moved once"


# --- the whole loop with a real worker ---


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_choose_columns_correct_rows_and_commit_with_a_real_worker(admin_user: User) -> None:
    client = client_for(admin_user)
    rows = [own_header_row(n) for n in range(1, 31)]
    rows[4] = (rows[4][0], "12345", rows[4][2], rows[4][3])  # row 6: not a phone
    rows[9] = (rows[9][0], rows[9][1], "", rows[9][3])  # row 11: no mark
    upload = SimpleUploadedFile("clients.xlsx", xlsx([OWN_HEADER, *rows]))
    job_id = client.post(LIST_URL, {"file": upload, "dry_run": "true"}, format="multipart").json()["id"]
    workers.run_worker_until_idle(timeout=60)
    assert client.get(job_url(job_id)).json()["missing_fields"] == ["full_name"]

    client.patch(job_url(job_id), {"column_map": {"A": "full_name"}}, format="json")
    workers.run_worker_until_idle(timeout=60)
    assert client.get(job_url(job_id)).json()["failed_count"] == 2
    client.patch(job_url(job_id, "rows/6/"), {"values": {"phone": "0209999006"}}, format="json")
    client.patch(job_url(job_id, "rows/11/"), {"values": {"shipping_mark": "PM NEW 11"}}, format="json")
    assert client.post(job_url(job_id, "commit/")).status_code == 202
    workers.run_worker_until_idle(timeout=60)

    done = client.get(job_url(job_id)).json()
    assert (done["status"], done["created_count"], done["failed_count"]) == ("COMPLETE", 30, 0), done
    assert Customer.objects.get(import_row_number=11).shipping_mark == "PM NEW 11"
    assert Customer.objects.get(import_row_number=6).phone == "+233209999006"
