"""An import job's lifecycle: every change to its state, in one place.

    QUEUED ──claim──▶ VALIDATING ──finish──▶ VALIDATED ──commit──▶ QUEUED
       │                  │                      │
       │   claim          ▼                      ▼ cancel
       └────────▶ RUNNING ──finish──▶ COMPLETE   CANCELLED
                      │  └──fail──▶ FAILED
                      └──cancel (at the next chunk)──▶ CANCELLED

Each transition is one conditional `filter(...).update(...)`: it happens only
if the job is still in the state the caller saw, so two workers, a worker and
a sweep, or two clicks can never both win. A pass (validating or writing) holds
a `Lease`: its token is stored in `worker_id`, and every write the pass makes
goes through a function here that checks the token, so a worker that was
thought dead and replaced stops at its next write (`LostOwnership`). A request
that validates or writes while the client waits (the upload preview, the
synchronous bulk-create) holds a lease of its own kind; nothing pretends to be
a worker.

The other modules decide *when* (the worker's loop in jobs.py, the passes in
pipeline.py, the services the API calls, the sweeps); this module is the only
one that changes an `ImportJob` once it exists.

A dry run that finds required columns missing stops at VALIDATED with the
sheet's columns (`await_columns`); choosing them sends it back to QUEUED
(`choose_columns`). Correcting a row changes only the counts of a job waiting
at VALIDATED (`hold_for_correction`, `record_correction`).

An undo is a job too (source UNDO): `undo_requested` saves it (one per import),
`undo_progress` and `undo_finish` record its run (a worker claims it with `claim`, as any job); cancelling it and the
sweeps are the same as an import's.
"""

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from users.models import ImportJob, ImportStatus
from users.models.imports import ACTIVE_STATUSES, WAITING_STATUSES


class LostOwnership(Exception):  # noqa: N818 - a state, not an error
    """Another worker holds this job now (ours was thought dead): stop without writing more."""


@dataclass(frozen=True)
class Lease:
    """The right to run one pass of one job, held by a worker or by a request, and proved on every write."""

    job_id: uuid.UUID
    token: str

    def owned(self) -> QuerySet[ImportJob]:
        return ImportJob.objects.filter(id=self.job_id, worker_id=self.token)


def _token(kind: str) -> str:
    """Who holds a lease, readable in the metrics and the admin: `worker:host:pid:…` or `request:host:pid:…`."""
    return f"{kind}:{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _changed(updated: int) -> None:
    if not updated:
        raise LostOwnership


# --- taking a job --------------------------------------------------------------------------------------------------


def claim(*, job_id: uuid.UUID) -> tuple[ImportJob, Lease] | None:
    """A worker takes a queued (or resumed) job nobody holds; None if it is finished or another worker has it."""
    lease = Lease(job_id=job_id, token=_token("worker"))
    now = timezone.now()
    taken = ImportJob.objects.filter(id=job_id, status__in=ACTIVE_STATUSES, worker_id="").update(
        worker_id=lease.token, heartbeat_at=now, attempts=F("attempts") + 1, started_at=Coalesce("started_at", now)
    )
    return (ImportJob.objects.get(id=job_id), lease) if taken else None


def hold_for_request(job: ImportJob, *, status: ImportStatus) -> Lease:
    """A new, unsaved job that a request runs itself while the client waits: it starts held, in `status`.

    The caller saves it (in the transaction that checks its quota); held, no
    worker or sweep will take it meanwhile. If the request's process dies, its
    heartbeat goes stale and the sweep hands the job to a worker like any other.
    """
    lease = Lease(job_id=job.id, token=_token("request"))
    job.status = status
    job.worker_id = lease.token
    job.started_at = job.heartbeat_at = timezone.now()
    return lease


def begin_pass(lease: Lease, *, status: ImportStatus) -> None:
    """The held job starts its pass: VALIDATING (a dry run) or RUNNING (an import)."""
    _changed(lease.owned().update(status=status))


# --- while a pass runs ---------------------------------------------------------------------------------------------


def heartbeat(lease: Lease) -> None:
    """Still alive: keeps the stale-import sweep away during a stretch with no commit."""
    _changed(lease.owned().update(heartbeat_at=timezone.now()))


def record_header(*, job_id: uuid.UUID, detected_format: str, column_mapping: dict, unknown_columns: list) -> None:
    """What the header stage found, kept the first time the file is opened."""
    ImportJob.objects.filter(id=job_id).update(
        detected_format=detected_format, column_mapping=column_mapping, unknown_columns=unknown_columns
    )


