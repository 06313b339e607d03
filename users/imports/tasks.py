"""Background tasks for imports: thin wrappers that take an id and call a service."""

import uuid

from django.db import transaction
from django_tasks import task


# The default queue: `manage.py run_worker` runs every queue, and django-tasks-db's own `manage.py db_worker`,
# started as its documentation says (default queue only), runs imports too; only run_worker also resumes crashed
# imports and prunes old uploads (docs/operations.md).
@task()
def run_import_job(job_id: str) -> None:
    from users.imports.child import run_in_child
    from users.imports.jobs import import_job_run

    # In a child that exits: the worker lives on, and what a big import grew to goes with the child.
    run_in_child(lambda: import_job_run(job_id=uuid.UUID(job_id)))


def enqueue_import_job(*, job_id: uuid.UUID | str) -> None:
    """Queue the job once the surrounding transaction commits, so the worker sees it."""
    transaction.on_commit(lambda: run_import_job.enqueue(str(job_id)))
