"""Crash safety of an undo with real processes: SIGKILL the worker halfway through, and another finishes it exactly.

The table after the resumed undo must equal the table before the import, every
row and every column: no customer deleted twice or left behind, no update
restored twice (a second restore would find the customer "changed since" and
keep it), and the undo's counts must add up to what the import did.
"""

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from tests.imports.factories import customer_row
from tests.workers import LiveWorker, run_worker_until_idle, wait_for_job
from users.imports.services import import_job_create_from_payload
from users.imports.undo import import_job_undo
from users.models import Customer, DuplicatePolicy, ImportStatus, Region, User

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = 20_000
EXISTING = 500  # customers the import updates
# Small chunks, so the kill lands between many committed ones; a short stale heartbeat, so the test doesn't wait.
WORKER_ENV = {"IMPORT_TRANSACTION_ROWS": "20", "IMPORT_HEARTBEAT_STALE_SECONDS": "3", "LOG_LEVEL": "INFO"}


def table() -> list[dict[str, Any]]:
    return list(Customer.objects.order_by("id").values())


def test_killed_undo_is_resumed_by_another_worker_and_leaves_the_table_exactly_as_before(admin_user: User) -> None:
    admin_user.user_permissions.add(Permission.objects.get(codename="delete_customer"))
    user = User.objects.get(pk=admin_user.pk)
    Customer.objects.bulk_create(
        Customer(
            shipping_mark=f"PM {n:05d}",
            first_name="Before",
            last_name=f"Import{n}",
            phone=f"+23320{n:07d}",
            region=Region.ASHANTI,
        )
        for n in range(1, EXISTING + 1)
    )
    before = table()
    rows = [customer_row(n, region="Volta") for n in range(1, ROWS + 1)]  # the first 500 update by mark
    job = import_job_create_from_payload(user=user, customers=rows, on_duplicate=DuplicatePolicy.UPDATE)
    run_worker_until_idle(timeout=300)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.updated_count) == (ImportStatus.COMPLETE, ROWS - EXISTING, EXISTING)

    undo = import_job_undo(job=job, user=user)
    first = LiveWorker(extra_env=WORKER_ENV)
    try:
        undo = wait_for_job(undo.id, until=lambda j: j.processed_rows >= ROWS // 3, timeout=240, worker=first)
    finally:
        first.kill()
    undo.refresh_from_db()
    assert undo.status == ImportStatus.RUNNING, "the killed worker left its undo running"
    assert 0 < undo.processed_rows < ROWS, "killed midway: some chunks committed, some not"
    assert Customer.objects.count() > EXISTING, "customers remain to be deleted"

    second = LiveWorker(extra_env=WORKER_ENV)
    try:
        undo = wait_for_job(undo.id, timeout=300, worker=second)
    finally:
        second.stop()
    assert undo.status == ImportStatus.COMPLETE, f"{undo.error_code}: {undo.error_message}"
    assert "[IMPORT-RESUME]" in second.output(), "the new worker resumed the undo after the stale heartbeat"
    assert "[IMPORT-UNDO-COMPLETE]" in second.output()
    assert table() == before, "the table equals the table before the import"
    assert (undo.deleted_count, undo.restored_count, undo.kept_changed_count, undo.processed_rows) == (
        ROWS - EXISTING,
        EXISTING,
        0,
        ROWS,
    ), "each customer deleted or restored exactly once"