def record_validation_progress(
    lease: Lease, *, processed_rows: int, total_rows: int, rows_per_second: float, eta_seconds: float | None
) -> None:
    """A validated chunk's progress; called inside the transaction that saves the chunk's row errors."""
    _changed(
        lease.owned().update(
            heartbeat_at=timezone.now(),
            processed_rows=processed_rows,
            total_rows=total_rows,
            rows_per_second=rows_per_second,
            eta_seconds=eta_seconds,
        )
    )


def record_validation_verdict(lease: Lease, *, counts: dict[str, int]) -> None:
    """The dry run's final counts, exact whatever the sheet's dimension claimed."""
    _changed(lease.owned().update(**counts, processed_rows=counts["total_rows"], eta_seconds=None))


@dataclass(frozen=True)
class ChunkOutcome:
    """What one committed chunk of the write pass did, added to the job's counters."""

    last_row: int
    rows: int
    created: int
    updated: int
    skipped: int
    failed: int
    duplicates_in_file: int
    existing_matches: int


def record_chunk(lease: Lease, outcome: ChunkOutcome, *, rows_per_second: float, eta_seconds: float | None) -> None:
    """A written chunk's counters and checkpoint, in the transaction that commits its customers.

    The checkpoint (the last source row whose outcome is committed) moves with
    the rows it covers, so after a crash the job resumes exactly after it.
    """
    _changed(
        lease.owned().update(
            checkpoint=outcome.last_row,
            heartbeat_at=timezone.now(),
            processed_rows=F("processed_rows") + outcome.rows,
            created_count=F("created_count") + outcome.created,
            updated_count=F("updated_count") + outcome.updated,
            skipped_count=F("skipped_count") + outcome.skipped,
            failed_count=F("failed_count") + outcome.failed,
            duplicates_in_file=F("duplicates_in_file") + outcome.duplicates_in_file,
            existing_matches=F("existing_matches") + outcome.existing_matches,
            rows_per_second=rows_per_second,
            eta_seconds=eta_seconds,
        )
    )


def cancel_is_requested(*, job_id: uuid.UUID) -> bool:
    return ImportJob.objects.filter(id=job_id, cancel_requested=True).exists()


# --- ending a pass -------------------------------------------------------------------------------------------------


def finish(lease: Lease, *, status: ImportStatus, total_rows: int | None = None) -> ImportJob:
    """The pass ends and lets go of the job: VALIDATED (a dry run), COMPLETE or CANCELLED. Returns the fresh job.

    A COMPLETE job's `total_rows` becomes the rows it processed (exact, whatever
    the sheet's dimension claimed) unless the caller knows better.
    """
    fields: dict[str, object] = {
        "status": status,
        "worker_id": "",
        "finished_at": timezone.now() if status != ImportStatus.VALIDATED else None,
        "eta_seconds": None,
    }
    if status == ImportStatus.COMPLETE:
        fields["total_rows"] = F("processed_rows") if total_rows is None else total_rows
    lease.owned().update(**fields)
    return ImportJob.objects.get(id=lease.job_id)


def fail(lease: Lease, *, code: str, message: str) -> ImportJob:
    """The pass ends FAILED, with a stable code and a sentence for the admin. Returns the fresh job."""
    lease.owned().update(
        status=ImportStatus.FAILED,
        worker_id="",
        finished_at=timezone.now(),
        error_code=code,
        error_message=message,
        eta_seconds=None,
    )
    return ImportJob.objects.get(id=lease.job_id)


# --- what people do ------------------------------------------------------------------------------------------------


def commit(*, job_id: uuid.UUID) -> bool:
    """VALIDATED → QUEUED for the write pass, its dry-run counts cleared; False if it isn't VALIDATED any more."""
    return bool(
        ImportJob.objects.filter(id=job_id, status=ImportStatus.VALIDATED).update(
            status=ImportStatus.QUEUED,
            dry_run=False,
            started_at=None,
            processed_rows=0,
            failed_count=0,
            skipped_count=0,
            duplicates_in_file=0,
            existing_matches=0,
            checkpoint=0,
            rows_per_second=0,
            cancel_requested=False,
            # A sign of life for retention: a dry run committed late is not "left unfinished" since its upload.
            updated_at=timezone.now(),
        )
    )


