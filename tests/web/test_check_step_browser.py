"""The Check step in a real browser: choosing a sheet's columns, and correcting rejected rows from the keyboard.

Debian's chromium, driven by Playwright, against the live server and a real
worker process on the test database, as in test_browser.py. Each test leaves
the README's screenshot of its step (`make screenshots`).
"""

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web.conftest import sign_in
from tests.web.sheets import customer, write_xlsx
from tests.workers import LiveWorker
from users.models import Customer, ImportJob, ImportStatus, User

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Shot = Callable[..., Path]
OWN_HEADER = ("Client", "Tel.", "Mark", "E-mail")
NAMES = ("Ama Mensah", "Kofi Owusu", "Esi Boateng", "Yaw Asante", "Abena Osei", "Kwame Appiah", "Akosua Darko")
# Keyboard-only tests give up after this many Tab presses rather than loop for ever.
MAX_TABS = 80


def clients_sheet(path: Path, count: int = 7) -> Path:
    """Customers under headers of the admin's own: "Client" is a name, which no synonym can be sure of."""
    rows = [(NAMES[n % len(NAMES)], f"024{n:07d}", f"PM{n:04d}", f"client{n}@example.com") for n in range(1, count + 1)]
    return write_xlsx(path, rows, header=OWN_HEADER)


def sheet_with_problems(folder: Path) -> Path:
    """40 customers on sheet rows 2–41: rows 5 (phone), 9 (email), 14 (mark) wrong, row 20 repeats row 3."""
    rows = [customer(n) for n in range(1, 41)]
    rows[3][4] = "12345"
    rows[7][3] = "ama@@example"
    rows[12][0] = ""
    rows[18] = list(rows[1])
    return write_xlsx(folder / "march-customers.xlsx", rows)


def stat(section: "Locator", name: str) -> int:
    return int(section.locator(f"[data-count='{name}']").inner_text().replace(",", ""))


def tab_to(page: "Page", element_id: str) -> None:
    """Press Tab until the element has the focus, as a person without a mouse would reach it."""
    for _ in range(MAX_TABS):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} can't be reached with Tab in {MAX_TABS} presses")


