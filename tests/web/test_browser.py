"""The admin's whole import workflow in a real browser.

Debian's chromium, driven by Playwright, against the live server and a real worker
process on the test database: sign in, upload a file with errors, read the preview,
import, watch the bar reach 100, download the error report, cancel an import midway,
and meet each problem as a plain sentence. Each step leaves a screenshot (see `shot`).
"""

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PASSWORD
from tests.web.conftest import PHONE, sign_in
from tests.web.sheets import HEADER, customer, many_customers, write_xlsx
from tests.workers import LiveWorker
from users.models import Customer, ImportJob, ImportStatus, User

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Shot = Callable[..., Path]
# Enough rows that the import is still running while the test leaves, comes back and cancels, even on PostgreSQL.
ROWS_TO_CANCEL = 20_000


def sheet_with_problems(folder: Path) -> Path:
    """40 customers on sheet rows 2–41, five of them wrong in a different way each."""
    rows = [customer(n) for n in range(1, 41)]
    rows[3][4] = "12345"  # row 5: not a phone number
    rows[7][3] = "ama@@example"  # row 9: not an email address
    rows[12][0] = ""  # row 14: no shipping mark
    rows[18] = list(rows[1])  # row 20: the customer of row 3 again
    # row 25 (customer 24) already exists, created by the test
    return write_xlsx(folder / "march-customers.xlsx", rows)


def existing_customer_for_row_25() -> Customer:
    return Customer.objects.create(
        shipping_mark="PM000024", first_name="Ama24", last_name="Mensah24", phone="+233240000024"
    )


def drop_file(page: "Page", path: Path) -> None:
    """Drop the file on the drop zone as a person dragging it from their desktop would."""
    data = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": data})
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": data})


def stat(section: "Locator", name: str) -> int:
    return int(section.locator(f"[data-count='{name}']").inner_text().replace(",", ""))


def alert_text(page: "Page") -> str:
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    return alert.inner_text()