def cancel(*, job_id: uuid.UUID) -> bool:
    """Cancel at once if nothing runs the job, else ask its pass to stop at the next chunk; False if it has ended."""
    if ImportJob.objects.filter(id=job_id, status__in=WAITING_STATUSES, worker_id="").update(
        status=ImportStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    ):
        return True
    return bool(
        ImportJob.objects.filter(id=job_id, status__in=(*WAITING_STATUSES, *ACTIVE_STATUSES)).update(
            cancel_requested=True
        )
    )


# --- the Check step: columns chosen, rows corrected (users/imports/columns.py, corrections.py) ---------------------

# The counts a dry run fills in, and a new check of the file starts again from zero.
_CHECKED_COUNTS = (
    "total_rows",
    "valid_rows",
    "processed_rows",
    "failed_count",
    "skipped_count",
    "duplicates_in_file",
    "existing_matches",
    "corrected_rows",
)


def await_columns(lease: Lease, *, layout: dict) -> ImportJob:
    """A dry run whose sheet lacks required columns stops at VALIDATED with its columns, for a person to choose them.

    No row was checked, so every count is zero, and a commit is refused until
    the columns are chosen (`choose_columns`). Returns the fresh job.
    """
    lease.owned().update(
        status=ImportStatus.VALIDATED,
        worker_id="",
        sheet_layout=layout,
        finished_at=None,
        eta_seconds=None,
        **dict.fromkeys(_CHECKED_COUNTS, 0),
    )
    return ImportJob.objects.get(id=lease.job_id)


def record_layout(*, job_id: uuid.UUID, layout: dict, column_mapping: dict, unknown_columns: list) -> None:
    """The columns the header stage found this time (they follow the columns chosen), for the Check step."""
    ImportJob.objects.filter(id=job_id).update(
        sheet_layout=layout, column_mapping=column_mapping, unknown_columns=unknown_columns
    )


def choose_columns(*, job_id: uuid.UUID, column_map: dict) -> bool:
    """VALIDATED → QUEUED, to check the file again with these columns; False if the job isn't waiting there any more.

    The counts start again from zero, as the check does; so do corrections
    (the caller deletes them): they were made against the other columns.
    """
    return bool(
        ImportJob.objects.filter(id=job_id, status=ImportStatus.VALIDATED, dry_run=True, worker_id="").update(
            status=ImportStatus.QUEUED,
            column_map=column_map,
            started_at=None,
            checkpoint=0,
            rows_per_second=0,
            eta_seconds=None,
            cancel_requested=False,
            updated_at=timezone.now(),
            **dict.fromkeys(_CHECKED_COUNTS, 0),
        )
    )


def hold_for_correction(*, job_id: uuid.UUID) -> ImportJob | None:
    """Lock a job waiting at VALIDATED until the surrounding transaction ends; None if it isn't waiting there.

    A job's corrections are then made one at a time, so two of them can't both
    take one phone number; a commit, a cancel or a new column choice waits for
    the lock and sees the correction. (SQLite's transactions already hold its
    one write lock from their start: see DATABASES.)
    """
    return (
        ImportJob.objects.select_for_update()
        .filter(id=job_id, status=ImportStatus.VALIDATED, dry_run=True, worker_id="")
        .first()
    )


@dataclass(frozen=True)
class CountChange:
    """What a corrected row changes in the checked counts (each a difference, most of them -1, 0 or +1)."""

    valid_rows: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    duplicates_in_file: int = 0
    existing_matches: int = 0
    corrected_rows: int = 0


def record_correction(*, job_id: uuid.UUID, change: CountChange) -> None:
    """A corrected row's effect on the job's counts, in the transaction that stores it, after `hold_for_correction`."""
    deltas = {name: F(name) + delta for name, delta in vars(change).items() if delta}
    _changed(
        ImportJob.objects.filter(id=job_id, status=ImportStatus.VALIDATED, dry_run=True, worker_id="").update(
            **deltas, updated_at=timezone.now()
        )
    )


# --- what the sweeps do --------------------------------------------------------------------------------------------


def release_stale(*, job_id: uuid.UUID, status: str, heartbeat_at: datetime) -> bool:
    """Free a job whose holder stopped beating, so a worker can claim it; False if it beat or moved meanwhile."""
    return bool(
        ImportJob.objects.filter(id=job_id, heartbeat_at=heartbeat_at, status=status).update(
            heartbeat_at=timezone.now(), worker_id=""
        )
    )


