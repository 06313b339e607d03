"""An import job's run in the worker: claim it, run the pass its state calls for, end it.

`import_job_run` is what the background task calls. It is safe to call twice
for the same job, and after a crash: the claim is optimistic (lifecycle.claim),
so only one worker holds a job at a time, and the write pass resumes after the
job's committed checkpoint. Every state change goes through users/imports/lifecycle.py.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection

from users.imports import lifecycle
from users.imports.child import ChildKilled
from users.imports.columns import column_rules_for, job_columns_await, job_layout_record
from users.imports.corrections import corrected_sheet
from users.imports.errors import ImportRefused
from users.imports.lifecycle import Lease, LostOwnership
from users.imports.payload import PayloadSheet
from users.imports.pipeline import ImportCancelled, Sheet, validate_sheet, write_sheet
from users.imports.rowkeys import RowKeyRecorder
from users.imports.storage import stored_file_exists, stored_file_local_copy
from users.logtags import LogTag
from users.models import FileErrorCode, ImportJob, ImportSource, ImportStatus

logger = logging.getLogger(__name__)

# A database restart drops connections; give it this long before leaving the job
# to the stale-heartbeat sweep.
DATABASE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


@contextmanager
def open_job_sheet(job: ImportJob) -> Iterator[Sheet]:
    """The job's stored source, opened for reading; ImportRefused if it is gone or unusable.

    Read from durable storage, whichever machine stored it, through a local copy
    that is deleted when the block ends (users/imports/storage).
    """
    if not stored_file_exists(job):
        if job.source == ImportSource.PAYLOAD:
            # A synchronous bulk-create keeps its rows only in the request; if its
            # web worker died midway, what it committed stays and the rest is gone.
            raise ImportRefused(
                FileErrorCode.FILE_MISSING,
                "The server stopped while saving these customers; the rows saved so far are kept. "
                "Send the request again: rows already saved will be skipped.",
            )
        raise ImportRefused(FileErrorCode.FILE_MISSING, "The uploaded file is no longer stored; upload it again.")
    with stored_file_local_copy(job) as path:
        if job.source == ImportSource.PAYLOAD:
            yield PayloadSheet(path=path)
        else:
            with _open_file_sheet(job, path) as sheet:
                yield sheet


@contextmanager
def _open_file_sheet(job: ImportJob, path: Path) -> Iterator[Sheet]:
    from users.imports.read import open_import_sheet

    # Columns chosen on the Check step (or remembered for this header) decide with the synonyms, on the sheet the
    # check read; corrected rows are read in place of the file's (users/imports/columns.py, corrections.py).
    settled = job.column_map or not job.dry_run
    sheet_name = job.sheet_name or ((job.sheet_layout or {}).get("sheet", "") if settled else "")
    with open_import_sheet(path, sheet_name=sheet_name, columns=column_rules_for(job)) as sheet:
        if not job.column_mapping:
            lifecycle.record_header(
                job_id=job.id,
                detected_format=sheet.format,
                column_mapping={f.value: sheet.header.label(f) for f in sheet.header.columns},
                unknown_columns=list(sheet.header.unknown_columns),
            )
        job_layout_record(job, sheet=sheet)
        yield corrected_sheet(job, sheet)


def import_job_run(*, job_id: uuid.UUID) -> None:
    """Run a queued (or resumed) job to its next resting state: VALIDATED, COMPLETE, FAILED or CANCELLED."""
    claimed = lifecycle.claim(job_id=job_id)
    if claimed is None:
        logger.info("job=%s is not claimable (finished, or held by a live worker); nothing to do", job_id)
        return
    job, lease = claimed
    # Which worker runs which job, one line each way: with several workers on one database, the record that
    # shows no job was ever run by two at once.
    logger.info(
        "%s job=%s lease=%s attempt=%d",
        LogTag.IMPORT_CLAIM,
        job.id,
        lease.token,
        job.attempts,
        extra={"job_id": str(job.id), "lease": lease.token},
    )
    try:
        _run_pass(job, lease)
    finally:
        logger.info(
            "%s job=%s lease=%s",
            LogTag.IMPORT_RELEASE,
            job.id,
            lease.token,
            extra={"job_id": str(job.id), "lease": lease.token},
        )


def _run_pass(job: ImportJob, lease: Lease) -> None:
    """The pass the claimed job calls for: its undo, or its check or import; given up after too many attempts."""
    if job.is_undo:
        _run_undo(job, lease)
        return
    if job.attempts > settings.IMPORT_MAX_ATTEMPTS:
        lifecycle.fail(
            lease,
            code=FileErrorCode.INTERNAL,
            message=f"The import stopped {job.attempts - 1} times before finishing and was given up. "
            f"{job.checkpoint and f'Rows up to {job.checkpoint} are saved. '}Upload the file again to retry.",
        )
        return
    _with_database_retries(job, lambda: _run_claimed(job, lease))


def _run_undo(job: ImportJob, lease: Lease) -> None:
    """An undo of an import (users/imports/undo.py), with the same attempts cap and database retries."""
    from users.imports.undo import undo_gave_up, undo_run_claimed

    if job.attempts > settings.IMPORT_MAX_ATTEMPTS:
        undo_gave_up(job, lease)
        return
    _with_database_retries(job, lambda: undo_run_claimed(job, lease))


def _with_database_retries(job: ImportJob, run: Callable[[], None]) -> None:
    """Run a claimed job's pass; a lost database is retried with backoff from the committed checkpoint."""
    for delay in (*DATABASE_RETRY_DELAYS, None):
        try:
            run()
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


