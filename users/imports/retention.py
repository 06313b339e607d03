"""Uploaded spreadsheets are customers' personal data: keep them only as long as they're useful.

A finished job's file is deleted IMPORT_FILE_RETENTION_DAYS after it finished
(a validated job that was never committed counts from when it was validated);
the job row, its counts and its row errors stay, so history and error reports
still work.
"""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from users.models import ImportJob, ImportStatus
from users.models.imports import FINISHED_STATUSES

logger = logging.getLogger(__name__)


def import_files_prune(*, older_than_days: int) -> int:
    """Delete stored files of jobs that ended more than `older_than_days` ago; return how many."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    expired = (
        ImportJob.objects.filter(file_deleted_at__isnull=True)
        .exclude(file="")
        .filter(
            Q(status__in=FINISHED_STATUSES, finished_at__lt=cutoff)
            | Q(status=ImportStatus.VALIDATED, updated_at__lt=cutoff)
        )
    )
    pruned = 0
    for job in expired.only("id", "file").iterator():
        job.file.delete(save=False)
        ImportJob.objects.filter(id=job.id).update(file="", file_deleted_at=timezone.now())
        pruned += 1
    if pruned:
        logger.info("Deleted the stored files of %d imports older than %d days", pruned, older_than_days)
    return pruned
