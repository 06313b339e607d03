"""Correcting rejected rows on the Check step: checked at once, kept beside the row, read in its place by the commit.

A correction names a row of a dry run waiting at VALIDATED and the new text of
some of its columns (by field). It is checked exactly as the pipeline checks a
row: the same validator (normalisers, sentences), then against every other
importable row of the file (rowkeys.py) and every other corrected row, then
against existing customers with the job's duplicate policy. A correction that
makes the row importable (or a match for an existing customer, skipped as
such) is stored, with an entry in the job's audit trail; the row's errors and
the job's counts become what checking the file with it would give. One that
doesn't is refused with its problems, field by field, and nothing changes.

Corrections join the import through one seam: `corrected_sheet` wraps the
job's sheet where it is opened (jobs.open_job_sheet), and its `data_rows()`
yields a corrected row's stored values in place of the file's cells. The
passes read a sheet as they always have, so a commit imports corrected rows
with the rest, and a crash resumes them like any other row. The uploaded file
is never written.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from users.accounts.permissions import user_may_correct_import
from users.imports import lifecycle
from users.imports.columns import job_layout, job_needs_columns, user_display_name
from users.imports.errors import RefusalCode, ServiceError
from users.imports.pipeline import save_problems
from users.imports.rowkeys import identity_keys, rows_with_keys
from users.imports.rows import Candidate, Field, HeaderMap, RowProblem, SourceRow
from users.imports.validate import RowValidator
from users.imports.write import existing_match_problem, find_existing_matches
from users.models import (
    AuditAction,
    CorrectionOutcome,
    ImportAuditEntry,
    ImportJob,
    ImportRowCorrection,
    ImportRowError,
    ImportStatus,
    RowErrorCode,
    RowOutcome,
    User,
)

logger = logging.getLogger(__name__)

# Corrections read per query while a pass streams the file: the pass never holds more than this many.
STREAM_PAGE = 1000

_TEMPLATE_LABEL = {
    Field.SHIPPING_MARK: "Shipping Mark",
    Field.FIRST_NAME: "First Name",
    Field.LAST_NAME: "Last Name",
    Field.EMAIL: "Email",
    Field.PHONE: "Phone Number",
    Field.REGION: "Region",
}
_EXISTING_CODES = (RowErrorCode.ALREADY_EXISTS, RowErrorCode.CONFLICT)


# --- a row's values, by field ------------------------------------------------------------------------------------


def row_fields(header: HeaderMap) -> tuple[Field, ...]:
    """The fields a row of this sheet has, in the sheet's column order: what a correction may change."""
    return tuple(sorted(header.columns, key=header.columns.__getitem__))


def values_from_raw(raw: Mapping[str, str], header: HeaderMap) -> dict[str, str]:
    """A rejected row's values by field, from its error's `raw_data` (the template's layout, as typed)."""
    values: dict[str, str] = {}
    for field_ in row_fields(header):
        if field_ == Field.FULL_NAME:
            parts = (raw.get("First Name", ""), raw.get("Last Name", ""))
            values[field_.value] = " ".join(part for part in parts if part)
        else:
            values[field_.value] = str(raw.get(_TEMPLATE_LABEL[field_], ""))
    return values


def _cells(values: Mapping[str, str], header: HeaderMap, *, base: Sequence[Any] = ()) -> tuple[Any, ...]:
    """`base` (or an empty row) with each field's column holding the value given for it."""
    cells = list(base) or [None] * (max(header.columns.values()) + 1)
    for field_, index in header.columns.items():
        if field_.value in values:
            cells[index] = values[field_.value] or None
    return tuple(cells)


# --- the seam: the passes read corrected rows in place of the file's ----------------------------------------------


