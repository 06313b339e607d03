"""Background task for welcome texts: thin, it takes a job id and calls the service."""

import uuid
from datetime import datetime

from django.db import transaction
from django_tasks import task

# Below imports (priority 0): a waiting import should not sit behind thousands
# of texts, and texts a minute late harm nobody.
SMS_TASK_PRIORITY = -10


# The default queue, as imports use: django-tasks-db's own `manage.py db_worker`, started as its documentation
# says, runs them too. The priority, not the queue, keeps texts behind imports.
@task(priority=SMS_TASK_PRIORITY)
def send_import_sms(job_id: str) -> None:
    from users.sms.services import sms_send_for_import

    sms_send_for_import(job_id=uuid.UUID(job_id))


def enqueue_import_sms(*, job_id: uuid.UUID | str, run_after: datetime | None = None) -> None:
    """Queue a sending run once the surrounding transaction commits, so the worker sees the messages."""
    task_to_run = send_import_sms.using(run_after=run_after) if run_after is not None else send_import_sms
    transaction.on_commit(lambda: task_to_run.enqueue(str(job_id)))
