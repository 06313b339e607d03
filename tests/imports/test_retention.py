"""Stored uploads are deleted after the retention period; the job's history stays."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.imports.factories import customer_rows
from users.imports.jobs import import_job_run
from users.imports.retention import import_files_prune
from users.imports.services import import_job_create_from_payload
from users.models import ImportJob, User

pytestmark = pytest.mark.django_db


def finished_job(user: User, *, days_ago: int) -> ImportJob:
    job = import_job_create_from_payload(user=user, customers=customer_rows(2))
    import_job_run(job_id=job.id)
    ImportJob.objects.filter(id=job.id).update(finished_at=timezone.now() - timedelta(days=days_ago))
    job.refresh_from_db()
    return job


def test_files_past_retention_are_deleted_and_the_job_is_kept(admin_user: User) -> None:
    old = finished_job(admin_user, days_ago=30)
    recent = finished_job(admin_user, days_ago=1)
    old_path = old.file.path
    assert import_files_prune(older_than_days=14) == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.file and old.file_deleted_at is not None and old.created_count == 2
    assert not Path(old_path).exists()
    assert recent.file and recent.file_deleted_at is None


def test_the_command_prunes_too(admin_user: User, capsys: pytest.CaptureFixture[str]) -> None:
    finished_job(admin_user, days_ago=30)
    call_command("prune_import_files", "--days", "14")
    assert "Deleted 1 stored import file(s)" in capsys.readouterr().out
