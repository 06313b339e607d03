"""One snapshot of what ops need on a 512 MB box: memory per process, running imports, queue depth.

Read by `GET /api/admin/metrics` (users/api/metrics.py) and `manage.py check_memory`,
so both always say the same thing.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone

from users.models import ImportJob
from users.models.imports import WORKING_STATUSES
from users.monitoring.processes import ContainerMemory, StackMemory, container_memory_get, stack_memory_get

# The statuses in which a task worker is busy with the job (the same ones recovery resumes).
RUNNING_JOBS_SHOWN = 20

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningJob:
    id: str
    status: str
    processed_rows: int
    total_rows: int
    rows_per_second: float
    heartbeat_at: datetime | None
    worker_id: str


@dataclass(frozen=True)
class ServiceMetrics:
    stack: StackMemory
    container: ContainerMemory | None
    running_jobs: tuple[RunningJob, ...]
    queue_depth: int | None  # tasks ready to run now, all queues; None when the database didn't answer
    queue_depth_by_queue: dict[str, int]
    database_error: str  # empty when the two queries worked
    memory_warning_mb: int
    generated_at: datetime


def service_metrics_get(*, anchor_pid: int | None = None, root_pid: int | None = None) -> ServiceMetrics:
    """Memory of the service's processes, plus two queries: running imports and ready tasks per queue.

    Memory is what ops look at when things go wrong, so a database that doesn't
    answer leaves the job fields empty instead of failing the whole snapshot.
    """
    try:
        running_jobs = _running_jobs()
        by_queue = _ready_tasks_by_queue()
        database_error = ""
    except DatabaseError as exc:
        logger.warning("Metrics without jobs and queue: the database did not answer (%s)", exc)
        running_jobs, by_queue, database_error = (), {}, str(exc)
    return ServiceMetrics(
        stack=stack_memory_get(anchor_pid=anchor_pid, root_pid=root_pid),
        container=container_memory_get(),
        running_jobs=running_jobs,
        queue_depth=None if database_error else sum(by_queue.values()),
        queue_depth_by_queue=by_queue,
        database_error=database_error,
        memory_warning_mb=settings.MEMORY_WARNING_MB,
        generated_at=timezone.now(),
    )


def _running_jobs() -> tuple[RunningJob, ...]:
    jobs = (
        ImportJob.objects.filter(status__in=WORKING_STATUSES)
        .order_by("created_at")
        .values_list("id", "status", "processed_rows", "total_rows", "rows_per_second", "heartbeat_at", "worker_id")[
            :RUNNING_JOBS_SHOWN
        ]
    )
    return tuple(
        RunningJob(
            id=str(job_id),
            status=status,
            processed_rows=processed,
            total_rows=total,
            rows_per_second=round(rate, 1),
            heartbeat_at=heartbeat_at,
            worker_id=worker_id,
        )
        for job_id, status, processed, total, rate, heartbeat_at, worker_id in jobs
    )


def _ready_tasks_by_queue() -> dict[str, int]:
    """django-tasks-db's ready tasks (its own `ready()` filter), counted per queue in one query."""
    from django_tasks_db.models import DBTaskResult

    ready = DBTaskResult.objects.ready().values("queue_name").annotate(count=Count("id")).order_by("queue_name")
    return {row["queue_name"]: row["count"] for row in ready}
