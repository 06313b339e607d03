"""In a real browser: the page works for an importer with no extra rights, and offers nobody what they can't do."""

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.web.conftest import sign_in
from tests.web.sheets import many_customers
from tests.workers import LiveWorker
from users.models import Customer, ImportJob, ImportStatus, SmsMessage, User

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def staff(phone: str, *codenames: str) -> User:
    user = User.objects.create_user(phone, PASSWORD, first_name="Kojo", last_name="Staff", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_an_importer_with_no_extra_rights_validates_and_imports_without_the_choices_they_lack(
    page: "Page", import_worker: LiveWorker, tmp_path: Path
) -> None:
    staff("0241000031", "add_customer")
    sign_in(page, phone="0241000031")

    assert page.get_by_label("Text each new customer a welcome SMS").count() == 0
    assert page.get_by_text("Update the customer").count() == 0
    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "three.xlsx", 3))
    page.get_by_role("button", name="Validate").click()
    page.get_by_role("button", name="Import 3 customers").click()
    page.get_by_role("heading", name="Import complete").wait_for()

    job = ImportJob.objects.get()
    assert (job.on_duplicate, job.send_sms, job.created_count) == ("skip", False, 3)
    assert page.get_by_role("link", name="View imported customers").is_hidden(), "it needs users.view_customer"


def test_someone_elses_validated_import_shows_no_import_button(page: "Page", admin_user: User) -> None:
    job = ImportJob.objects.create(
        created_by=admin_user,
        original_filename="theirs.xlsx",
        status=ImportStatus.VALIDATED,
        dry_run=True,
        total_rows=3,
        valid_rows=3,
        processed_rows=3,
    )
    staff("0241000032", "add_customer", "view_all_importjobs")
    sign_in(page, phone="0241000032")

    page.goto(f"/imports/{job.id}/")
    page.get_by_text("Only the person who uploaded this file can import it.").wait_for()

    assert page.locator("#commit-button").is_hidden()


def test_an_upload_over_the_active_import_quota_is_explained_on_the_page(
    page: "Page", admin_user: User, settings: object, tmp_path: Path
) -> None:
    for _ in range(settings.IMPORT_MAX_ACTIVE_JOBS_PER_USER):  # type: ignore[attr-defined]
        ImportJob.objects.create(created_by=admin_user, status=ImportStatus.QUEUED, original_filename="waiting.xlsx")
    # Queued two days ago (no worker has run since): too old for the page to resume, still holding their slots.
    ImportJob.objects.update(created_at=timezone.now() - timedelta(days=2))
    sign_in(page, phone="0241000001")

    page.get_by_label("Spreadsheet", exact=True).set_input_files(many_customers(tmp_path / "one.xlsx", 1))
    page.get_by_role("button", name="Validate").click()

    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "imports waiting or running" in alert.inner_text() and "cancel one" in alert.inner_text()


def test_the_summary_counts_the_welcome_texts_refused_and_says_why(
    page: "Page", admin_user: User, settings: object
) -> None:
    settings.SMS_BACKEND = "console"  # type: ignore[attr-defined]
    job = ImportJob.objects.create(
        created_by=admin_user,
        original_filename="three.xlsx",
        status=ImportStatus.COMPLETE,
        send_sms=True,
        total_rows=3,
        processed_rows=3,
        created_count=3,
    )
    for n, (status, code) in enumerate([("sent", ""), ("refused", "country_blocked"), ("refused", "daily_limit")]):
        customer = Customer.objects.create(
            shipping_mark=f"PM {n}", first_name="Ama", last_name="Mensah", phone=f"+23324000000{n}", import_job=job
        )
        SmsMessage.objects.create(
            customer=customer, import_job=job, to=customer.phone, body="Hi", status=status, error_code=code
        )
    sign_in(page, phone="0241000001")

    page.goto(f"/imports/{job.id}/")
    page.get_by_role("heading", name="Import complete").wait_for()

    summary = page.locator("#step-done")
    assert summary.locator("[data-count='sms_refused']").inner_text() == "2"
    note = summary.locator("[data-field='sms-note']").inner_text()
    assert note == (
        "2 welcome texts were not sent: 1 to numbers outside the countries welcome texts may go to; "
        "1 because the day's limit of texts was reached."
    )