def _run_claimed(job: ImportJob, lease: Lease) -> None:
    try:
        with open_job_sheet(job) as sheet:
            if job.dry_run:
                lifecycle.begin_pass(lease, status=ImportStatus.VALIDATING)
                # The importable rows' keys, so a row corrected on the Check step is checked against them.
                validate_sheet(
                    job,
                    sheet,
                    lease=lease,
                    collect=RowKeyRecorder(job_id=job.id),
                    overlap=settings.IMPORT_READ_AHEAD,
                )
                lifecycle.finish(lease, status=ImportStatus.VALIDATED)
            else:
                lifecycle.begin_pass(lease, status=ImportStatus.RUNNING)
                # overlap: read and validate in a second process while this one writes (two cores, two stages).
                write_sheet(job, sheet, lease=lease, user=job.created_by, overlap=settings.IMPORT_READ_AHEAD)
                _complete(lease)
    except ImportRefused as refusal:
        if job_columns_await(job, lease, refusal):
            return  # a dry run waits at the Check step for a person to choose the missing columns
        logger.warning(
            "%s job=%s code=%s %s",
            LogTag.EXCEL_UPLOAD_REFUSED,
            job.id,
            refusal.code,
            refusal.message,
            extra={"job_id": str(job.id), "code": str(refusal.code)},
        )
        lifecycle.fail(lease, code=refusal.code, message=refusal.message)
    except ImportCancelled:
        logger.info(
            "%s job=%s stopped at row %d", LogTag.IMPORT_CANCEL, job.id, job.checkpoint, extra={"job_id": str(job.id)}
        )
        lifecycle.finish(lease, status=ImportStatus.CANCELLED)
    except LostOwnership:
        logger.warning("job=%s was claimed by another worker; this one stops", job.id, extra={"job_id": str(job.id)})
    except (OperationalError, InterfaceError):
        raise
    except ChildKilled:
        raise  # the reading process was killed (the OOM killer): as for a killed worker, the sweep resumes the job
    except Exception:
        logger.exception("%s job=%s failed unexpectedly", LogTag.IMPORT_FAILED, job.id, extra={"job_id": str(job.id)})
        lifecycle.fail(
            lease,
            code=FileErrorCode.INTERNAL,
            message="The import stopped because of an error on the server. Rows saved so far are kept; "
            "try again, and tell support if it happens again.",
        )


def _complete(lease: Lease) -> None:
    job = lifecycle.finish(lease, status=ImportStatus.COMPLETE)
    if job.send_sms and job.created_count:
        from users.sms.services import sms_welcome_queue_for_import

        sms_welcome_queue_for_import(job_id=job.id)