def test_admin_validates_a_file_with_errors_imports_it_and_downloads_the_rejected_rows(
    page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    existing_customer_for_row_25()
    page.goto("/imports/")
    page.get_by_label("Phone number").fill("024 100 0001")
    page.get_by_label("Password").fill(PASSWORD)
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/imports/")
    shot(page, "02-upload")

    drop_file(page, sheet_with_problems(tmp_path))
    assert "march-customers.xlsx" in page.locator("#file-chosen").inner_text()
    page.get_by_role("button", name="Validate").click()

    preview = page.locator("#step-preview")
    page.get_by_role("heading", name="“march-customers.xlsx” is checked").wait_for()
    counts = {name: stat(preview, name) for name in ("rows", "valid", "invalid", "duplicates", "existing")}
    assert counts == {"rows": 40, "valid": 35, "invalid": 3, "duplicates": 1, "existing": 1}
    table_rows = [int(n) for n in preview.locator("tbody th").all_inner_texts()]
    assert table_rows == [5, 9, 14, 20, 25], "the first errors table lists each rejected row in order"
    assert preview.get_by_role("link", name="Download rejected rows").is_visible()
    assert Customer.objects.count() == 1, "nothing is written before the admin confirms"
    shot(page, "03-preview")

    page.get_by_role("button", name="Import 35 customers").click()
    bar = page.get_by_role("progressbar", name="Import progress")
    bar.and_(page.locator("[aria-valuenow='100']")).wait_for()
    page.get_by_role("heading", name="Import complete").wait_for()
    summary = page.locator("#step-done")
    assert {name: stat(summary, name) for name in ("created", "updated", "skipped", "failed")} == {
        "created": 35,
        "updated": 0,
        "skipped": 1,
        "failed": 4,
    }
    assert summary.locator("[data-field='duration']").inner_text().endswith("s")
    shot(page, "05-summary")

    with page.expect_download() as download_info:
        summary.get_by_role("link", name="Download error report").click()
    report = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(report)
    assert report.suffix == ".xlsx"
    from openpyxl import load_workbook

    rows = list(load_workbook(report, read_only=True).active.iter_rows(values_only=True))
    assert rows[0][: len(HEADER)] == HEADER, (
        "the report keeps the template's columns, so it can be fixed and re-uploaded"
    )
    assert [int(row[-2]) for row in rows[1:]] == [5, 9, 14, 20, 25]
    errors = {int(row[-2]): row[-1] for row in rows[1:]}
    assert "phone" in errors[5].lower() and "email" in errors[9].lower() and "row 3" in errors[20].lower()

    summary.get_by_role("link", name="View imported customers").click()
    page.get_by_role("heading", name="Imported customers").wait_for()
    assert "35 customers" in page.locator(".page-head").inner_text()


def test_admin_cancels_a_running_import_and_finds_it_again_after_leaving(
    signed_in_page: "Page", import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    page = signed_in_page
    page.get_by_label("Spreadsheet", exact=True).set_input_files(
        many_customers(tmp_path / "big-list.xlsx", ROWS_TO_CANCEL)
    )
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name=f"Import {ROWS_TO_CANCEL:,} customers").click()

    bar = page.get_by_role("progressbar", name="Import progress")
    page.wait_for_function(
        "() => { const v = Number(document.querySelector('#step-progress [role=progressbar]')"
        ".getAttribute('aria-valuenow')); return v > 0 && v < 70; }"
    )
    page.locator("#step-progress [data-field='rate']").filter(has_text=re.compile(r"\d")).wait_for()
    shot(page, "04-progress")

    page.get_by_role("link", name="History").click()
    page.get_by_role("navigation").get_by_role("link", name="New import").click()
    page.locator("#step-progress").wait_for(timeout=10_000)  # coming back to /imports/ shows the running import
    assert bar.is_visible()

    page.get_by_role("button", name="Cancel import").click()
    page.get_by_role("heading", name="Import cancelled").wait_for()
    shot(page, "06-cancelled")

    job = ImportJob.objects.get()
    assert job.status == ImportStatus.CANCELLED
    assert 0 < job.created_count < ROWS_TO_CANCEL, f"cancelled midway, after {job.created_count} rows"
    assert Customer.objects.count() == job.created_count, "what was saved before the cancel is kept, and no more"
    assert stat(page.locator("#step-done"), "created") == job.created_count


def test_admin_fixes_the_rejected_rows_and_uploads_the_file_again(
    signed_in_page: "Page", import_worker: LiveWorker, tmp_path: Path
) -> None:
    page = signed_in_page
    existing_customer_for_row_25()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(sheet_with_problems(tmp_path))
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Import 35 customers").wait_for()

    page.get_by_role("button", name="Choose another file").click()
    fixed = write_xlsx(tmp_path / "march-customers-fixed.xlsx", [customer(n) for n in range(1, 41) if n != 24])
    page.get_by_label("Spreadsheet", exact=True).set_input_files(fixed)
    page.get_by_role("button", name="Validate").click()

    page.get_by_text("Every row is valid: 39 customers are ready to import.").wait_for()
    assert page.locator("#preview-errors").is_hidden()


def test_a_stalled_worker_is_explained_rather_than_spinning_forever(signed_in_page: "Page", tmp_path: Path) -> None:
    page = signed_in_page  # and no worker running
    page.clock.install()
    page.reload()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "list.xlsx", 3))
    page.get_by_role("button", name="Validate").click()
    page.get_by_text("Waiting for the worker to pick up the file").wait_for()

    page.clock.fast_forward(25_000)

    page.get_by_text("Still waiting for the background worker").wait_for()


def test_welcome_texts_are_counted_on_the_summary_when_asked_for(
    signed_in_page: "Page", import_worker: LiveWorker, settings: object, tmp_path: Path, shot: Shot
) -> None:
    settings.SMS_BACKEND = "console"  # type: ignore[attr-defined]
    page = signed_in_page
    page.reload()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "three.xlsx", 3))
    page.get_by_label("Text each new customer a welcome SMS").check()
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Import 3 customers").click()
    page.get_by_role("heading", name="Import complete").wait_for()

    summary = page.locator("#step-done")
    summary.locator("[data-count='sms_sent']").filter(has_text="3").wait_for()

    assert ImportJob.objects.get().send_sms
    assert stat(summary, "sms_failed") == 0
    shot(page, "10-summary-with-sms")


