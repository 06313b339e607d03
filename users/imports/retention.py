"""Uploaded spreadsheets are customers' personal data: keep them only as long as they're useful.

A finished job's file is deleted IMPORT_FILE_RETENTION_DAYS after it finished;
the job row, its counts and its row errors stay, so history and error reports
still work. A job that never finished is held to the same period: one left
unfinished (queued with no worker to run it, validating or running with a
worker that died and was never resumed, validated and never committed) for
longer than the retention period ends FAILED with the code `expired` and a
sentence saying what happened, and loses its file like any other. Its
committed rows stay, and its quota slot and stored bytes are freed.
"""

import logging
import uuid
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from users.imports import lifecycle
from users.imports.storage import stored_file_delete
from users.logtags import LogTag
from users.models import FileErrorCode, ImportJob, ImportStatus
from users.models.imports import FINISHED_STATUSES, UNFINISHED_STATUSES

logger = logging.getLogger(__name__)


def _expired_message(status: str, days: int) -> str:
    if status == ImportStatus.QUEUED:
        return (
            f"This import waited more than {days} days for the background worker and never started; its file "
            "was deleted with the other old uploads. Upload it again."
        )
    if status == ImportStatus.VALIDATED:
        return (
            f"This import was checked but not committed within {days} days, so its file was deleted with the "
            "other old uploads. Upload it again to import it."
        )
    return (
        f"This import stopped more than {days} days ago and never finished (its worker stopped and it was not "
        "resumed); its file was deleted with the other old uploads. Rows saved before it stopped are kept; "
        "upload the file again for the rest (rows already saved are skipped)."
    )


def _delete_file(job: ImportJob) -> bool:
    if not stored_file_delete(job):
        return False
    lifecycle.file_deleted(job_id=job.id)
    return True


def import_jobs_expire(*, older_than_days: int) -> list[uuid.UUID]:
    """End each job unfinished and untouched for `older_than_days`: FAILED, code `expired`, its file deleted.

    "Untouched" means no sign of life in that time: created, updated and (if it
    ever ran) heartbeating all before the cutoff, so a long import still beating
    its heart is left alone. Each end is a conditional update on the status and
    heartbeat read, so a worker that claims the job meanwhile wins and the job
    is not touched.
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    stuck = (
        ImportJob.objects.filter(status__in=UNFINISHED_STATUSES, created_at__lt=cutoff, updated_at__lt=cutoff)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff))
        .values_list("id", "status", "heartbeat_at")
    )
    expired: list[uuid.UUID] = []
    for job_id, status, heartbeat_at in list(stuck):
        message = _expired_message(status, older_than_days)
        if not lifecycle.expire(
            job_id=job_id, status=status, heartbeat_at=heartbeat_at, code=FileErrorCode.EXPIRED, message=message
        ):
            continue
        expired.append(job_id)
        _delete_file(ImportJob.objects.only("id", "file", "file_storage").get(id=job_id))
        logger.warning(
            "%s job=%s was %s for more than %d days without finishing; ended as failed (expired), file deleted",
            LogTag.IMPORT_EXPIRED,
            job_id,
            status.lower(),
            older_than_days,
            extra={"job_id": str(job_id), "status": status},
        )
    return expired


def import_files_prune(*, older_than_days: int) -> int:
    """Delete stored files of jobs that ended, or were left unfinished, more than `older_than_days` ago.

    Returns how many files were deleted. Unfinished jobs are ended first
    (`import_jobs_expire`), so no job is left waiting for a file that is gone.
    """
    pruned = len(import_jobs_expire(older_than_days=older_than_days))
    cutoff = timezone.now() - timedelta(days=older_than_days)
    expired = (
        ImportJob.objects.filter(file_deleted_at__isnull=True)
        .exclude(file="")
        .filter(status__in=FINISHED_STATUSES, finished_at__lt=cutoff)
    )
    for job in expired.only("id", "file", "file_storage").iterator():
        pruned += _delete_file(job)
    if pruned:
        logger.info("Deleted the stored files of %d imports older than %d days", pruned, older_than_days)
    return pruned
