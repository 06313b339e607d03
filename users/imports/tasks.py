"""Background tasks for imports: thin wrappers that take an id and call a service."""

import uuid

from django.db import transaction
from django_tasks import task


@task(queue_name="imports")
def run_import_job(job_id: str) -> None:
    from users.imports.jobs import import_job_run

    import_job_run(job_id=uuid.UUID(job_id))


def enqueue_import_job(*, job_id: uuid.UUID | str) -> None:
    """Queue the job once the surrounding transaction commits, so the worker sees it."""
    transaction.on_commit(lambda: run_import_job.enqueue(str(job_id)))