def touch_orphan(*, job_id: uuid.UUID, updated_at: datetime) -> bool:
    """Mark a queued job that lost its task as seen, so one sweep queues it again; False if another sweep did."""
    return bool(
        ImportJob.objects.filter(id=job_id, status=ImportStatus.QUEUED, updated_at=updated_at).update(
            updated_at=timezone.now()
        )
    )


def expire(*, job_id: uuid.UUID, status: str, heartbeat_at: datetime | None, message: str, code: str) -> bool:
    """End a job left unfinished past the retention period as FAILED; False if a worker took it meanwhile."""
    now = timezone.now()
    return bool(
        ImportJob.objects.filter(id=job_id, status=status, heartbeat_at=heartbeat_at).update(
            status=ImportStatus.FAILED,
            worker_id="",
            error_code=code,
            error_message=message,
            finished_at=now,
            eta_seconds=None,
            updated_at=now,
        )
    )


def file_deleted(*, job_id: uuid.UUID) -> None:
    """The stored upload is gone (retention): the job remembers when, and keeps its counts and row errors."""
    ImportJob.objects.filter(id=job_id).update(file="", file_storage="", file_deleted_at=timezone.now())


# --- undoing an import (users/imports/undo.py) -----------------------------------------------------------------
#
# An undo is a job of its own (source UNDO, `undoes` the import), so the worker's claim, heartbeat, cancel, the
# stale-heartbeat sweep and `finish`/`fail` above serve it unchanged. What differs is how it starts (one undo per
# import, decided by the database) and what its chunks record. Its checkpoint counts down: every source row of the
# import above it is undone; it starts at the import's own checkpoint and the undo is done at 0.

# An undo that ended without finishing may be asked for again: it resumes where it stopped.
UNDO_RESUMABLE_STATUSES = (ImportStatus.CANCELLED, ImportStatus.FAILED)


def undo_requested(*, undo: ImportJob) -> ImportJob | None:
    """Save a new undo job for its import, queued; None if the import already has one (a second click, a race).

    The one-to-one `undoes` column is unique, so when two requests race, the
    database lets exactly one insert through; the other sees None.
    """
    from django.db import IntegrityError, transaction

    undo.status = ImportStatus.QUEUED
    try:
        with transaction.atomic():
            undo.save(force_insert=True)
    except IntegrityError:
        return None
    return undo


def undo_resume(*, undo_id: uuid.UUID, user_id: int) -> bool:
    """A cancelled or failed undo queued again by `user_id`, keeping its checkpoint; False if it isn't resumable."""
    return bool(
        ImportJob.objects.filter(id=undo_id, status__in=UNDO_RESUMABLE_STATUSES, worker_id="").update(
            status=ImportStatus.QUEUED,
            created_by_id=user_id,
            cancel_requested=False,
            attempts=0,
            error_code="",
            error_message="",
            finished_at=None,
            updated_at=timezone.now(),
        )
    )


@dataclass(frozen=True)
class UndoChunkOutcome:
    """What one committed chunk of an undo did: the rows above `lower_row` are now undone."""

    lower_row: int
    processed: int
    deleted: int
    restored: int
    kept_changed: int
    kept_referenced: int


def undo_progress(
    lease: Lease, outcome: UndoChunkOutcome, *, rows_per_second: float, eta_seconds: float | None
) -> None:
    """An undone chunk's counts and checkpoint, in the transaction that deletes and restores its customers."""
    _changed(
        lease.owned().update(
            checkpoint=outcome.lower_row,
            heartbeat_at=timezone.now(),
            processed_rows=F("processed_rows") + outcome.processed,
            deleted_count=F("deleted_count") + outcome.deleted,
            restored_count=F("restored_count") + outcome.restored,
            kept_changed_count=F("kept_changed_count") + outcome.kept_changed,
            kept_referenced_count=F("kept_referenced_count") + outcome.kept_referenced,
            rows_per_second=rows_per_second,
            eta_seconds=eta_seconds,
        )
    )


def undo_finish(lease: Lease, *, status: ImportStatus) -> ImportJob:
    """The undo ends COMPLETE or CANCELLED and lets go of the job. Returns the fresh job."""
    lease.owned().update(status=status, worker_id="", finished_at=timezone.now(), eta_seconds=None)
    return ImportJob.objects.get(id=lease.job_id)
