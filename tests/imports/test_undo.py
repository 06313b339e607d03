"""Undoing an import, end to end with real worker processes: what it deletes, restores, keeps, and refuses.

The table is compared row by row, every column, before the import and after
its undo: an undo that leaves a trace (a timestamp, a welcome text, a customer
too many or too few) fails here.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.imports.factories import customer_row, customer_rows
from tests.workers import run_worker_until_idle
from users.imports.errors import RefusalCode, ServiceError
from users.imports.services import import_job_create_from_payload
from users.imports.undo import import_job_undo, import_undo_preview
from users.models import (
    Customer,
    DuplicatePolicy,
    ImportedUpdate,
    ImportJob,
    ImportRowError,
    ImportStatus,
    Region,
    RowErrorCode,
    SmsMessage,
    SmsStatus,
    User,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def undoer(admin_user: User) -> User:
    """admin_user, who may also delete customers: everything an undo needs."""
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    return User.objects.get(pk=admin_user.pk)  # a fresh instance: permissions are cached per instance


def table() -> list[dict[str, Any]]:
    """Every customer, every column, in id order."""
    return list(Customer.objects.order_by("id").values())


def existing_customers(numbers: range) -> None:
    """Customers already there before any import, as an admin typed them (another region, another name)."""
    for n in numbers:
        row = customer_row(n)
        Customer.objects.create(
            shipping_mark=row["shipping_mark"],
            first_name=f"Old{n}",
            last_name=f"Name{n}",
            email=f"old{n}@example.org",
            phone=f"+23324{n:07d}",
            region=Region.ASHANTI,
        )


def imported(user: User, rows: list[dict[str, Any]], on_duplicate: str = "skip", **worker_env: str) -> ImportJob:
    job = import_job_create_from_payload(user=user, customers=rows, on_duplicate=on_duplicate)
    run_worker_until_idle(timeout=120, extra_env=worker_env or None)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETE, f"{job.error_code}: {job.error_message}"
    return job


def undone(job: ImportJob, user: User, **worker_env: str) -> ImportJob:
    undo = import_job_undo(job=job, user=user)
    assert undo.status == ImportStatus.QUEUED
    run_worker_until_idle(timeout=120, extra_env=worker_env or None)
    undo.refresh_from_db()
    assert undo.status == ImportStatus.COMPLETE, f"{undo.error_code}: {undo.error_message}"
    return undo


def test_undo_of_an_import_that_created_customers_leaves_the_table_exactly_as_before(undoer: User) -> None:
    existing_customers(range(1, 6))
    before = table()
    job = imported(undoer, customer_rows(120, start=100))
    assert job.created_count == 120

    # Chunks of 25 source rows: the undo crosses many chunk boundaries.
    undo = undone(job, undoer, IMPORT_TRANSACTION_ROWS="25")

    assert table() == before, "the customers the import created are gone, and nothing else changed"
    assert (undo.deleted_count, undo.restored_count, undo.kept_changed_count, undo.kept_referenced_count) == (
        120,
        0,
        0,
        0,
    )
    assert (undo.processed_rows, undo.total_rows, undo.checkpoint) == (120, 120, 0)
    assert undo.created_by_id == undoer.pk and undo.finished_at is not None, "who undid it, and when"


def test_undo_of_an_update_import_restores_every_field_of_every_customer(undoer: User) -> None:
    existing_customers(range(1, 41))
    before = table()
    # Matched by shipping mark; every other field changes (name, email, phone, region), and 10 rows are new.
    rows = [customer_row(n, phone=f"020{n:07d}", region="Volta") for n in range(1, 51)]
    job = imported(undoer, rows, on_duplicate=DuplicatePolicy.UPDATE)
    assert (job.updated_count, job.created_count) == (40, 10)
    assert ImportedUpdate.objects.filter(job=job).count() == 40, "each update kept the customer's previous values"
    assert table() != before

    undo = undone(job, undoer, IMPORT_TRANSACTION_ROWS="7")

    assert table() == before, "every field of every updated customer is back, updated_at included"
    assert (undo.deleted_count, undo.restored_count, undo.kept_changed_count) == (10, 40, 0)


def test_undo_deletes_a_customer_that_took_an_updated_customers_old_phone_before_giving_it_back(undoer: User) -> None:
    existing_customers(range(1, 2))
    before = table()
    # Row 2 matches customer 1 by mark and gives it a new phone; a row in a later chunk of the import creates a
    # new customer with customer 1's old phone, free by then. Undone in one chunk, the new customer must go
    # before customer 1 can have its phone back.
    old_phone = Customer.objects.get().phone
    rows = [
        customer_row(1, phone="0200000001"),
        *customer_rows(12, start=10),
        customer_row(999, phone="0" + old_phone.removeprefix("+233")),
    ]
    job = imported(undoer, rows, on_duplicate=DuplicatePolicy.UPDATE, IMPORT_TRANSACTION_ROWS="5")
    assert (job.updated_count, job.created_count) == (1, 13)
    assert Customer.objects.filter(phone=old_phone).exclude(shipping_mark="PM 00001").exists()

    undo = undone(job, undoer)

    assert table() == before
    assert (undo.deleted_count, undo.restored_count, undo.kept_changed_count) == (13, 1, 0)


def test_imports_undone_newest_first_leave_the_table_as_before_the_first(undoer: User) -> None:
    existing_customers(range(1, 4))
    before = table()
    first = imported(undoer, customer_rows(10, start=1))  # updates nothing: creates 10, skips nothing
    second = imported(undoer, [customer_row(n, region="Volta") for n in range(1, 13)], on_duplicate="update")
    assert (first.created_count, second.updated_count, second.created_count) == (7, 10, 2)

    undone(second, undoer)
    undo = undone(ImportJob.objects.get(id=first.id), undoer)

    assert table() == before, "the first import's customers are as it left them once the second is undone"
    assert (undo.deleted_count, undo.kept_changed_count) == (7, 0)


def test_an_import_undone_while_a_later_import_s_updates_stand_keeps_what_that_import_changed(undoer: User) -> None:
    first = imported(undoer, customer_rows(4, start=1))
    imported(undoer, [customer_row(1, region="Volta")], on_duplicate="update")

    undo = undone(ImportJob.objects.get(id=first.id), undoer)

    assert (undo.deleted_count, undo.kept_changed_count) == (3, 1)
    assert Customer.objects.get().region == Region.VOLTA


def test_a_customer_edited_after_the_import_is_kept_and_reported(undoer: User) -> None:
    existing_customers(range(1, 11))
    rows = [customer_row(n, region="Volta") for n in range(1, 21)]
    job = imported(undoer, rows, on_duplicate=DuplicatePolicy.UPDATE)
    created_edited = Customer.objects.get(shipping_mark="PM 00015")
    created_edited.first_name = "Edited"
    created_edited.save()
    updated_edited = Customer.objects.get(shipping_mark="PM 00003")
    updated_edited.last_name = "Edited"
    updated_edited.save()

    undo = undone(job, undoer)

    assert Customer.objects.get(pk=created_edited.pk).first_name == "Edited", "a created customer edited since stays"
    assert Customer.objects.get(pk=updated_edited.pk).last_name == "Edited", "an updated customer edited since stays"
    assert (undo.deleted_count, undo.restored_count, undo.kept_changed_count) == (9, 9, 2)
    reported = set(
        ImportRowError.objects.filter(job=undo, code=RowErrorCode.CHANGED_SINCE).values_list(
            "existing_customer_id", flat=True
        )
    )
    assert reported == {created_edited.pk, updated_edited.pk}, "the undo's report names the customers it kept"
    assert Customer.objects.count() == 11, "the ten customers from before, and the one edited since"


def test_a_customer_other_data_refers_to_is_kept_and_its_own_welcome_texts_go_with_it(undoer: User) -> None:
    job = imported(undoer, customer_rows(5, start=1))
    first, second, *_ = Customer.objects.filter(import_job=job).order_by("id")
    # A text of the import itself (it goes with its customer), and a text sent by something else (it keeps one).
    SmsMessage.objects.create(customer=first, import_job=job, to=first.phone, body="Welcome", status=SmsStatus.SENT)
    SmsMessage.objects.create(customer=second, import_job=None, to=second.phone, body="Your goods have arrived")

    undo = undone(job, undoer)

    assert list(Customer.objects.values_list("id", flat=True)) == [second.pk], "only the referenced customer stays"
    assert (undo.deleted_count, undo.kept_referenced_count) == (4, 1)
    assert ImportRowError.objects.filter(job=undo, code=RowErrorCode.REFERENCED, existing_customer_id=second.pk)
    assert SmsMessage.objects.count() == 1, "the import's own welcome text went with its customer"


def test_the_confirmation_counts_customers_to_delete_and_restore_and_texts_sent(undoer: User) -> None:
    existing_customers(range(1, 4))
    job = imported(undoer, customer_rows(8, start=1), on_duplicate=DuplicatePolicy.UPDATE)
    for customer in Customer.objects.filter(import_job=job)[:2]:
        SmsMessage.objects.create(customer=customer, import_job=job, to=customer.phone, body="Hi", status="sent")
    ImportJob.objects.filter(id=job.id).update(send_sms=True)
    job.refresh_from_db()

    preview = import_undo_preview(job=job, user=undoer)

    assert (preview.to_delete, preview.to_restore, preview.texts_sent, preview.allowed) == (5, 3, 2, True)


def refusal(job: ImportJob, user: User) -> str:
    with pytest.raises(ServiceError) as refused:
        import_job_undo(job=job, user=user)
    return refused.value.code


def test_undo_needs_the_delete_and_change_customer_permissions(admin_user: User, undoer: User) -> None:
    job = imported(undoer, customer_rows(3))
    undoer.user_permissions.remove(Permission.objects.get(codename="delete_customer"))
    without_delete = User.objects.get(pk=undoer.pk)
    assert refusal(job, without_delete) == RefusalCode.PERMISSION_DENIED
    assert Customer.objects.count() == 3 and not ImportJob.objects.filter(undoes=job).exists()


def test_undo_is_refused_after_the_undo_window(undoer: User, settings: Any) -> None:
    settings.IMPORT_UNDO_DAYS = 30
    job = imported(undoer, customer_rows(3))
    job.finished_at = timezone.now() - timedelta(days=31)
    assert refusal(job, undoer) == RefusalCode.UNDO_EXPIRED
    job.finished_at = timezone.now() - timedelta(days=29)
    assert import_job_undo(job=job, user=undoer).status == ImportStatus.QUEUED, "within the window it is allowed"


def test_an_undone_import_cant_be_undone_twice(undoer: User) -> None:
    job = imported(undoer, customer_rows(3))
    undone(job, undoer)
    job = ImportJob.objects.select_related("undo").get(id=job.id)
    assert refusal(job, undoer) == RefusalCode.ALREADY_UNDONE
    assert refusal(job.undo, undoer) == RefusalCode.NOT_UNDOABLE, "an undo itself can't be undone"


def test_a_dry_run_or_an_import_still_running_cant_be_undone(undoer: User) -> None:
    job = import_job_create_from_payload(user=undoer, customers=customer_rows(3))
    assert refusal(job, undoer) == RefusalCode.NOT_UNDOABLE, "queued, not ended"


def test_undo_is_refused_while_another_import_that_touched_the_same_customers_runs(undoer: User) -> None:
    job = imported(undoer, customer_rows(5))
    later = imported(undoer, [customer_row(3, region="Volta")], on_duplicate=DuplicatePolicy.UPDATE)
    ImportJob.objects.filter(id=later.id).update(status=ImportStatus.RUNNING)  # as if still on its way
    assert refusal(job, undoer) == RefusalCode.CUSTOMERS_BUSY
    unrelated = imported(undoer, customer_rows(2, start=50))
    assert import_job_undo(job=unrelated, user=undoer).status == ImportStatus.QUEUED, "other customers: allowed"


def test_a_cancelled_undo_can_be_asked_for_again_and_finishes_the_rest(undoer: User) -> None:
    existing_customers(range(1, 3))
    before = table()
    job = imported(undoer, customer_rows(40, start=10))
    undo = import_job_undo(job=job, user=undoer)
    from users.imports.services import import_job_cancel

    import_job_cancel(job=undo, user=undoer)  # before any worker took it: cancelled at once, nothing undone
    undo.refresh_from_db()
    assert undo.status == ImportStatus.CANCELLED
    job = ImportJob.objects.get(id=job.id)

    again = undone(job, undoer)

    assert again.id == undo.id, "the same undo resumes"
    assert table() == before


def test_the_database_lets_only_one_undo_job_in_for_an_import(undoer: User) -> None:
    """Two requests that both found no undo yet: the unique `undoes` column refuses the second insert."""
    from users.imports import lifecycle
    from users.models import ImportSource

    job = imported(undoer, customer_rows(2))

    def new_undo() -> ImportJob:
        return ImportJob(created_by=undoer, source=ImportSource.UNDO, undoes=job, checkpoint=job.checkpoint)

    assert lifecycle.undo_requested(undo=new_undo()) is not None
    assert lifecycle.undo_requested(undo=new_undo()) is None, "the second is refused by the database"
    assert ImportJob.objects.filter(undoes=job).count() == 1


def test_an_updated_customer_whose_old_phone_another_customer_took_since_is_kept_and_the_rest_restored(
    undoer: User,
) -> None:
    existing_customers(range(1, 6))
    job = imported(undoer, [customer_row(n, phone=f"020{n:07d}") for n in range(1, 6)], on_duplicate="update")
    Customer.objects.create(shipping_mark="PM NEWCOMER", first_name="Efua", last_name="New", phone="+233240000003")
    taken = Customer.objects.get(shipping_mark="PM 00003")

    undo = undone(job, undoer)

    assert (undo.restored_count, undo.kept_changed_count) == (4, 1)
    assert Customer.objects.get(pk=taken.pk).phone == "+233200000003", "kept with the import's phone"
    assert Customer.objects.get(shipping_mark="PM 00001").phone == "+233240000001", "the others got theirs back"
    assert ImportRowError.objects.get(job=undo).existing_customer_id == taken.pk


def test_previous_values_go_once_their_import_is_past_undoing(undoer: User) -> None:
    from users.imports.undo import imported_updates_prune

    existing_customers(range(1, 4))
    old = imported(undoer, customer_rows(3, start=1), on_duplicate="update")
    recent = imported(undoer, [customer_row(n, region="Volta") for n in range(1, 4)], on_duplicate="update")
    ImportJob.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=31))

    assert imported_updates_prune(older_than_days=30) == 3
    assert not ImportedUpdate.objects.filter(job=old).exists(), "customers' old values are not kept past the window"
    assert ImportedUpdate.objects.filter(job=recent).count() == 3, "a recent import can still be undone"
