"""End-to-end pipeline runs through the job lifecycle, in-process, on the real database."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.imports.factories import customer_row, customer_rows
from users.imports import pipeline
from users.imports.jobs import import_job_run
from users.imports.recovery import requeue_stale_imports
from users.imports.services import (
    customer_bulk_create,
    import_job_cancel,
    import_job_commit,
    import_job_create_from_payload,
)
from users.models import Customer, ImportJob, ImportRowError, ImportStatus, RowErrorCode, User

pytestmark = pytest.mark.django_db


def accounted(job: ImportJob) -> int:
    return job.created_count + job.updated_count + job.skipped_count + job.failed_count


def run(job: ImportJob) -> ImportJob:
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    return job


def test_every_row_is_accounted_for(admin_user: User) -> None:
    rows = customer_rows(30)
    rows[3]["phone"] = "12"  # invalid
    rows[7]["shipping_mark"] = rows[2]["shipping_mark"]  # duplicate in the file
    Customer.objects.create(shipping_mark="PM 00010", first_name="A", last_name="B", phone="+233200000010")
    job = run(import_job_create_from_payload(user=admin_user, customers=rows))
    assert job.status == ImportStatus.COMPLETE
    assert job.total_rows == 30
    assert (job.created_count, job.skipped_count, job.failed_count) == (27, 1, 2)
    assert accounted(job) == job.total_rows, "total rows = created + updated + skipped + failed, always"
    duplicate = ImportRowError.objects.get(job=job, code=RowErrorCode.DUPLICATE_IN_FILE)
    assert duplicate.row_number == rows[7]["source_row_number"]
    assert duplicate.duplicate_of_row == rows[2]["source_row_number"]


@override_settings(IMPORT_TRANSACTION_ROWS=10)
def test_dry_run_writes_nothing_and_the_same_job_can_then_be_committed(admin_user: User) -> None:
    rows = customer_rows(25)
    rows[0]["email"] = "not-an-email"
    job = import_job_create_from_payload(user=admin_user, customers=rows)
    ImportJob.objects.filter(id=job.id).update(dry_run=True)
    job = run(job)
    assert job.status == ImportStatus.VALIDATED
    assert (job.total_rows, job.valid_rows, job.failed_count) == (25, 24, 1)
    assert Customer.objects.count() == 0, "validation must not write customers"
    job = import_job_commit(job=job, user=admin_user)
    job = run(job)
    assert job.status == ImportStatus.COMPLETE
    assert (job.created_count, job.failed_count) == (24, 1)
    assert Customer.objects.count() == 24
    assert ImportRowError.objects.filter(job=job).count() == 1, "the commit pass replaces the validation's errors"


class Crash(BaseException):
    """Stands in for the process dying: BaseException, so nothing in the pipeline catches it."""


def crash_after(chunks: int) -> Callable[..., None]:
    seen = {"n": 0}

    def collect(*_args: object) -> None:
        seen["n"] += 1
        if seen["n"] == chunks:
            raise Crash

    return collect


@override_settings(IMPORT_TRANSACTION_ROWS=10)
def test_a_job_resumes_from_its_checkpoint_without_losing_or_duplicating_rows(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = customer_rows(55)
    rows[12]["phone"] = "bad"
    rows[40]["email"] = rows[5]["email"].upper()  # an in-file duplicate after the crash point of an earlier row
    job = import_job_create_from_payload(user=admin_user, customers=rows)
    original_write = pipeline.write_sheet
    monkeypatch.setattr(
        "users.imports.jobs.write_sheet",
        lambda *a, **kw: original_write(*a, **{**kw, "collect": crash_after(3)}),
    )
    with pytest.raises(Crash):
        import_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING and job.checkpoint == rows[29]["source_row_number"]
    assert Customer.objects.count() == 29
    monkeypatch.undo()

    # The heartbeat goes stale; the sweep queues it again and a worker resumes it.
    ImportJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert requeue_stale_imports(stale_after_seconds=60) == [str(job.id)]
    job = run(job)
    assert job.status == ImportStatus.COMPLETE
    assert Customer.objects.count() == 53
    assert (job.created_count, job.failed_count, job.total_rows) == (53, 2, 55)
    assert ImportRowError.objects.filter(job=job).count() == 2, "no error recorded twice"
    assert ImportRowError.objects.get(job=job, code=RowErrorCode.DUPLICATE_IN_FILE).duplicate_of_row == 7


def test_a_second_sweep_does_not_queue_a_job_again(admin_user: User) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(3))
    ImportJob.objects.filter(id=job.id).update(
        status=ImportStatus.RUNNING, worker_id="dead", heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    assert requeue_stale_imports(stale_after_seconds=60) == [str(job.id)]
    assert requeue_stale_imports(stale_after_seconds=60) == []


@override_settings(IMPORT_TRANSACTION_ROWS=10)
def test_cancel_stops_at_a_chunk_boundary_and_keeps_committed_rows(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(50))
    original_write = pipeline.write_sheet

    def cancel_after_two(*args: object, **kwargs: object) -> None:
        seen = {"n": 0}

        def collect(*_a: object) -> None:
            seen["n"] += 1
            if seen["n"] == 2:
                import_job_cancel(job=job, user=admin_user)

        original_write(*args, **{**kwargs, "collect": collect})

    monkeypatch.setattr("users.imports.jobs.write_sheet", cancel_after_two)
    job = run(job)
    assert job.status == ImportStatus.CANCELLED
    assert job.created_count == Customer.objects.count() == 20


def test_cancelling_a_queued_job_stops_it_before_it_starts(admin_user: User) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(5))
    import_job_cancel(job=job, user=admin_user)
    job = run(job)
    assert job.status == ImportStatus.CANCELLED and Customer.objects.count() == 0


def test_synchronous_bulk_create_reports_created_and_failed_rows(admin_user: User) -> None:
    rows = [customer_row(1), customer_row(2, phone="123"), customer_row(3)]
    result = customer_bulk_create(user=admin_user, customers=rows)
    assert [c.source_row_number for c in result.created] == [2, 4]
    [failure] = result.failed
    assert failure.source_row_number == 3 and "phone" in failure.error.lower()
    assert failure.customer_data["phone"] == "123"
    assert result.job.status == ImportStatus.COMPLETE


def test_update_policy_counts_updates(admin_user: User) -> None:
    customer_bulk_create(user=admin_user, customers=customer_rows(3))
    changed = [customer_row(n, first_name="Renamed") for n in range(1, 4)]
    job = run(import_job_create_from_payload(user=admin_user, customers=changed, on_duplicate="update"))
    assert (job.created_count, job.updated_count, job.skipped_count) == (0, 3, 0)
    assert set(Customer.objects.values_list("first_name", flat=True)) == {"Renamed"}


def test_a_queued_job_whose_task_was_lost_is_queued_again(
    admin_user: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from django_tasks_db.models import DBTaskResult

    from users.imports.recovery import requeue_orphaned_imports

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create_from_payload(user=admin_user, customers=customer_rows(3))
    assert DBTaskResult.objects.count() == 1
    DBTaskResult.objects.all().delete()  # as if the web worker died before its enqueue
    long_ago = timezone.now() - timedelta(minutes=5)
    ImportJob.objects.filter(id=job.id).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_orphaned_imports(older_than_seconds=60) == [str(job.id)]
    assert DBTaskResult.objects.count() == 1
    ImportJob.objects.filter(id=job.id).update(updated_at=long_ago)
    assert requeue_orphaned_imports(older_than_seconds=60) == [], "a job with a waiting task is left alone"
    assert run(job).status == ImportStatus.COMPLETE


@pytest.mark.parametrize("numbers", [[3, 2, 9], [0, 1, 2], [-5, 1, 2], [True, 2, 3], ["1", 2, 3], [2, 2, 3]])
def test_unusable_client_row_numbers_fall_back_to_positions(numbers: list[object]) -> None:
    from users.imports.payload import source_row_numbers

    assert source_row_numbers([{"source_row_number": n} for n in numbers]) == [1, 2, 3]


def test_rising_client_row_numbers_are_kept() -> None:
    from users.imports.payload import source_row_numbers

    assert source_row_numbers([{"source_row_number": n} for n in (2, 5, 40)]) == [2, 5, 40]