class CorrectedSheet:
    """A job's sheet whose `data_rows()` yields each corrected row with its stored values; the rest as read."""

    def __init__(self, sheet: Any, *, job_id: uuid.UUID) -> None:
        self._sheet = sheet
        self._job_id = job_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sheet, name)  # format, header, sheet_name, layout: the sheet's own

    @property
    def estimated_rows(self) -> int | None:
        return self._sheet.estimated_rows

    def data_rows(self) -> Iterator[SourceRow]:
        """The sheet's rows from the top, corrected ones replaced; corrections are read a page at a time."""
        header = self._sheet.header
        pending = _stored_corrections(self._job_id)
        correction = next(pending, None)
        for row in self._sheet.data_rows():
            while correction is not None and correction[0] < row.number:
                correction = next(pending, None)  # a row no longer in the file (it can't be, but never stall)
            if correction is not None and correction[0] == row.number:
                yield SourceRow(row.number, _cells(correction[1], header, base=row.cells))
                correction = next(pending, None)
            else:
                yield row


def corrected_sheet(job: ImportJob, sheet: Any) -> Any:
    """The job's sheet as the passes should read it: with its corrections, if it has any."""
    return CorrectedSheet(sheet, job_id=job.id) if job.corrected_rows else sheet


def _stored_corrections(job_id: uuid.UUID) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, values) of a job's corrections in row order, STREAM_PAGE per query, keyed on the row number."""
    after = 0
    while True:
        page = list(
            ImportRowCorrection.objects.filter(job_id=job_id, row_number__gt=after)
            .order_by("row_number")
            .values_list("row_number", "values")[:STREAM_PAGE]
        )
        yield from page
        if len(page) < STREAM_PAGE:
            return
        after = page[-1][0]


# --- checking a corrected row -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowVerdict:
    """What a row's values would do in the import: an outcome, or the problems that keep it out."""

    row_number: int
    values: dict[str, str]
    outcome: CorrectionOutcome | None  # None: still rejected
    problems: tuple[RowProblem, ...] = ()  # for a skipped row, the existing customer it matches
    candidate: Candidate | None = None


def check_row(job: ImportJob, header: HeaderMap, *, row_number: int, values: dict[str, str]) -> RowVerdict:
    """Check one row's values as the pipeline would: validator, the rest of the file, existing customers."""
    checked = RowValidator(header).validate(SourceRow(row_number, _cells(values, header)))
    if checked is None:
        empty = RowProblem(
            row_number=row_number,
            column="",
            value="",
            code=RowErrorCode.MARK_MISSING,
            reason="Every cell of the row is empty. Type its values, or leave it out: it stays in the error report.",
        )
        return RowVerdict(row_number, values, None, (empty,))
    if not isinstance(checked, Candidate):
        return RowVerdict(row_number, values, None, tuple(checked))
    duplicate = _duplicate_problem(job, header, checked)
    if duplicate is not None:
        return RowVerdict(row_number, values, None, (duplicate,), checked)
    match = find_existing_matches([checked]).get(row_number)
    if match is None:
        return RowVerdict(row_number, values, CorrectionOutcome.CREATE, (), checked)
    labels = {field_: header.label(field_) for field_ in Field}
    problem = existing_match_problem(match, policy=job.on_duplicate, header_labels=labels)
    if problem is None:
        return RowVerdict(row_number, values, CorrectionOutcome.UPDATE, (), checked)
    if problem.outcome == RowOutcome.SKIPPED:
        return RowVerdict(row_number, values, CorrectionOutcome.SKIP, (problem,), checked)
    return RowVerdict(row_number, values, None, (problem,), checked)


