"""The import pipeline: read → header → validate → de-duplicate → write, one chunk at a time.

Two passes share the chunking, heartbeat, cancellation and progress logs:
`validate_sheet` checks the whole file and writes nothing but row errors (a dry
run), `write_sheet` creates and updates customers. A chunk is
IMPORT_TRANSACTION_ROWS rows: several BULK_CREATE_BATCH_SIZE batches committed
in one transaction together with the job's counters and checkpoint, so after a
crash the job resumes exactly after its last committed chunk. The job's counters
move through users/imports/lifecycle.py, against the pass's lease. A job's passes
(`overlap`) read, validate and de-duplicate in a forked child while this process
writes what the child has finished (users/imports/child.py), from the second
chunk on: the same chunks in the same order, committed here, so the outcome and
crash safety are unchanged.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.utils import timezone

from users.imports import lifecycle
from users.imports.dedupe import DuplicateIndex
from users.imports.errors import ImportRefused
from users.imports.lifecycle import ChunkOutcome, Lease
from users.imports.progress import ProgressReporter
from users.imports.rows import Candidate, Field, HeaderMap, RowProblem, SourceRow
from users.imports.validate import RowValidator
from users.imports.write import (
    ExistingMatch,
    WriteResult,
    existing_match_problem,
    find_existing_matches,
    write_candidates,
)
from users.logtags import LogTag
from users.models import FileErrorCode, ImportJob, ImportRowError, RowOutcome, User

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0


class Sheet(Protocol):
    """What the pipeline needs of a source: a spreadsheet (users.imports.read) or a JSON payload."""

    format: str
    header: HeaderMap

    @property
    def estimated_rows(self) -> int | None: ...

    def data_rows(self) -> Iterator[SourceRow]: ...


class ImportCancelled(Exception):  # noqa: N818 - a state, not an error
    """Someone pressed Cancel; the pass stops at the chunk boundary it has reached."""


@dataclass
class Chunk:
    """Consecutive source rows, validated and checked against earlier rows of the file."""

    first_row: int
    last_row: int
    rows: int = 0  # non-empty rows
    candidates: list[Candidate] = field(default_factory=list)  # valid and first of their kind in the file
    invalid: list[RowProblem] = field(default_factory=list)  # every problem of every invalid row
    invalid_rows: int = 0
    duplicates: list[RowProblem] = field(default_factory=list)  # in-file duplicates of earlier rows
    row_numbers: list[int] = field(default_factory=list)

    def after(self, checkpoint: int) -> "Chunk":
        """The part of this chunk not yet committed (all of it, unless a crash split it)."""
        if self.first_row > checkpoint:
            return self
        invalid = [p for p in self.invalid if p.row_number > checkpoint]
        return Chunk(
            first_row=checkpoint + 1,
            last_row=self.last_row,
            rows=sum(1 for n in self.row_numbers if n > checkpoint),
            candidates=[c for c in self.candidates if c.row_number > checkpoint],
            invalid=invalid,
            invalid_rows=len({p.row_number for p in invalid}),
            duplicates=[p for p in self.duplicates if p.row_number > checkpoint],
            row_numbers=[n for n in self.row_numbers if n > checkpoint],
        )


def validated_chunks(sheet: Sheet, *, chunk_rows: int, row_limit: int | None = None) -> Iterator[Chunk]:
    """The sheet's non-empty rows, validated and de-duplicated, `chunk_rows` at a time."""
    validator = RowValidator(sheet.header)
    total = 0
    with DuplicateIndex(header=sheet.header, expected_rows=sheet.estimated_rows) as duplicates:
        chunk: Chunk | None = None
        for row in sheet.data_rows():
            outcome = validator.validate(row)
            if outcome is None:
                continue  # an empty row: skipped and not counted
            total += 1
            if row_limit is not None and total > row_limit:
                raise ImportRefused(
                    FileErrorCode.TOO_LARGE,
                    f"The file has more than {row_limit:,} rows, too many to check while you wait. "
                    "Upload it as an import job instead (POST /api/imports/, or the import page).",
                )
            if chunk is None:
                chunk = Chunk(first_row=row.number, last_row=row.number)
            chunk.last_row = row.number
            chunk.rows += 1
            chunk.row_numbers.append(row.number)
            if isinstance(outcome, Candidate):
                chunk.candidates.append(outcome)
            else:
                chunk.invalid.extend(outcome)
                chunk.invalid_rows += 1
            if chunk.rows >= chunk_rows:
                chunk.candidates, chunk.duplicates = duplicates.admit(chunk.candidates)
                yield chunk
                chunk = None
        if chunk is not None:
            chunk.candidates, chunk.duplicates = duplicates.admit(chunk.candidates)
            yield chunk


