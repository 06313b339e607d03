"""Races between imports, with real worker processes on the real database.

Two workers import overlapping files at the same moment: the unique constraints
in the database decide who creates each customer, the loser reports the row as
an existing customer, and every row of both files is accounted for in one job
or the other. The same file imported twice skips (or updates) every row the
second time.
"""

from pathlib import Path

import pytest
from django.db.models import Count

from tests.hostile.conftest import assert_every_row_accounted_for, row_outcomes, sheet_row, stored_form, uploaded
from tests.imports.spreadsheets import HEADER, write_csv, write_xlsx
from tests.workers import LiveWorker, run_worker_until_idle, wait_for_job
from users.imports.services import import_job_create
from users.models import Customer, DuplicatePolicy, ImportJob, ImportRowError, ImportStatus, RowErrorCode, User

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Small transactions, so the two jobs' chunks interleave many times while they overlap.
WORKER_ENV = {"IMPORT_TRANSACTION_ROWS": "250", "LOG_LEVEL": "WARNING"}
ROWS_PER_FILE = 6000
OVERLAP = 3000


def both_finished(jobs: list[ImportJob], workers: list[LiveWorker]) -> list[ImportJob]:
    finished = []
    for job in jobs:
        done = wait_for_job(job.id, timeout=300, worker=workers[0])
        assert done.status == ImportStatus.COMPLETE, f"{done.status} {done.error_code}: {done.error_message}"
        finished.append(done)
    return finished


def ran_at_the_same_time(first: ImportJob, second: ImportJob) -> bool:
    return first.started_at < second.finished_at and second.started_at < first.finished_at


def test_overlapping_files_imported_at_once_create_each_customer_once_and_account_for_every_row(
    admin_user: User, tmp_path: Path
) -> None:
    # File A holds customers 1–6000 in order; file B holds 3001–9000 backwards, so the two
    # workers reach the shared customers 3001–6000 from opposite ends and meet in the middle.
    a_numbers = list(range(1, ROWS_PER_FILE + 1))
    b_numbers = list(range(ROWS_PER_FILE - OVERLAP + 1, 2 * ROWS_PER_FILE - OVERLAP + 1))[::-1]
    file_a = write_xlsx(tmp_path / "branch-a.xlsx", [HEADER, *(sheet_row(n) for n in a_numbers)])
    file_b = write_csv(tmp_path / "branch-b.csv", [HEADER, *(sheet_row(n) for n in b_numbers)])
    job_a = import_job_create(user=admin_user, uploaded_file=uploaded(file_a))
    job_b = import_job_create(user=admin_user, uploaded_file=uploaded(file_b))

    workers = [LiveWorker(extra_env=WORKER_ENV), LiveWorker(extra_env=WORKER_ENV)]
    try:
        job_a, job_b = both_finished([job_a, job_b], workers)
    finally:
        for worker in workers:
            worker.stop()

    assert ran_at_the_same_time(job_a, job_b), "the two imports must overlap in time, or this proves nothing"
    everyone = set(a_numbers) | set(b_numbers)
    stored = set(Customer.objects.values_list("shipping_mark", "phone", "email"))
    assert stored == {stored_form(n) for n in everyone}, "every customer of either file exists, and nothing else"
    assert Customer.objects.count() == len(everyone), "no customer exists twice"
    assert job_a.created_count + job_b.created_count == len(everyone), "each customer was created by exactly one job"
    data_rows = range(2, ROWS_PER_FILE + 2)
    assert_every_row_accounted_for(job_a, data_rows)
    assert_every_row_accounted_for(job_b, data_rows)
    # A shared customer that one job created is an existing customer to the other: skipped, never lost.
    not_created = ImportRowError.objects.filter(job__in=[job_a, job_b]).exclude(code=RowErrorCode.ALREADY_EXISTS)
    assert not not_created.exists(), f"only 'already exists' skips expected: {list(not_created.values()[:3])}"
    assert job_a.skipped_count + job_b.skipped_count == OVERLAP
    assert job_a.failed_count == job_b.failed_count == 0


def test_the_same_file_imported_twice_at_once_creates_each_customer_once(admin_user: User, tmp_path: Path) -> None:
    numbers = range(1, ROWS_PER_FILE + 1)
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *(sheet_row(n) for n in numbers)])
    jobs = [import_job_create(user=admin_user, uploaded_file=uploaded(path)) for _ in range(2)]

    workers = [LiveWorker(extra_env=WORKER_ENV), LiveWorker(extra_env=WORKER_ENV)]
    try:
        first, second = both_finished(jobs, workers)
    finally:
        for worker in workers:
            worker.stop()

    assert ran_at_the_same_time(first, second), "the two imports must overlap in time, or this proves nothing"
    assert set(Customer.objects.values_list("shipping_mark", "phone", "email")) == {stored_form(n) for n in numbers}
    assert Customer.objects.count() == ROWS_PER_FILE
    assert first.created_count + second.created_count == ROWS_PER_FILE
    assert first.skipped_count + second.skipped_count == ROWS_PER_FILE
    data_rows = range(2, ROWS_PER_FILE + 2)
    assert_every_row_accounted_for(first, data_rows)
    assert_every_row_accounted_for(second, data_rows)
    created_first, _ = row_outcomes(first)
    created_second, _ = row_outcomes(second)
    assert not created_first & created_second, "no row was created by both jobs"


def test_the_same_file_imported_again_skips_every_row_then_updates_every_row(admin_user: User, tmp_path: Path) -> None:
    numbers = range(1, 301)
    path = write_csv(tmp_path / "customers.csv", [HEADER, *(sheet_row(n) for n in numbers)])
    data_rows = range(2, 302)

    first = import_job_create(user=admin_user, uploaded_file=uploaded(path))
    run_worker_until_idle(extra_env=WORKER_ENV)
    first.refresh_from_db()
    assert (first.status, first.created_count) == (ImportStatus.COMPLETE, 300)
    originals = dict(Customer.objects.values_list("phone", "id"))

    again = import_job_create(user=admin_user, uploaded_file=uploaded(path), on_duplicate=DuplicatePolicy.SKIP)
    run_worker_until_idle(extra_env=WORKER_ENV)
    again.refresh_from_db()
    assert again.status == ImportStatus.COMPLETE
    assert (again.created_count, again.skipped_count, again.failed_count) == (0, 300, 0)
    assert_every_row_accounted_for(again, data_rows)
    skips = ImportRowError.objects.filter(job=again)
    assert set(skips.values_list("code", flat=True)) == {RowErrorCode.ALREADY_EXISTS}
    assert set(skips.values_list("existing_customer_id", flat=True)) == set(originals.values()), (
        "each skip names the customer the first run created"
    )

    updated = import_job_create(user=admin_user, uploaded_file=uploaded(path), on_duplicate=DuplicatePolicy.UPDATE)
    run_worker_until_idle(extra_env=WORKER_ENV)
    updated.refresh_from_db()
    assert updated.status == ImportStatus.COMPLETE
    assert (updated.created_count, updated.updated_count, updated.skipped_count, updated.failed_count) == (
        0,
        300,
        0,
        0,
    )
    assert not ImportRowError.objects.filter(job=updated).exists()
    assert dict(Customer.objects.values_list("phone", "id")) == originals, "updated in place: same ids, none added"
    duplicated = Customer.objects.values("phone").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicated.exists()
