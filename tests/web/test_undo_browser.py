"""Undoing an import in a real browser: the offer in the history, the confirmation, the undo, what the page says.

Debian's chromium, driven by Playwright, against the live server and a real
worker process: the admin finds the wrong import in the history, reads how many
customers the undo will delete and restore and how many welcome texts already
went out, confirms, and sees who undid it and when, on the summary and in the
history. Screenshots 13 and 14 are the README's.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.web.sheets import customer, many_customers, write_xlsx
from tests.workers import LiveWorker, wait_for_job
from users.imports.services import import_job_create
from users.models import Customer, DuplicatePolicy, ImportJob, ImportStatus, SmsMessage, SmsStatus, User

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Shot = Callable[..., Path]
# Enough rows that the undo (50-row chunks with the browser tests' worker) is still running when Stop is clicked.
ROWS_TO_STOP = 20_000


def table() -> list[dict[str, Any]]:
    return list(Customer.objects.order_by("id").values())


def existing_customers() -> None:
    """Five customers typed in before the wrong import, which overwrites them."""
    for n in range(1, 6):
        Customer.objects.create(
            shipping_mark=customer(n)[0], first_name="Kwame", last_name=f"Boateng{n}", phone=f"+23320{n:07d}"
        )


def wrong_import(user: User, folder: Path, worker: LiveWorker) -> ImportJob:
    """An update import of 30 rows: 25 new customers (2 of them texted) and the 5 existing ones overwritten."""
    path = write_xlsx(folder / "april-customers.xlsx", [customer(n) for n in range(1, 31)])
    job = import_job_create(
        user=user,
        uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()),
        on_duplicate=DuplicatePolicy.UPDATE,
    )
    job = wait_for_job(job.id, timeout=120, worker=worker)
    assert (job.status, job.created_count, job.updated_count) == (ImportStatus.COMPLETE, 25, 5)
    for created in Customer.objects.filter(import_job=job)[:2]:
        SmsMessage.objects.create(customer=created, import_job=job, to=created.phone, body="Hi", status=SmsStatus.SENT)
    ImportJob.objects.filter(id=job.id).update(send_sms=True)  # as if texts had been asked for
    return job


def test_admin_undoes_a_wrong_import_from_the_history_after_reading_the_confirmation(
    signed_in_page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path, shot: Shot
) -> None:
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    earlier = import_job_create(
        user=admin_user,
        uploaded_file=SimpleUploadedFile(
            "march-customers.xlsx", many_customers(tmp_path / "m.xlsx", 12, start=100).read_bytes()
        ),
    )
    assert wait_for_job(earlier.id, timeout=120, worker=import_worker).status == ImportStatus.COMPLETE
    existing_customers()
    before = table()
    job = wrong_import(admin_user, tmp_path, import_worker)
    page = signed_in_page

    page.get_by_role("link", name="History").click()
    page.get_by_role("row").filter(has_text="april-customers.xlsx").get_by_role("link", name="Undo this import").click()

    dialog = page.get_by_role("dialog", name="Undo this import?")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "25 customers created by “april-customers.xlsx” will be deleted" in text, text
    assert "5 customers it updated will get back their values from before the import" in text, text
    assert "2 welcome texts have already gone out; they can't be unsent" in text, text
    shot(page, "13-undo-confirm", full_page=False)

    dialog.get_by_role("button", name="Undo import").click()

    summary = page.locator("#step-done")
    summary.get_by_text("Undone by Ama Admin").wait_for()
    assert page.get_by_role("heading", name="Import undone").is_visible()
    assert "25 customers deleted, 5 customers given back their values" in summary.inner_text()
    assert page.locator("#undo-button").is_hidden(), "an undone import can't be undone twice"
    assert table() == before, "the table is as it was before the import"

    page.get_by_role("link", name="History").click()
    row = page.get_by_role("row").filter(has_text="april-customers.xlsx")
    assert "Undone by Ama Admin" in row.inner_text() and "25 deleted, 5 restored" in row.inner_text()
    assert row.get_by_role("link", name="Undo this import").count() == 0
    other = page.get_by_role("row").filter(has_text="march-customers.xlsx")
    assert other.get_by_role("link", name="Undo this import").is_visible(), "the other import may still be undone"
    assert Customer.objects.filter(import_job=earlier).count() == 12, "and the undo didn't touch it"
    assert ImportJob.objects.get(undoes=job).created_by_id == admin_user.pk
    shot(page, "14-history-undone")


def test_keep_it_closes_the_confirmation_and_undoes_nothing(
    signed_in_page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path
) -> None:
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    existing_customers()
    job = wrong_import(admin_user, tmp_path, import_worker)
    page = signed_in_page

    page.goto(f"/imports/{job.id}/")
    page.get_by_role("button", name="Undo this import").click()
    dialog = page.get_by_role("dialog", name="Undo this import?")
    dialog.get_by_role("button", name="Keep it").click()

    assert dialog.is_hidden()
    assert page.get_by_role("button", name="Undo this import").is_visible()
    assert not ImportJob.objects.filter(undoes=job).exists()
    assert Customer.objects.filter(import_job=job).count() == 25


def test_without_the_delete_customer_permission_there_is_no_undo_button(
    signed_in_page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path
) -> None:
    existing_customers()
    job = wrong_import(admin_user, tmp_path, import_worker)
    page = signed_in_page

    page.goto(f"/imports/{job.id}/")
    page.get_by_role("heading", name="Import complete").wait_for()
    assert page.locator("#undo-button").is_hidden()
    page.get_by_role("link", name="History").click()
    assert page.get_by_role("link", name="Undo this import").count() == 0


def test_a_running_undo_can_be_stopped_and_finished_later(
    signed_in_page: "Page", admin_user: User, import_worker: LiveWorker, tmp_path: Path
) -> None:
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    path = many_customers(tmp_path / "may-customers.xlsx", ROWS_TO_STOP)
    job = import_job_create(user=admin_user, uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()))
    job = wait_for_job(job.id, timeout=240, worker=import_worker)
    assert job.created_count == ROWS_TO_STOP
    page = signed_in_page

    page.goto(f"/imports/{job.id}/")
    page.get_by_role("button", name="Undo this import").click()
    page.get_by_role("dialog", name="Undo this import?").get_by_role("button", name="Undo import").click()
    page.get_by_role("button", name="Stop undoing").wait_for()
    # Stopped once the worker has committed some chunks (stopped while still queued, it would undo nothing).
    wait_for_job(ImportJob.objects.get(undoes=job).id, until=lambda j: j.processed_rows > 0, worker=import_worker)
    page.get_by_role("button", name="Stop undoing").click()

    undo = wait_for_job(ImportJob.objects.get(undoes=job).id, timeout=120, worker=import_worker)
    assert undo.status == ImportStatus.CANCELLED, "stopped before it finished"
    page.get_by_text("was stopped; what it undid stays undone").wait_for()
    left = Customer.objects.filter(import_job=job).count()
    assert 0 < left < ROWS_TO_STOP, "part undone, part left"

    page.get_by_role("button", name="Finish undoing").click()
    page.get_by_role("dialog", name="Undo this import?").get_by_role("button", name="Undo import").click()
    page.get_by_role("heading", name="Import undone").wait_for()
    assert not Customer.objects.filter(import_job=job).exists(), "the resumed undo took back the rest"