def _duplicate_problem(job: ImportJob, header: HeaderMap, candidate: Candidate) -> RowProblem | None:
    """DUPLICATE_IN_FILE if another importable row of the file, or another corrected row, shares a key.

    The file's rows come from the check's recorded keys; a row that has been
    corrected since is judged by its correction instead. The sentence is the
    duplicate index's ("Same phone number as row 12."), naming the first row.
    """
    row = candidate.row_number
    kinds = [
        (Field.PHONE, "p:" + candidate.phone, "phone number"),
        (Field.SHIPPING_MARK, "m:" + candidate.shipping_mark, "shipping mark"),
    ]
    if candidate.email:
        kinds.append((Field.EMAIL, "e:" + candidate.email.lower(), "email address"))
    in_file = rows_with_keys(job_id=job.id, keys=[key for _field, key, _words in kinds])
    others = {number for numbers in in_file.values() for number in numbers if number != row}
    superseded = set(
        ImportRowCorrection.objects.filter(job=job, row_number__in=others).values_list("row_number", flat=True)
    )
    identity = Q(phone=candidate.phone) | Q(shipping_mark=candidate.shipping_mark)
    if candidate.email:
        identity |= Q(email=candidate.email.lower())
    corrected: dict[str, list[int]] = defaultdict(list)
    rows = ImportRowCorrection.objects.filter(job=job).filter(identity).exclude(row_number=row)
    for number, phone, mark, email in rows.values_list("row_number", "phone", "shipping_mark", "email"):
        for key in identity_keys(shipping_mark=mark, phone=phone, email=email):
            corrected[key].append(number)
    clauses: list[tuple[Field, str, int]] = []
    for field_, key, words in kinds:
        found = [n for n in in_file.get(key, ()) if n != row and n not in superseded] + corrected.get(key, [])
        if found:
            clauses.append((field_, words, min(found)))
    if not clauses:
        return None
    text = " and ".join(f"same {words} as row {other}" for _field, words, other in clauses)
    first_field, _words, first_row = clauses[0]
    return RowProblem(
        row_number=row,
        column=header.label(first_field),
        value=getattr(candidate, first_field.value),
        code=RowErrorCode.DUPLICATE_IN_FILE,
        reason=f"{text[0].upper()}{text[1:]}.",
        raw=candidate.raw,
        duplicate_of_row=first_row,
    )


# --- the service --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowState:
    """How a row counts in a checked job: the flags the dry run's counts are sums of."""

    valid: bool = False
    failed: bool = False
    skipped: bool = False
    duplicate: bool = False
    existing: bool = False

    @classmethod
    def of_errors(cls, errors: Sequence[ImportRowError]) -> "RowState":
        failed = any(error.outcome == RowOutcome.FAILED for error in errors)
        return cls(
            failed=failed,
            skipped=not failed and bool(errors),
            duplicate=any(error.code == RowErrorCode.DUPLICATE_IN_FILE for error in errors),
            existing=any(error.code in _EXISTING_CODES for error in errors),
        )

    @classmethod
    def of_outcome(cls, outcome: str) -> "RowState":
        return cls(
            valid=outcome in (CorrectionOutcome.CREATE, CorrectionOutcome.UPDATE),
            skipped=outcome == CorrectionOutcome.SKIP,
            existing=outcome in (CorrectionOutcome.UPDATE, CorrectionOutcome.SKIP),
        )


def _count_change(before: RowState, after: RowState, *, first_correction: bool) -> lifecycle.CountChange:
    return lifecycle.CountChange(
        valid_rows=after.valid - before.valid,
        failed_count=after.failed - before.failed,
        skipped_count=after.skipped - before.skipped,
        duplicates_in_file=after.duplicate - before.duplicate,
        existing_matches=after.existing - before.existing,
        corrected_rows=int(first_correction),
    )


@dataclass(frozen=True)
class RowCorrected:
    """A stored correction (or an unchanged row), and the job with its counts as they now are."""

    verdict: RowVerdict
    job: ImportJob
    changed: bool