def test_admin_chooses_the_columns_of_a_sheet_with_its_own_headers_and_the_next_one_is_read_the_same_way(
    signed_in_page: "Page", import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    page = signed_in_page
    page.get_by_label("Spreadsheet", exact=True).set_input_files(clients_sheet(tmp_path / "clients.xlsx"))
    page.get_by_role("button", name="Validate").click()

    page.get_by_role("heading", name="“clients.xlsx” needs its columns chosen").wait_for()
    columns = page.locator("#columns-panel")
    assert "no column for Name" in page.locator("[data-field='preview-summary']").inner_text()
    assert columns.get_by_text("Suggested: its values look like people's names").is_visible(), "suggested by values"
    assert columns.locator("tbody tr").first.locator(".sample").all_inner_texts() == list(NAMES[1:4])
    assert page.get_by_role("button", name=re.compile(r"^Import")).is_hidden(), "nothing to import until chosen"
    shot(page, "11-choose-columns")

    columns.get_by_label("Column A (Client) holds").select_option(label="Name (first and last)")
    columns.get_by_role("button", name="Check again with these columns").click()

    page.get_by_role("heading", name="“clients.xlsx” is checked").wait_for()
    assert stat(page.locator("#step-preview"), "valid") == 7
    page.get_by_role("button", name="Import 7 customers").click()
    page.get_by_role("heading", name="Import complete").wait_for()
    assert stat(page.locator("#step-done"), "created") == 7
    assert Customer.objects.get(shipping_mark="PM0001").first_name == "Kofi"

    page.get_by_role("button", name="Import another file").click()
    page.get_by_label("Spreadsheet", exact=True).set_input_files(clients_sheet(tmp_path / "more-clients.xlsx", 3))
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("heading", name="“more-clients.xlsx” is checked").wait_for()

    note = page.locator("[data-field='columns-note']")
    assert note.is_visible() and "confirmed on" in note.inner_text() and "same headers" in note.inner_text()
    assert page.get_by_text("Matched by as confirmed before for these headers").is_visible()


def test_admin_corrects_two_rejected_rows_with_the_keyboard_and_the_summary_counts_them_as_created(
    signed_in_page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    page = signed_in_page
    Customer.objects.create(shipping_mark="PM000024", first_name="Ama24", last_name="Mensah24", phone="+233240000024")
    page.get_by_label("Spreadsheet", exact=True).set_input_files(sheet_with_problems(tmp_path))
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Import 35 customers").wait_for()
    preview = page.locator("#step-preview")
    assert preview.locator("tbody th").all_inner_texts() == ["5", "9", "14", "20", "25"]

    page.locator("body").focus()
    tab_to(page, "row-5-phone")
    page.keyboard.type("0240000099")
    page.keyboard.press("Enter")
    preview.locator("tr[data-row='5']").get_by_text("Corrected: it will be imported.").wait_for()
    assert page.evaluate("document.activeElement.id") == "row-9-email", "the next row's wrong cell has the focus"
    page.keyboard.type("ama9@example.com")
    page.keyboard.press("Enter")
    preview.locator("tr[data-row='9']").get_by_text("Corrected: it will be imported.").wait_for()

    page.get_by_role("button", name="Import 37 customers").wait_for()
    assert stat(preview, "valid") == 37 and stat(preview, "invalid") == 1
    preview.get_by_text("Row 9 corrected").wait_for()  # the audit trail, shown on the Check step
    assert "12345 → 0240000099" in preview.locator("#audit").inner_text()
    shot(page, "12-correct-rows")

    tab_to(page, "commit-button")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Import complete").wait_for()
    summary = page.locator("#step-done")
    assert {name: stat(summary, name) for name in ("created", "skipped", "failed")} == {
        "created": 37,
        "skipped": 1,
        "failed": 2,
    }
    assert Customer.objects.get(import_row_number=5).phone == "+233240000099"
    assert Customer.objects.get(import_row_number=9).email == "ama9@example.com"
    job = ImportJob.objects.get()
    assert (job.status, job.corrected_rows) == (ImportStatus.COMPLETE, 2)


def test_a_wrong_correction_is_explained_beside_its_cell_and_nothing_is_saved(
    browser: object, web_server: str, admin_user: User, import_worker: LiveWorker, tmp_path: Path
) -> None:
    from tests.web.conftest import PHONE

    context = browser.new_context(base_url=web_server, viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        sign_in(page, phone="0241000001")
        page.get_by_label("Spreadsheet", exact=True).set_input_files(sheet_with_problems(tmp_path))
        page.get_by_role("button", name="Validate").click()
        page.get_by_role("button", name="Import 36 customers").wait_for()

        phone = page.get_by_label("Row 5, Phone Number")
        phone.fill("0241")
        phone.press("Enter")

        page.locator("tr[data-row='5'] .row-status").filter(has_text=re.compile("^Not saved")).wait_for()
        assert "'0241'" in page.locator("#row-5-phone-problem").inner_text(), "the new value's problem, beside it"
        assert phone.get_attribute("aria-invalid") == "true"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, "a row to correct fits a phone's width, one card per row"
        assert ImportJob.objects.get().corrected_rows == 0
    finally:
        context.close()


def test_someone_elses_rejected_rows_and_columns_are_shown_not_offered_for_change(
    page: "Page", admin_user: User, tmp_path: Path
) -> None:
    from django.contrib.auth.models import Permission

    from tests.conftest import PASSWORD
    from tests.imports.checkstep import dry_run

    job = dry_run(admin_user, sheet_with_problems(tmp_path))
    colleague = User.objects.create_user("0241000032", PASSWORD, first_name="Yaw", is_staff=True)
    colleague.user_permissions.add(*Permission.objects.filter(codename__in=["add_customer", "view_all_importjobs"]))
    sign_in(page, phone="0241000032")

    page.goto(f"/imports/{job.id}/")
    page.get_by_text("Only the person who uploaded this file can import it.").wait_for()
    rows = page.locator("[data-field='errors-body'] tr")
    rows.first.wait_for()

    assert page.locator("[data-field='errors-body'] th").all_inner_texts() == ["5", "9", "14", "20"]
    assert page.locator("input.cell-input").count() == 0, "the owner corrects rows; others read them"
    assert "12345" in rows.first.inner_text(), "the values and the problems are shown as text"
    page.locator("#columns-panel summary").click()
    assert page.locator("#columns-panel select").first.is_disabled()
    assert page.locator("#columns-button").is_hidden()
