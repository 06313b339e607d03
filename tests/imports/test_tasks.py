"""Imports and welcome texts run on whichever task worker a newcomer starts."""

import subprocess
import sys

import pytest

from tests.imports.factories import customer_rows
from tests.workers import MANAGE, ROOT, worker_environment
from users.imports.services import import_job_create_from_payload
from users.models import Customer, ImportJob, ImportStatus, User

pytestmark = pytest.mark.django_db(transaction=True)


def test_django_tasks_dbs_own_db_worker_runs_an_import(admin_user: User) -> None:
    """`manage.py db_worker`, as django-tasks-db documents it (the default queue only), is enough to import."""
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(5))
    worker = subprocess.run(
        [sys.executable, str(MANAGE), "db_worker", "--batch", "--interval", "0"],
        cwd=ROOT,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    job = ImportJob.objects.get(id=job.id)
    assert job.status == ImportStatus.COMPLETE, f"{job.status}: {worker.stderr[-2000:]}"
    assert Customer.objects.count() == 5