def import_row_correct(*, job: ImportJob, user: User, row_number: int, values: Mapping[str, str]) -> RowCorrected:
    """Correct one rejected (or skipped) row of a dry run waiting at the Check step, if the values make it importable.

    `values` holds the new text of some of the row's columns, by field; the
    others keep their current text. Refusals: 403 unless the job's owner, 409
    unless the job waits at VALIDATED with its columns known, 404 for a row
    the check didn't reject, 400 for a field the sheet has no column for, and
    ROW_INVALID (422) with the problems, field by field, for values that still
    don't make an importable row; nothing is stored then.
    """
    if not user_may_correct_import(user, job.created_by_id):
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            "Only the person who uploaded this import may correct its rows; you may follow it.",
        )
    layout = job_layout(job)
    if job.status != ImportStatus.VALIDATED or not job.dry_run or layout is None:
        raise ServiceError(
            RefusalCode.NOT_VALIDATED,
            "Rows can be corrected while a checked import waits to be committed; "
            f"this one is {job.get_status_display().lower()}.",
        )
    if job_needs_columns(job):
        raise ServiceError(
            RefusalCode.COLUMNS_MISSING, "Choose the sheet's missing columns first: no row has been checked yet."
        )
    header = layout.header
    fields = {field_.value for field_ in row_fields(header)}
    unknown = [name for name in values if name not in fields]
    if unknown:
        raise ServiceError(
            RefusalCode.INVALID_OPTION,
            f"The sheet has no column for {str(unknown[0])[:40]!r}; a row's values are its columns: "
            f"{', '.join(field_.value for field_ in row_fields(header))}.",
        )
    with transaction.atomic():
        held = lifecycle.hold_for_correction(job_id=job.id)
        if held is None:
            job.refresh_from_db()
            raise ServiceError(
                RefusalCode.NOT_VALIDATED,
                f"The import is no longer waiting at the Check step; it is {job.get_status_display().lower()}.",
            )
        errors = list(ImportRowError.objects.filter(job=held, row_number=row_number))
        correction = ImportRowCorrection.objects.filter(job=held, row_number=row_number).first()
        if not errors and correction is None:
            raise ServiceError(
                RefusalCode.NOT_FOUND, f"Row {row_number} is not one of the rows this check rejected or skipped."
            )
        before = dict(correction.values) if correction else values_from_raw(errors[0].raw_data or {}, header)
        after = {**before, **{name: str(value) for name, value in values.items()}}
        verdict = check_row(held, header, row_number=row_number, values=after)
        if verdict.outcome is None:
            raise _refusal(verdict, header)
        state = RowState.of_outcome(correction.outcome) if correction else RowState.of_errors(errors)
        new_state = RowState.of_outcome(verdict.outcome)
        if after == before and state == new_state:
            return RowCorrected(verdict=verdict, job=held, changed=False)
        _store(held, user, verdict, before=before, header=header)
        lifecycle.record_correction(
            job_id=held.id, change=_count_change(state, new_state, first_correction=correction is None)
        )
    logger.info(
        "job=%s row %d corrected by user id %s (%s)",
        job.id,
        row_number,
        user.pk,
        verdict.outcome,
        extra={"job_id": str(job.id), "row": row_number},
    )
    return RowCorrected(verdict=verdict, job=ImportJob.objects.get(id=job.id), changed=True)


def _store(
    job: ImportJob,
    user: User,
    verdict: RowVerdict,
    *,
    before: dict[str, str],
    header: HeaderMap,
) -> None:
    """The row's errors become the verdict's, its correction is kept, and the audit trail says what changed."""
    candidate = verdict.candidate
    assert candidate is not None and verdict.outcome is not None  # noqa: S101 - only importable verdicts are stored
    ImportRowError.objects.filter(job=job, row_number=verdict.row_number).delete()
    save_problems(job, verdict.problems)  # a skipped row keeps its one SKIPPED error, as the check records it
    now = timezone.now()
    ImportRowCorrection.objects.update_or_create(
        job=job,
        row_number=verdict.row_number,
        defaults={
            "values": verdict.values,
            "outcome": verdict.outcome,
            "shipping_mark": candidate.shipping_mark,
            "phone": candidate.phone,
            "email": candidate.email.lower(),
            "corrected_by": user,
            "corrected_at": now,
        },
    )
    ImportAuditEntry.objects.create(
        job=job,
        at=now,
        user=user,
        user_name=user_display_name(user),
        action=AuditAction.ROW_CORRECTED,
        row_number=verdict.row_number,
        changes=[
            {"column": header.label(field_), "field": field_.value, "before": before.get(name, ""), "after": value}
            for field_ in row_fields(header)
            if (value := verdict.values.get(name := field_.value, "")) != before.get(name, "")
        ],
        outcome=verdict.outcome,
    )


