"""The task worker: django-tasks-db's `db_worker` on every queue, resuming stalled imports.

`db_worker` leaves a task RUNNING forever if its process is killed; imports
survive that because this worker also sweeps, at start-up and then every few
seconds on a background thread, for imports whose heartbeat has gone stale and
queues them again; welcome texts whose sending run died are queued again the
same way. At start-up and then once an hour the same thread prunes: imports
left unfinished past their retention period expire and lose their file, old
uploads are deleted, refresh tokens past their expiry are forgotten, and the
keys kept for correcting rows of imports no longer at the Check step go, and
so do updated customers' previous values once their import is past undoing. The
prune runs before the first sweep, so an import whose worker was down for
longer than the retention period is expired rather than resumed. Everything
else is db_worker's own loop.
"""

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django_tasks_db.management.commands import db_worker

from users.accounts.tokens import expired_tokens_prune
from users.imports.recovery import requeue_orphaned_imports, requeue_stale_imports
from users.imports.retention import import_files_prune
from users.imports.rowkeys import import_row_keys_prune
from users.imports.undo import imported_updates_prune
from users.sms.services import sms_resume_stalled

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0


def _prune() -> None:
    import_files_prune(older_than_days=settings.IMPORT_FILE_RETENTION_DAYS)
    expired_tokens_prune()
    import_row_keys_prune()  # the keys kept for corrections, of imports no longer at the Check step
    imported_updates_prune(older_than_days=settings.IMPORT_UNDO_DAYS)  # previous values no undo may use any more


def _sweep_forever(stop: threading.Event, interval: float) -> None:
    last_prune = time.monotonic()  # handle() pruned at start-up
    while not stop.wait(interval):
        try:
            requeue_stale_imports(stale_after_seconds=settings.IMPORT_HEARTBEAT_STALE_SECONDS)
            requeue_orphaned_imports(older_than_seconds=settings.IMPORT_HEARTBEAT_STALE_SECONDS)
            sms_resume_stalled()
            if time.monotonic() - last_prune >= PRUNE_INTERVAL_SECONDS:
                last_prune = time.monotonic()
                _prune()
        except DatabaseError:
            # The database may be restarting; the next sweep tries again.
            logger.warning("Stale-import sweep failed; retrying in %.0f s", interval, exc_info=True)
        finally:
            close_old_connections()


class Command(db_worker.Command):
    help = "Run the background task worker (all queues) and resume imports whose worker died."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        # skip_checks: system checks would import every view and serializer into a process that serves none
        # (about 24 MB); the supervisor passes --skip-checks, and now `manage.py run_worker` alone skips them too.
        parser.set_defaults(queue_name="*", reload=False, skip_checks=True)
        parser.add_argument(
            "--sweep-interval", type=float, default=5.0, help="Seconds between stale-import sweeps (default: 5)."
        )

    def handle(self, *args: Any, sweep_interval: float, **options: Any) -> None:
        if settings.TASK_WORKER_NICE:
            # Web and worker share two small CPUs on Render: status polls must not
            # wait behind a million-row import.
            os.nice(settings.TASK_WORKER_NICE)
        # The import pipeline, loaded once here: each job runs in a child forked from this process
        # (users/imports/child.py), which then starts with it already in memory, shared, instead of importing it.
        import users.imports.jobs
        import users.imports.read  # noqa: F401

        _prune()
        requeue_stale_imports(stale_after_seconds=settings.IMPORT_HEARTBEAT_STALE_SECONDS)
        close_old_connections()
        stop = threading.Event()
        sweeper = threading.Thread(
            target=_sweep_forever, args=(stop, sweep_interval), name="stale-import-sweeper", daemon=True
        )
        sweeper.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
