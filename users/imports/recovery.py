"""Find imports whose worker died and queue them again, so they resume from their checkpoint."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from users.logtags import LogTag
from users.models import ImportJob, ImportStatus

logger = logging.getLogger(__name__)

RESUMABLE_STATUSES = (ImportStatus.RUNNING, ImportStatus.VALIDATING)


def requeue_stale_imports(*, stale_after_seconds: int) -> list[str]:
    """Re-enqueue each import that is running but has not beaten its heart lately.

    Each claim is an optimistic `filter(...).update(...)` on the old heartbeat,
    so when several workers sweep at once exactly one of them re-queues a job.
    """
    from users.imports.tasks import enqueue_import_job

    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    stale = ImportJob.objects.filter(status__in=RESUMABLE_STATUSES, heartbeat_at__lt=cutoff).values_list(
        "id", "heartbeat_at", "status"
    )
    requeued: list[str] = []
    for job_id, heartbeat_at, status in stale:
        with transaction.atomic():
            claimed = ImportJob.objects.filter(id=job_id, heartbeat_at=heartbeat_at, status=status).update(
                heartbeat_at=timezone.now(), worker_id=""
            )
            if claimed:
                enqueue_import_job(job_id=job_id)
                requeued.append(str(job_id))
                logger.warning(
                    "%s job=%s status=%s heartbeat stale since %s; queued again to resume from its checkpoint",
                    LogTag.IMPORT_RESUME,
                    job_id,
                    status,
                    heartbeat_at.isoformat(),
                    extra={"job_id": str(job_id)},
                )
    return requeued
