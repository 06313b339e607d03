"""Find imports whose worker died and queue them again, so they resume from their checkpoint."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus

from users.imports import lifecycle
from users.logtags import LogTag
from users.models import ImportJob, ImportStatus
from users.models.imports import WORKING_STATUSES

logger = logging.getLogger(__name__)

PENDING_TASK_STATUSES = (TaskResultStatus.READY, TaskResultStatus.RUNNING)


def requeue_stale_imports(*, stale_after_seconds: int) -> list[str]:
    """Re-enqueue each import that is running but has not beaten its heart lately.

    Each release is conditional on the old heartbeat (lifecycle.release_stale),
    so when several workers sweep at once exactly one of them re-queues a job.
    """
    from users.imports.tasks import enqueue_import_job

    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    stale = ImportJob.objects.filter(status__in=WORKING_STATUSES, heartbeat_at__lt=cutoff).values_list(
        "id", "heartbeat_at", "status"
    )
    requeued: list[str] = []
    for job_id, heartbeat_at, status in stale:
        with transaction.atomic():
            if lifecycle.release_stale(job_id=job_id, status=status, heartbeat_at=heartbeat_at):
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


def requeue_orphaned_imports(*, older_than_seconds: int) -> list[str]:
    """Queue a task again for each QUEUED import that has none waiting or running.

    A job is saved first and its task enqueued when that transaction commits; a
    web worker killed between the two leaves a job nobody will ever run. A
    duplicate task is harmless (the worker's claim is optimistic), so the sweep
    errs on the side of queueing.
    """
    from django_tasks_db.models import DBTaskResult

    from users.imports.tasks import enqueue_import_job, run_import_job

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    queued = ImportJob.objects.filter(status=ImportStatus.QUEUED, worker_id="", updated_at__lt=cutoff)
    requeued: list[str] = []
    for job_id, updated_at in queued.values_list("id", "updated_at"):
        has_task = DBTaskResult.objects.filter(
            task_path=run_import_job.module_path, status__in=PENDING_TASK_STATUSES, args_kwargs__args__0=str(job_id)
        ).exists()
        if has_task:
            continue
        with transaction.atomic():
            if lifecycle.touch_orphan(job_id=job_id, updated_at=updated_at):
                enqueue_import_job(job_id=job_id)
                requeued.append(str(job_id))
                logger.warning(
                    "%s job=%s was queued but had no task (its web worker died before queueing it); queued it",
                    LogTag.IMPORT_RESUME,
                    job_id,
                    extra={"job_id": str(job_id)},
                )
    return requeued
