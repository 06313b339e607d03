"""Crash safety with real processes: SIGKILL the task worker halfway through a 100,000-row import.

A new worker must pick the job up by itself (its heartbeat goes stale, the sweep
queues it again) and the final table must equal an uninterrupted run's: no row
lost, none duplicated.
"""

import pytest
from django.contrib.auth.models import Permission

from tests.imports.factories import customer_rows
from tests.workers import LiveWorker, wait_for_job
from users.imports.services import import_job_create_from_payload
from users.models import Customer, ImportStatus, User, UserRole

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = 100_000
# Short enough that the test doesn't wait a minute for the heartbeat to go stale.
WORKER_ENV = {"IMPORT_HEARTBEAT_STALE_SECONDS": "3", "LOG_LEVEL": "INFO"}


def importer() -> User:
    user = User.objects.create_user("0241000001", "pw", user_role=UserRole.ADMIN, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_customer"))
    return user


def test_killed_worker_is_replaced_and_the_import_finishes_exactly_once() -> None:
    rows = customer_rows(ROWS)
    for index in range(0, ROWS, 997):
        rows[index]["phone"] = "not a phone"  # a sprinkling of failures, so counts are checked too
    invalid = len(range(0, ROWS, 997))
    job = import_job_create_from_payload(user=importer(), customers=rows)

    first = LiveWorker(extra_env=WORKER_ENV)
    try:
        job = wait_for_job(job.id, until=lambda j: j.processed_rows >= ROWS // 3, timeout=240, worker=first)
    finally:
        first.kill()
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING, "the killed worker left its job running"
    assert 0 < job.checkpoint, "some chunks were committed before the kill"
    committed_before = Customer.objects.count()

    second = LiveWorker(extra_env=WORKER_ENV)
    try:
        job = wait_for_job(job.id, timeout=300, worker=second)
    finally:
        second.stop()
    assert job.status == ImportStatus.COMPLETE, f"{job.error_code}: {job.error_message}"
    assert "[IMPORT-RESUME]" in second.output(), "the new worker said it resumed the job"
    assert committed_before < ROWS - invalid
    expected = {(r["shipping_mark"], f"+233{r['phone'][1:]}") for r in rows if r["phone"] != "not a phone"}
    actual = set(Customer.objects.values_list("shipping_mark", "phone"))
    assert actual == expected, "the table equals an uninterrupted run's"
    assert Customer.objects.count() == len(expected), "no customer created twice"
    assert (job.created_count, job.failed_count, job.total_rows) == (ROWS - invalid, invalid, ROWS)
