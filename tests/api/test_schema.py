"""The published OpenAPI schema: it is valid, the docs page needs no CDN, and the API keeps to it.

The last test is schemathesis: for every operation in /api/schema/ (but the
frontend's /api/auth/ ones, which tests/api/test_frontend_schema.py runs the same
way) it generates requests, valid and invalid, from the schema, sends them to the
real WSGI application with a staff JWT, and fails on any 500 or any response the
schema doesn't describe (status, content type, body).
"""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.specs.openapi.checks import positive_data_acceptance

from users.models import ImportJob, ImportRowError, ImportStatus, RowErrorCode, User

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Enough to reach every status an operation documents, few enough to finish in a couple of minutes on 2 cores.
MAX_EXAMPLES = 30


def test_schema_is_valid_openapi_3_listing_every_job_api_operation(client: Client, db: None) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations >= {
        ("/api/imports/", "get"),
        ("/api/imports/", "post"),
        ("/api/imports/{job_id}/", "get"),
        ("/api/imports/{job_id}/commit/", "post"),
        ("/api/imports/{job_id}/cancel/", "post"),
        ("/api/imports/{job_id}/errors/", "get"),
        ("/api/imports/{job_id}/errors.xlsx", "get"),
        ("/api/imports/{job_id}/errors.csv", "get"),
        ("/api/customers/", "get"),
    }
    assert {"jwtAuth", "cookieAuth"} <= set(document["components"]["securitySchemes"])


def test_schema_passes_drf_spectacular_validation() -> None:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    validate_schema(SchemaGenerator().get_schema(request=None, public=True))


def test_docs_api_md_walks_through_every_job_api_operation(client: Client, db: None) -> None:
    """docs/api.md shows each call with curl; a new endpoint must not go undocumented."""
    document = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    walkthrough = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    as_shown = {"/api/": "$API/", "{job_id}": "$JOB", "{row_number}": "$ROW"}  # the walkthrough's shell variables
    missing = []
    for path in document["paths"]:
        shown = path
        for part, variable in as_shown.items():
            shown = shown.replace(part, variable)
        if path.startswith(("/api/imports/", "/api/customers/")) and shown not in walkthrough:
            missing.append(path)
    assert not missing, f"docs/api.md has no curl example for {missing}"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_from_our_static_files_not_a_cdn(client: Client, db: None, path: str) -> None:
    """Render's private network and offline installs can't reach jsdelivr: the page must work without it."""
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn." not in page and "jsdelivr" not in page and "unpkg" not in page, "the docs page must not use a CDN"
    assert "/static/drf_spectacular_sidecar/" in page


@pytest.mark.parametrize(
    "asset",
    [
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js",
    ],
)
def test_docs_page_assets_are_shipped_as_static_files(asset: str) -> None:
    assert finders.find(asset), f"{asset} is not among the static files (is drf_spectacular_sidecar installed?)"


# --- schemathesis ---


# Loaded once, at collection, from the application itself (no database needed to render the schema).
# schemathesis's lazy `from_fixture` loader doesn't work under pytest 9, so the app is module-level.
WSGI_APP = WSGIHandler()
# NUL can't be stored in a PostgreSQL text column, so DRF refuses it in every string (a 400 is right, and
# generating it only makes schemathesis call a correct refusal a rejected valid request).
SCHEMATHESIS_CONFIG = schemathesis.Config.from_dict({"generation": {"allow-x00": False}})
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGI_APP, config=SCHEMATHESIS_CONFIG)


