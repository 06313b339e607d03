"""Stored uploads are deleted after the retention period; the job's history stays."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.imports.factories import customer_rows
from users.imports.jobs import import_job_run
from users.imports.retention import import_files_prune
from users.imports.services import import_job_commit, import_job_create_from_payload
from users.imports.storage import stored_file_exists
from users.logtags import LogTag
from users.models import FileErrorCode, ImportJob, ImportStatus, StoredFile, User
from users.models.imports import ACTIVE_STATUSES

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
    old_name = old.file.name
    assert import_files_prune(older_than_days=14) == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.file and not old.file_storage and old.file_deleted_at is not None and old.created_count == 2
    assert not StoredFile.objects.filter(name=old_name).exists(), "the stored file and its chunks are deleted"
    assert recent.file and recent.file_deleted_at is None


def test_the_command_prunes_too(admin_user: User, capsys: pytest.CaptureFixture[str]) -> None:
    finished_job(admin_user, days_ago=30)
    call_command("prune_import_files", "--days", "14")
    assert "Deleted 1 stored import file(s)" in capsys.readouterr().out


# --- imports left unfinished for longer than the retention period ---


def unfinished_job(user: User, status: str, *, days_ago: int, heartbeat_days_ago: float | None = None) -> ImportJob:
    """A job with its file on disk, last touched `days_ago` (and heartbeating `heartbeat_days_ago`, if given)."""
    job = import_job_create_from_payload(user=user, customers=customer_rows(2))
    long_ago = timezone.now() - timedelta(days=days_ago)
    heartbeat = None if heartbeat_days_ago is None else timezone.now() - timedelta(days=heartbeat_days_ago)
    ImportJob.objects.filter(id=job.id).update(
        status=status,
        created_at=long_ago,
        updated_at=long_ago,
        heartbeat_at=heartbeat,
        worker_id="dead-host:1:abc" if status in (ImportStatus.RUNNING, ImportStatus.VALIDATING) else "",
        dry_run=status in (ImportStatus.VALIDATING, ImportStatus.VALIDATED),
    )
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (ImportStatus.QUEUED, "waited more than 14 days for the background worker"),
        (ImportStatus.VALIDATING, "stopped more than 14 days ago and never finished"),
        (ImportStatus.VALIDATED, "checked but not committed within 14 days"),
        (ImportStatus.RUNNING, "stopped more than 14 days ago and never finished"),
    ],
)
def test_an_import_left_unfinished_past_retention_loses_its_file_and_ends_saying_so(
    admin_user: User, status: str, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    job = unfinished_job(admin_user, status, days_ago=30, heartbeat_days_ago=29 if status != "QUEUED" else None)
    name = job.file.name

    assert import_files_prune(older_than_days=14) == 1

    job.refresh_from_db()
    assert (job.status, job.error_code, job.worker_id) == (ImportStatus.FAILED, FileErrorCode.EXPIRED, "")
    assert says in job.error_message and job.finished_at is not None and job.is_finished
    assert not StoredFile.objects.filter(name=name).exists() and not job.file and job.file_deleted_at is not None
    assert any(record.getMessage().startswith(LogTag.IMPORT_EXPIRED) for record in caplog.records)


def test_a_long_import_still_beating_its_heart_is_left_alone(admin_user: User) -> None:
    job = unfinished_job(admin_user, ImportStatus.RUNNING, days_ago=30, heartbeat_days_ago=0.0001)

    assert import_files_prune(older_than_days=14) == 0

    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING and stored_file_exists(job)


def test_a_dry_run_committed_recently_is_not_expired_by_its_old_upload(admin_user: User) -> None:
    job = unfinished_job(admin_user, ImportStatus.VALIDATED, days_ago=20, heartbeat_days_ago=20)
    import_job_commit(job=job, user=admin_user)
    ImportJob.objects.filter(id=job.id).update(created_at=timezone.now() - timedelta(days=30))

    import_files_prune(older_than_days=14)

    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED and job.file, "the commit was the owner's latest word"


def test_an_expired_import_frees_its_owners_quota_slot_and_says_why_in_the_api(admin_user: User) -> None:
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    job = unfinished_job(admin_user, ImportStatus.QUEUED, days_ago=30)
    import_files_prune(older_than_days=14)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(admin_user).access_token}")

    body = client.get(f"/api/imports/{job.id}/").json()

    assert (body["status"], body["error_code"], body["is_finished"]) == ("FAILED", "expired", True)
    assert "Upload it again" in body["error_message"]
    assert not ImportJob.objects.filter(created_by=admin_user, status__in=ACTIVE_STATUSES).exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_starting_after_retention_expires_a_dead_import_instead_of_resuming_it(admin_user: User) -> None:
    """Its first act is the prune, before the stale-import sweep would hand the job to itself."""
    from tests.workers import run_worker_until_idle

    job = unfinished_job(admin_user, ImportStatus.RUNNING, days_ago=30, heartbeat_days_ago=29)

    run_worker_until_idle(timeout=60)

    job.refresh_from_db()
    assert (job.status, job.error_code) == (ImportStatus.FAILED, FileErrorCode.EXPIRED), job.error_message
    assert job.created_count == 0, "nothing was imported from a file past its retention"
