"""An import job's life in the worker: claim it, run the pass its state calls for, finish it.

`import_job_run` is what the background task calls. It is safe to call twice
for the same job, and after a crash: the claim is an optimistic
`filter(...).update(...)`, so only one worker owns a job at a time, and the write
pass resumes after the job's committed checkpoint.
"""

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from users.imports.errors import ImportRefused
from users.imports.payload import PayloadSheet
from users.imports.pipeline import ImportCancelled, LostOwnership, Sheet, validate_sheet, write_sheet
from users.logtags import LogTag
from users.models import FileErrorCode, ImportJob, ImportSource, ImportStatus

logger = logging.getLogger(__name__)

CLAIMABLE_STATUSES = (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.RUNNING)
# A database restart drops connections; give it this long before leaving the job
# to the stale-heartbeat sweep (#8 item 3).
DATABASE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


def new_worker_token() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def open_job_sheet(job: ImportJob) -> Iterator[Sheet]:
    """The job's stored source, opened for reading; ImportRefused if it is gone or unusable."""
    if not job.file or not Path(job.file.path).exists():
        if job.source == ImportSource.PAYLOAD:
            # A synchronous bulk-create keeps its rows only in the request; if its
            # web worker died midway, what it committed stays and the rest is gone.
            raise ImportRefused(
                FileErrorCode.FILE_MISSING,
                "The server stopped while saving these customers; the rows saved so far are kept. "
                "Send the request again: rows already saved will be skipped.",
            )
        raise ImportRefused(FileErrorCode.FILE_MISSING, "The uploaded file is no longer stored; upload it again.")
    path = Path(job.file.path)
    if job.source == ImportSource.PAYLOAD:
        yield PayloadSheet(path=path)
        return
    from users.imports.read import open_import_sheet

    with open_import_sheet(path, sheet_name=job.sheet_name) as sheet:
        if not job.column_mapping:
            ImportJob.objects.filter(id=job.id).update(
                detected_format=sheet.format,
                column_mapping={f.value: sheet.header.label(f) for f in sheet.header.columns},
                unknown_columns=list(sheet.header.unknown_columns),
            )
        yield sheet


def _claim(job_id: uuid.UUID, worker_id: str) -> ImportJob | None:
    claimed = ImportJob.objects.filter(id=job_id, status__in=CLAIMABLE_STATUSES, worker_id="").update(
        worker_id=worker_id,
        heartbeat_at=timezone.now(),
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", timezone.now()),
    )
    return ImportJob.objects.get(id=job_id) if claimed else None


def import_job_run(*, job_id: uuid.UUID) -> None:
    """Run a queued (or resumed) job to its next resting state: VALIDATED, COMPLETE, FAILED or CANCELLED."""
    worker_id = new_worker_token()
    job = _claim(job_id, worker_id)
    if job is None:
        logger.info("job=%s is not claimable (finished, or owned by a live worker); nothing to do", job_id)
        return
    if job.attempts > settings.IMPORT_MAX_ATTEMPTS:
        _finish_failed(
            job,
            worker_id,
            FileErrorCode.INTERNAL,
            f"The import stopped {job.attempts - 1} times before finishing and was given up. "
            f"{job.checkpoint and f'Rows up to {job.checkpoint} are saved. '}Upload the file again to retry.",
        )
        return
    for delay in (*DATABASE_RETRY_DELAYS, None):
        try:
            _run_claimed(job, worker_id)
            return
        except (OperationalError, InterfaceError):
            if delay is None:
                raise  # the sweep resumes the job once its heartbeat is stale
            logger.warning(
                "%s job=%s lost the database; retrying in %.0f s from row %d",
                LogTag.IMPORT_RESUME,
                job.id,
                delay,
                job.checkpoint,
                exc_info=True,
                extra={"job_id": str(job.id)},
            )
            time.sleep(delay)
            connection.close()
            close_old_connections()
            try:
                job.refresh_from_db()
            except DatabaseError:
                continue


def _run_claimed(job: ImportJob, worker_id: str) -> None:
    try:
        with open_job_sheet(job) as sheet:
            if job.dry_run:
                _set_status(job, worker_id, ImportStatus.VALIDATING)
                validate_sheet(job, sheet, worker_id=worker_id)
                _finish(job, worker_id, ImportStatus.VALIDATED)
            else:
                _set_status(job, worker_id, ImportStatus.RUNNING)
                write_sheet(job, sheet, worker_id=worker_id, user=job.created_by)
                _finish(job, worker_id, ImportStatus.COMPLETE)
    except ImportRefused as refusal:
        logger.warning(
            "%s job=%s code=%s %s",
            LogTag.EXCEL_UPLOAD_REFUSED,
            job.id,
            refusal.code,
            refusal.message,
            extra={"job_id": str(job.id), "code": str(refusal.code)},
        )
        _finish_failed(job, worker_id, refusal.code, refusal.message)
    except ImportCancelled:
        logger.info(
            "%s job=%s stopped at row %d", LogTag.IMPORT_CANCEL, job.id, job.checkpoint, extra={"job_id": str(job.id)}
        )
        _finish(job, worker_id, ImportStatus.CANCELLED)
    except LostOwnership:
        logger.warning("job=%s was claimed by another worker; this one stops", job.id, extra={"job_id": str(job.id)})
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("%s job=%s failed unexpectedly", LogTag.IMPORT_FAILED, job.id, extra={"job_id": str(job.id)})
        _finish_failed(
            job,
            worker_id,
            FileErrorCode.INTERNAL,
            "The import stopped because of an error on the server. Rows saved so far are kept; "
            "try again, and tell support if it happens again.",
        )


def _set_status(job: ImportJob, worker_id: str, status: ImportStatus) -> None:
    if not ImportJob.objects.filter(id=job.id, worker_id=worker_id).update(status=status):
        raise LostOwnership
    job.status = status


def _finish(job: ImportJob, worker_id: str, status: ImportStatus) -> None:
    fields: dict[str, object] = {
        "status": status,
        "worker_id": "",
        "finished_at": timezone.now() if status != ImportStatus.VALIDATED else None,
        "eta_seconds": None,
    }
    if status == ImportStatus.COMPLETE:
        # The row count is exact now, whatever the sheet's dimension claimed.
        fields["total_rows"] = F("processed_rows")
    ImportJob.objects.filter(id=job.id, worker_id=worker_id).update(**fields)
    job.refresh_from_db()
    if status == ImportStatus.COMPLETE and job.send_sms and job.created_count:
        from users.sms.services import sms_welcome_queue_for_import

        sms_welcome_queue_for_import(job_id=job.id)


def _finish_failed(job: ImportJob, worker_id: str, code: str, message: str) -> None:
    ImportJob.objects.filter(id=job.id, worker_id=worker_id).update(
        status=ImportStatus.FAILED,
        worker_id="",
        finished_at=timezone.now(),
        error_code=code,
        error_message=message,
        eta_seconds=None,
    )
    job.refresh_from_db()