def _chunks(sheet: Sheet, *, chunk_rows: int, row_limit: int | None = None, overlap: bool) -> Iterator[Chunk]:
    """validated_chunks, made in a second process while this one writes when `overlap` allows it.

    Only on PostgreSQL: a second process reading the same SQLite file while this
    one writes it would work, but SQLite is for development and small files, and
    there the fork's start-up would cost more than it saves. And only outside a
    transaction: the fork closes this process's connection (the child must not
    share its socket), and the child reads the job's corrections through its own
    connection, which sees only what is committed.
    """
    chunks = validated_chunks(sheet, chunk_rows=chunk_rows, row_limit=row_limit)
    if overlap and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _overlapped(chunks)
    return chunks


def _overlapped(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The first chunk from here, the rest from a child that carries on with the same generator.

    A file of one chunk (most uploads) never pays for a second process: a forked
    child's pages count twice in every RSS sum until either writes them. A
    longer file is forked mid-way: the child inherits the generator as it stands
    (the reader's place in the file, the duplicate index) and continues it.
    """
    first = next(chunks, None)
    if first is None:
        return
    yield first
    from users.imports.child import iterate_in_child

    yield from iterate_in_child(lambda: chunks)


def _row_error(job: ImportJob, problem: RowProblem) -> ImportRowError:
    return ImportRowError(
        job=job,
        row_number=problem.row_number,
        outcome=problem.outcome,
        column=problem.column[:64],
        value=problem.value,
        code=problem.code,
        reason=problem.reason,
        raw_data=problem.raw,
        duplicate_of_row=problem.duplicate_of_row,
        existing_customer_id=problem.existing_customer_id,
    )


def save_problems(job: ImportJob, problems: list[RowProblem]) -> None:
    # ignore_conflicts: a chunk replayed after a crash must not record a row twice.
    ImportRowError.objects.bulk_create([_row_error(job, p) for p in problems], batch_size=500, ignore_conflicts=True)


def _commit_without_waiting_for_disk() -> None:
    """On PostgreSQL, let this chunk's COMMIT return before its WAL reaches the disk.

    Safe here because the checkpoint commits in the same transaction as the rows
    it covers: a server crash can lose the last few chunks' commits, but then it
    loses their checkpoint too, and the resumed job writes them again. Nothing is
    half-recorded, and the import stops waiting on an fsync per chunk.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _header_labels(header: HeaderMap) -> dict[Field, str]:
    return {f: header.label(f) for f in Field}


class _Pass:
    """What both passes share: the job, its lease, heartbeat and cancellation."""

    def __init__(self, job: ImportJob, sheet: Sheet, *, lease: Lease) -> None:
        self.job = job
        self.sheet = sheet
        self.lease = lease
        self.job_id = str(job.id)
        self.labels = _header_labels(sheet.header)
        self.chunk_rows = settings.IMPORT_TRANSACTION_ROWS
        self._last_beat = timezone.now()

    def beat(self) -> None:
        """Keep the heartbeat fresh during stretches with no commit (replaying chunks after a resume)."""
        now = timezone.now()
        if (now - self._last_beat).total_seconds() >= HEARTBEAT_SECONDS:
            lifecycle.heartbeat(self.lease)
            self._last_beat = now

    def end_chunk(self) -> None:
        """After each committed chunk: stop if cancelled, and forget the queries DEBUG keeps.

        With DEBUG on (`make run`), Django remembers the last 9,000 queries, each
        carrying a chunk's 2,000-value arrays: hundreds of MB on a long import.
        """
        reset_queries()
        if lifecycle.cancel_is_requested(job_id=self.job.id):
            raise ImportCancelled


ValidateCollector = Callable[[Chunk, dict[int, ExistingMatch]], None]
WriteCollector = Callable[[Chunk, WriteResult], None]


def validate_sheet(
    job: ImportJob,
    sheet: Sheet,
    *,
    lease: Lease,
    row_limit: int | None = None,
    collect: ValidateCollector | None = None,
    overlap: bool = False,
) -> None:
    """Check every row of the sheet and record what an import would do; write no customers.

    With `overlap`, the rows are read and validated in a second process while this
    one looks up and records each chunk (users/imports/child.py).
    """
    run = _Pass(job, sheet, lease=lease)
    ImportRowError.objects.filter(job=job).delete()
    estimated = sheet.estimated_rows or 0
    reporter = ProgressReporter(job_id=run.job_id, total_rows=estimated)
    counts = dict.fromkeys(
        ("total_rows", "valid_rows", "failed_count", "skipped_count", "duplicates_in_file", "existing_matches"), 0
    )
    logger.info(
        "%s job=%s validating (%s)", LogTag.EXCEL_UPLOAD_PROCESS, run.job_id, sheet.format, extra={"job_id": run.job_id}
    )
    chunks = _chunks(sheet, chunk_rows=run.chunk_rows, row_limit=row_limit, overlap=overlap)
    with closing(chunks):  # a cancel or an error stops the reading process at once
        for chunk in chunks:
            _validate_chunk(run, chunk, counts=counts, reporter=reporter, estimated=estimated, collect=collect)
    lifecycle.record_validation_verdict(lease, counts=counts)
    job.refresh_from_db()
    logger.info(
        "%s job=%s rows=%d valid_candidates=%d failed=%d skipped=%d duplicates_in_file=%d seconds=%.2f",
        LogTag.EXCEL_UPLOAD_COMPLETE,
        run.job_id,
        counts["total_rows"],
        counts["valid_rows"],
        counts["failed_count"],
        counts["skipped_count"],
        counts["duplicates_in_file"],
        reporter.elapsed,
        extra={"job_id": run.job_id, **counts},
    )


def _validate_chunk(
    run: _Pass,
    chunk: Chunk,
    *,
    counts: dict[str, int],
    reporter: ProgressReporter,
    estimated: int,
    collect: ValidateCollector | None,
) -> None:
    """One chunk of the dry run: its existing matches, its problems and the job's counters, in one transaction."""
    matches = find_existing_matches(chunk.candidates)
    problems = chunk.invalid + chunk.duplicates
    creatable = 0
    for candidate in chunk.candidates:
        match = matches.get(candidate.row_number)
        if match is None:
            creatable += 1
            continue
        problem = existing_match_problem(match, policy=run.job.on_duplicate, header_labels=run.labels)
        if problem is None:
            creatable += 1  # it will update the existing customer
        else:
            problems.append(problem)
    skipped = sum(1 for p in problems if p.outcome == RowOutcome.SKIPPED)
    counts["total_rows"] += chunk.rows
    counts["valid_rows"] += creatable
    counts["skipped_count"] += skipped
    counts["failed_count"] += chunk.rows - creatable - skipped
    counts["duplicates_in_file"] += len(chunk.duplicates)
    counts["existing_matches"] += len(matches)
    reporter.advance(chunk.rows)
    reporter.memory.tick()
    with transaction.atomic():
        save_problems(run.job, problems)
        lifecycle.record_validation_progress(
            run.lease,
            processed_rows=counts["total_rows"],
            total_rows=max(estimated, counts["total_rows"]),
            rows_per_second=reporter.rows_per_second,
            eta_seconds=reporter.eta_seconds(counts["total_rows"]),
        )
    if collect is not None:
        collect(chunk, matches)
    run.end_chunk()


def write_sheet(
    job: ImportJob,
    sheet: Sheet,
    *,
    lease: Lease,
    user: User | None,
    collect: WriteCollector | None = None,
    overlap: bool = False,
) -> None:
    """Create and update customers from the sheet, resuming after `job.checkpoint`.

    With `overlap`, the rows are read and validated in a second process while this
    one writes (users/imports/child.py); each chunk still commits here with its
    checkpoint, so what a crash leaves behind is the same either way.
    """
    run = _Pass(job, sheet, lease=lease)
    total = job.total_rows or sheet.estimated_rows or 0
    reporter = ProgressReporter(job_id=run.job_id, total_rows=total, already_failed=job.failed_count)
    checkpoint = job.checkpoint
    processed, created, failed = job.processed_rows, job.created_count, job.failed_count
    valid_candidates = 0
    logger.info(
        "%s job=%s reading and writing (%s)",
        LogTag.EXCEL_UPLOAD_PROCESS,
        run.job_id,
        sheet.format,
        extra={"job_id": run.job_id},
    )
    logger.info(
        "%s job=%s rows=%s batch_size=%d resume_after_row=%d",
        LogTag.BULK_CREATE_START,
        run.job_id,
        total or "unknown",
        settings.BULK_CREATE_BATCH_SIZE,
        checkpoint,
        extra={"job_id": run.job_id, "rows": total, "checkpoint": checkpoint},
    )
    chunks = _chunks(sheet, chunk_rows=run.chunk_rows, overlap=overlap)
    with closing(chunks):  # a cancel or an error stops the reading process at once
        for whole_chunk in chunks:
            if whole_chunk.last_row <= checkpoint:
                run.beat()  # replaying committed rows only to rebuild the duplicate index
                continue
            chunk = whole_chunk.after(checkpoint)
            valid_candidates += len(chunk.candidates)
            with transaction.atomic():
                _commit_without_waiting_for_disk()
                result = write_candidates(
                    chunk.candidates, job=job, user=user, policy=job.on_duplicate, header_labels=run.labels
                )
                problems = chunk.invalid + chunk.duplicates + result.problems
                save_problems(job, problems)
                chunk_failed = chunk.invalid_rows + len(chunk.duplicates) + result.failed
                reporter.advance(chunk.rows)
                processed += chunk.rows
                created += len(result.created)
                failed += chunk_failed
                outcome = ChunkOutcome(
                    last_row=chunk.last_row,
                    rows=chunk.rows,
                    created=len(result.created),
                    updated=len(result.updated),
                    skipped=result.skipped,
                    failed=chunk_failed,
                    duplicates_in_file=len(chunk.duplicates),
                    existing_matches=result.existing_matches,
                )
                lifecycle.record_chunk(
                    lease,
                    outcome,
                    rows_per_second=reporter.rows_per_second,
                    eta_seconds=reporter.eta_seconds(processed),
                )
            checkpoint = chunk.last_row
            reporter.log_failures([p for p in problems if p.outcome == RowOutcome.FAILED])
            reporter.log_progress(processed=processed, created=created, failed=failed)
            if collect is not None:
                collect(chunk, result)
            run.end_chunk()
    reporter.log_failure_summary()
    reporter.log_progress(processed=processed, created=created, failed=failed, final=True)
    job.refresh_from_db()
    logger.info(
        "%s job=%s rows=%d valid_candidates=%d (this run)",
        LogTag.EXCEL_UPLOAD_COMPLETE,
        run.job_id,
        job.processed_rows,
        valid_candidates,
        extra={"job_id": run.job_id, "valid_candidates": valid_candidates},
    )
    logger.info(
        "%s job=%s created=%d updated=%d skipped=%d failed=%d seconds=%.2f",
        LogTag.BULK_CREATE_COMPLETE,
        run.job_id,
        job.created_count,
        job.updated_count,
        job.skipped_count,
        job.failed_count,
        reporter.elapsed,
        extra={
            "job_id": run.job_id,
            "rows_created": job.created_count,
            "rows_updated": job.updated_count,
            "rows_skipped": job.skipped_count,
            "rows_failed": job.failed_count,
            "seconds": round(reporter.elapsed, 2),
        },
    )