@pytest.fixture
def in_process_app(settings: Any, tmp_path: Path) -> Iterator[WSGIHandler]:
    """The real WSGI application, in-process, sharing the test's database transaction.

    Django's own test client stops request signals from closing the test's
    connection; a bare WSGIHandler needs the same, or the first request would
    close the connection the test's transaction lives on.
    """
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = FAST_HASHER
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGI_APP
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded_jobs(admin_user: User, superuser: User) -> list[ImportJob]:
    """Jobs for generated requests to find: the admin's own (validated, with errors) and someone else's."""
    validated = ImportJob.objects.create(
        created_by=admin_user,
        status=ImportStatus.VALIDATED,
        dry_run=True,
        total_rows=3,
        valid_rows=2,
        failed_count=1,
        sheet_layout=TEMPLATE_LAYOUT,  # as its check found it: the Check step's endpoints can work on it
    )
    ImportRowError.objects.create(
        job=validated,
        row_number=3,
        column="Phone Number",
        value="=1+1",
        code=RowErrorCode.PHONE_INVALID,
        reason="Phone number '=1+1' is not a phone number.",
        raw_data={"Shipping Mark": "PM3", "Phone Number": "=1+1"},
    )
    complete = ImportJob.objects.create(created_by=admin_user, status=ImportStatus.COMPLETE, total_rows=10)
    not_theirs = ImportJob.objects.create(created_by=superuser, status=ImportStatus.RUNNING)
    return [validated, complete, not_theirs]


# The columns of a sheet in the template's layout, as the header stage records them (users/imports/columns.py).
TEMPLATE_LAYOUT = {
    "sheet": "Customers",
    "key": "",
    "header": {
        "header_row": 1,
        "columns": {"shipping_mark": 0, "first_name": 1, "last_name": 2, "email": 3, "phone": 4, "region": 5},
        "labels": {"phone": "Phone Number"},
        "unknown": [],
    },
    "columns": [
        {
            "index": index,
            "column": "ABCDEF"[index],
            "header": label,
            "samples": [],
            "field": field,
            "matched_by": "exact",
            "suggested": None,
        }
        for index, (field, label) in enumerate(
            [
                ("shipping_mark", "Shipping Mark"),
                ("first_name", "First Name"),
                ("last_name", "Last Name"),
                ("email", "Email"),
                ("phone", "Phone Number"),
                ("region", "Region"),
            ]
        )
    ],
    "missing": [],
    "remembered": None,
}
# Well-formed requests the schema can't tell from acceptable ones: a file that isn't a spreadsheet (a PNG is a 400
# at once, by design), a column letter the sheet doesn't have, a corrected phone that isn't a phone number (422).
CONTENT_CHECKED = {
    ("POST", "/api/imports/"),
    ("PATCH", "/api/imports/{job_id}/"),
    ("PATCH", "/api/imports/{job_id}/rows/{row_number}/"),
}

# /api/auth/ (the React frontend's contract) has its own run in test_frontend_schema.py; this one takes the rest.
NOT_FRONTEND = schema.exclude(path_regex=r"^/api/auth/")


@pytest.mark.slow
@NOT_FRONTEND.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is a bug, not bad luck
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_within_its_schema(
    case: Any, in_process_app: WSGIHandler, admin_user: User, seeded_jobs: list[ImportJob]
) -> None:
    # Random UUIDs only ever reach the 404 branch; send most job requests to real jobs instead.
    if "job_id" in (case.path_parameters or {}):
        generated = str(case.path_parameters["job_id"])
        pick = int(uuid.uuid5(uuid.NAMESPACE_URL, generated).hex, 16) % 4
        if pick < len(seeded_jobs):
            case.path_parameters["job_id"] = str(seeded_jobs[pick].id)
    # Likewise half the row numbers go to the seeded job's rejected row 3.
    if isinstance((case.path_parameters or {}).get("row_number"), int) and case.path_parameters["row_number"] % 2:
        case.path_parameters["row_number"] = 3
    token = RefreshToken.for_user(admin_user).access_token
    # Any non-empty bytes fit the upload's schema, but only a spreadsheet is accepted: the schema can't say
    # "a spreadsheet" (nor "a column this sheet has", nor "a phone number"), so that check is off for those alone.
    excluded = [positive_data_acceptance] if (case.method, case.path) in CONTENT_CHECKED else None
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)