def test_texts_queued_just_after_the_import_completes_still_reach_the_summary(
    signed_in_page: "Page", admin_user: User
) -> None:
    """The worker marks the import complete, then queues its texts: a page polling in between must wait for them."""
    from django.utils import timezone

    from users.models import SmsMessage, SmsStatus

    job = ImportJob.objects.create(
        created_by=admin_user,
        original_filename="three.xlsx",
        status=ImportStatus.COMPLETE,
        send_sms=True,
        total_rows=3,
        processed_rows=3,
        created_count=3,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    customers = [
        Customer.objects.create(
            shipping_mark=f"PMTXT{n}", first_name="Ama", last_name=f"Text{n}", phone=f"+23324100010{n}", import_job=job
        )
        for n in range(3)
    ]
    page = signed_in_page
    page.goto(f"{page.url.split('/imports/')[0]}/imports/{job.id}/")
    page.get_by_role("heading", name="Import complete").wait_for()

    SmsMessage.objects.bulk_create(
        SmsMessage(customer=c, import_job=job, to=c.phone, body="Welcome", status=SmsStatus.SENT) for c in customers
    )

    page.locator("#step-done [data-count='sms_sent']").filter(has_text="3").wait_for(timeout=15_000)


def test_history_shows_who_imported_what_and_how_it_went(signed_in_page: "Page", admin_user: User, shot: Shot) -> None:
    ImportJob.objects.create(
        created_by=admin_user,
        original_filename="march-customers.xlsx",
        status=ImportStatus.COMPLETE,
        total_rows=40,
        created_count=35,
        skipped_count=1,
        failed_count=4,
    )
    ImportJob.objects.create(
        created_by=admin_user,
        original_filename="big-list.xlsx",
        status=ImportStatus.CANCELLED,
        total_rows=12_000,
        created_count=3_400,
    )
    ImportJob.objects.create(
        created_by=admin_user,
        original_filename="old-export.xls",
        status=ImportStatus.FAILED,
        error_message="The sheet has no Phone column.",
    )
    page = signed_in_page

    page.get_by_role("link", name="History").click()

    table = page.get_by_role("table")
    assert table.get_by_role("link", name="march-customers.xlsx", exact=True).is_visible()
    statuses = table.locator(".badge").all_inner_texts()
    assert statuses == ["Failed", "Cancelled", "Complete"], "newest first, each with its status"
    shot(page, "07-history")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param("customers.xlsx", b"PK\x03\x04 this zip stops here", "damaged", id="damaged"),
        pytest.param("photo.png", b"\x89PNG\r\n\x1a\n", "not a spreadsheet", id="wrong-format"),
        pytest.param("empty.csv", b"", "is empty", id="empty"),
    ],
)
def test_a_file_that_cannot_be_read_is_explained_in_a_sentence(
    signed_in_page: "Page", import_worker: LiveWorker, name: str, content: bytes, expected: str
) -> None:
    page = signed_in_page
    page.get_by_label("Spreadsheet", exact=True).set_input_files({"name": name, "mimeType": "", "buffer": content})
    page.get_by_role("button", name="Validate").click()

    message = alert_text(page)

    assert expected in message.lower()
    assert "Traceback" not in page.content()


def test_a_missing_column_is_named(
    signed_in_page: "Page", import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    page = signed_in_page
    no_phone = write_xlsx(
        tmp_path / "no-phone.xlsx",
        [row[:4] for row in (customer(n) for n in range(1, 6))],
        header=HEADER[:4],
    )
    page.get_by_label("Spreadsheet", exact=True).set_input_files(no_phone)
    page.get_by_role("button", name="Validate").click()

    message = alert_text(page)

    assert "Phone" in message
    assert page.get_by_label("Spreadsheet", exact=True).is_visible(), "the admin can pick a fixed file straight away"
    shot(page, "08-missing-column")


def test_a_file_over_the_limit_is_refused_before_uploading(
    signed_in_page: "Page", settings: object, tmp_path: Path
) -> None:
    settings.IMPORT_MAX_UPLOAD_SIZE = 2 * 1024  # type: ignore[attr-defined]
    page = signed_in_page
    page.reload()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "large.xlsx", 200))
    page.get_by_role("button", name="Validate").click()

    assert "the largest file accepted is 2 KB" in alert_text(page)
    assert not ImportJob.objects.exists()


def test_an_unreachable_server_is_reported_plainly(signed_in_page: "Page", tmp_path: Path) -> None:
    page = signed_in_page
    page.route("**/api/imports/", lambda route: route.abort("connectionrefused"))
    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "list.xlsx", 3))
    page.get_by_role("button", name="Validate").click()

    assert "The server can't be reached" in alert_text(page)


def test_the_page_works_from_the_keyboard_with_visible_focus(signed_in_page: "Page") -> None:
    page = signed_in_page
    page.get_by_label("Spreadsheet", exact=True).focus()

    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")

    assert outline != "none", "the focused file input shows a focus ring"
    assert focused == "Download the template", "Tab moves on to the next control in reading order"


def test_sign_in_page_and_preview_fit_a_phone_screen(
    browser: object, web_server: str, admin_user: User, import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    existing_customer_for_row_25()
    context = browser.new_context(base_url=web_server, viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        sign_in(page, phone="0241000001")
        page.get_by_label("Spreadsheet", exact=True).set_input_files(sheet_with_problems(tmp_path))
        page.get_by_role("button", name="Validate").click()
        page.get_by_role("button", name="Import 35 customers").wait_for()

        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")

        assert overflow <= 0, "nothing sticks out sideways on a phone (wide tables scroll inside their box)"
        shot(page, "09-phone-preview")
    finally:
        context.close()