def _refusal(verdict: RowVerdict, header: HeaderMap) -> ServiceError:
    """ROW_INVALID: the first problem as the sentence, every problem by field for the form."""
    by_label = {header.label(field_): field_.value for field_ in header.columns}
    errors: dict[str, list[str]] = {}
    for problem in verdict.problems:
        errors.setdefault(by_label.get(problem.column, "row"), []).append(problem.reason)
    first = verdict.problems[0]
    return ServiceError(
        RefusalCode.ROW_INVALID,
        f"Row {verdict.row_number} still can't be imported: {first.reason}",
        extra={
            "errors": errors,
            "row": {
                "row_number": verdict.row_number,
                "values": verdict.values,
                "problems": [problem_json(problem, header) for problem in verdict.problems],
            },
        },
    )


def problem_json(problem: RowProblem | ImportRowError, header: HeaderMap) -> dict[str, Any]:
    """A problem as the rows API shows it: the field it is about (when it is about one), and the rest as stored."""
    by_label = {header.label(field_): field_.value for field_ in header.columns}
    return {
        "field": by_label.get(problem.column),
        "column": problem.column,
        "value": problem.value,
        "code": str(problem.code),
        "reason": problem.reason,
        "duplicate_of_row": problem.duplicate_of_row,
        "existing_customer_id": problem.existing_customer_id,
    }


# --- reading: the rows to correct, a page at a time ---------------------------------------------------------------


@dataclass(frozen=True)
class RowToCorrect:
    """A row the check rejected or skipped, as the Check step edits it."""

    row_number: int
    outcome: str  # RowOutcome: FAILED, or SKIPPED (matches an existing customer)
    values: dict[str, str]
    problems: tuple[dict[str, Any], ...]
    corrected: bool


def import_rows_to_correct(*, job: ImportJob) -> QuerySet[ImportRowError]:
    """The numbers of the rows the check rejected or skipped, in order, one per row: what the Check step pages."""
    return ImportRowError.objects.filter(job=job).order_by("row_number").values_list("row_number", flat=True).distinct()


def import_rows_detail(*, job: ImportJob, row_numbers: Sequence[int]) -> list[RowToCorrect]:
    """The given rows with their values by field and their problems: two queries, whatever the job's size."""
    layout = job_layout(job)
    header = layout.header if layout is not None else None
    errors: dict[int, list[ImportRowError]] = {}
    for error in ImportRowError.objects.filter(job=job, row_number__in=row_numbers).order_by("row_number", "id"):
        errors.setdefault(error.row_number, []).append(error)
    corrections = dict(
        ImportRowCorrection.objects.filter(job=job, row_number__in=row_numbers).values_list("row_number", "values")
    )
    rows = []
    for number in row_numbers:
        found = errors.get(number, [])
        if not found:
            continue
        values = corrections.get(number)
        if values is None:
            values = values_from_raw(found[0].raw_data or {}, header) if header else dict(found[0].raw_data or {})
        rows.append(
            RowToCorrect(
                row_number=number,
                outcome=RowOutcome.FAILED if RowState.of_errors(found).failed else RowOutcome.SKIPPED,
                values=values,
                problems=tuple(problem_json(error, header or HeaderMap(None, {}, {})) for error in found),
                corrected=number in corrections,
            )
        )
    return rows


def import_audit_trail(*, job: ImportJob) -> QuerySet[ImportAuditEntry]:
    """What was changed on the job before its commit, newest first."""
    return ImportAuditEntry.objects.filter(job=job).order_by("-at", "-id")

