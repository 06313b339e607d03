"""Choosing an import's columns on the Check step, and remembering the choice for the next sheet with that header.

The header stage (header.py) describes the sheet's columns: header, three
samples, the field each holds and how (`exact`, `synonym`, `remembered`,
`chosen`), and a suggestion for a column no name matched. The job keeps that
description (`ImportJob.sheet_layout`) so the page and the API show it without
opening the file. When a required column is missing, a dry run stops at
VALIDATED with it (lifecycle.await_columns) instead of failing, provided some
column could be the missing one; `import_job_choose_columns` then checks the
file again with the person's choice, no new upload, and remembers the choice
for that header row, for every admin of this service: the next sheet with the
same header is read the same way, with a note saying so.
"""

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from users.accounts.permissions import user_may_correct_import
from users.imports import lifecycle
from users.imports.errors import ImportRefused, RefusalCode, ServiceError
from users.imports.header import (
    ColumnChoiceError,
    ColumnRules,
    ColumnsMissing,
    MatchKind,
    RememberedColumns,
    SheetColumn,
    SheetLayout,
    column_index,
    column_letter,
    resolve_column_choices,
)
from users.imports.rows import FIELD_LABELS, Field, HeaderMap
from users.models import (
    AuditAction,
    ImportAuditEntry,
    ImportJob,
    ImportKeyBlock,
    ImportRowCorrection,
    ImportRowError,
    ImportStatus,
    RememberedColumnMap,
    User,
)

logger = logging.getLogger(__name__)

IGNORED = "Ignored"


def user_display_name(user: User | None) -> str:
    """Who did something, for the audit trail and notes: a name, never the phone number they sign in with."""
    if user is None:
        return ""
    return (user.get_full_name() or f"User {user.pk}")[:150]


# --- the layout as the job keeps it ------------------------------------------------------------------------------


def header_to_json(header: HeaderMap) -> dict[str, Any]:
    return {
        "header_row": header.header_row,
        "columns": {field_.value: index for field_, index in header.columns.items()},
        "labels": {field_.value: label for field_, label in header.labels.items()},
        "unknown": list(header.unknown_columns),
    }


def header_from_json(data: Mapping[str, Any]) -> HeaderMap:
    return HeaderMap(
        header_row=data.get("header_row"),
        columns={Field(name): int(index) for name, index in data.get("columns", {}).items()},
        labels={Field(name): str(label) for name, label in data.get("labels", {}).items()},
        unknown_columns=tuple(data.get("unknown", ())),
    )


def layout_to_json(*, sheet_name: str, header: HeaderMap, layout: SheetLayout | None) -> dict[str, Any]:
    """What the job keeps of the header stage: the map the pipeline reads, and the columns the Check step shows."""
    columns = layout.columns if layout is not None else ()
    return {
        "sheet": sheet_name,
        "key": layout.key if layout is not None else "",
        "header": header_to_json(header),
        "columns": [
            {
                "index": column.index,
                "column": column.letter,
                "header": column.header,
                "samples": list(column.samples),
                "field": column.field.value if column.field else None,
                "matched_by": column.matched_by.value if column.matched_by else None,
                "suggested": column.suggested.value if column.suggested else None,
            }
            for column in columns
        ],
        "missing": [field_.value for field_ in layout.missing_fields()] if layout is not None else [],
        "remembered": (
            {"confirmed_at": layout.remembered.confirmed_at, "confirmed_by": layout.remembered.confirmed_by}
            if layout is not None and layout.remembered is not None
            else None
        ),
    }


def job_layout(job: ImportJob) -> SheetLayout | None:
    """The columns the job's last check found, rebuilt from the job; None before the file was first opened."""
    data = job.sheet_layout or {}
    if "header" not in data:
        return None
    remembered = data.get("remembered")
    return SheetLayout(
        header=header_from_json(data["header"]),
        key=data.get("key", ""),
        columns=tuple(
            SheetColumn(
                index=column["index"],
                header=column["header"],
                samples=tuple(column["samples"]),
                field=Field(column["field"]) if column["field"] else None,
                matched_by=MatchKind(column["matched_by"]) if column["matched_by"] else None,
                suggested=Field(column["suggested"]) if column["suggested"] else None,
            )
            for column in data.get("columns", ())
        ),
        remembered=RememberedColumns(
            fields=(), confirmed_at=remembered["confirmed_at"], confirmed_by=remembered["confirmed_by"]
        )
        if remembered
        else None,
    )


def job_needs_columns(job: ImportJob) -> bool:
    """Whether the job stopped for a person to choose columns: nothing can be committed until they do."""
    return bool((job.sheet_layout or {}).get("missing"))


def job_columns_message(job: ImportJob) -> str:
    """Why the job waits for columns, as the header stage said it (which are missing, which were recognised)."""
    return str((job.sheet_layout or {}).get("message", "")) if job_needs_columns(job) else ""


def job_layout_record(job: ImportJob, *, sheet: Any) -> None:
    """Keep what the header stage found this time on the job, when it changed (a new choice of columns).

    A pass that writes keeps what its check recorded: it read the same columns (`column_rules_for`).
    """
    if not job.dry_run and (job.sheet_layout or {}).get("columns"):
        return
    layout = getattr(sheet, "layout", None)
    data = layout_to_json(sheet_name=getattr(sheet, "sheet_name", ""), header=sheet.header, layout=layout)
    if data != job.sheet_layout:
        lifecycle.record_layout(
            job_id=job.id,
            layout=data,
            column_mapping={field_.value: sheet.header.label(field_) for field_ in sheet.header.columns},
            unknown_columns=list(sheet.header.unknown_columns),
        )
        job.sheet_layout = data


def job_columns_await(job: ImportJob, lease: lifecycle.Lease, refusal: ImportRefused) -> bool:
    """Stop a dry run at the Check step when its sheet lacks columns a person could choose; False to refuse it.

    Only when some column of the sheet holds no field yet: a sheet whose every
    column is taken has nothing to choose from, and is refused with the
    sentence naming what is missing, as before.
    """
    if not (job.dry_run and isinstance(refusal, ColumnsMissing) and refusal.layout.has_columns_to_choose()):
        return False
    layout = layout_to_json(sheet_name=refusal.sheet_name, header=refusal.layout.header, layout=refusal.layout)
    layout["message"] = refusal.message
    lifecycle.await_columns(lease, layout=layout)
    logger.info(
        "job=%s waits for its columns to be chosen: %s missing",
        job.id,
        ", ".join(layout["missing"]),
        extra={"job_id": str(job.id)},
    )
    return True


# --- what decides the columns when the file is opened -------------------------------------------------------------


def column_rules_for(job: ImportJob) -> ColumnRules:
    """The job's own column choices, else the choices remembered for the sheet's header row.

    A pass that writes reads the columns its check settled on (or its own first
    pass, after a crash): a choice remembered or changed meanwhile, perhaps by
    someone else, must not change what was checked.
    """
    if not job.dry_run and (settled := (job.sheet_layout or {}).get("columns")):
        return ColumnRules(chosen={column["index"]: _field(column["field"]) for column in settled})
    chosen = {
        index: Field(name) if name else None
        for letter, name in (job.column_map or {}).items()
        if (index := column_index(letter)) is not None
    }
    # A choice made for this import is the last word; memory is only for sheets nobody has chosen for yet.
    return ColumnRules(chosen=chosen, remembered=None if chosen else remembered_columns)


def _field(name: str | None) -> Field | None:
    return Field(name) if name else None


def remembered_columns(key: str) -> RememberedColumns | None:
    """The columns confirmed for a header row with this key, whoever confirmed them; None if none were."""
    remembered = RememberedColumnMap.objects.filter(header_key=key).first()
    if remembered is None:
        return None
    fields = tuple(Field(name) if name in Field._value2member_map_ else None for name in remembered.fields)
    return RememberedColumns(
        fields=fields,
        confirmed_at=remembered.confirmed_at.isoformat(),
        confirmed_by=remembered.confirmed_by_name,
    )


def columns_remember(*, layout: SheetLayout, fields: Mapping[int, Field | None], user: User) -> None:
    """Remember these columns for the layout's header row, replacing what was remembered for it before."""
    if not layout.key:
        return  # a sheet read without a header has no header row to recognise next time
    width = max(fields, default=-1) + 1
    values = {
        "headers": [next((c.header for c in layout.columns if c.index == i), "") for i in range(width)],
        "fields": [(fields.get(index) or "") for index in range(width)],
        "confirmed_by": user,
        "confirmed_by_name": user_display_name(user),
        "confirmed_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            RememberedColumnMap.objects.update_or_create(header_key=layout.key, defaults=values)
    except IntegrityError:  # someone confirmed the same header at the same moment: theirs is as good, keep ours last
        RememberedColumnMap.objects.filter(header_key=layout.key).update(**values)


# --- the service --------------------------------------------------------------------------------------------------


def import_job_choose_columns(*, job: ImportJob, user: User, column_map: Mapping[str, str | None]) -> ImportJob:
    """Check a dry run's file again with these columns (letter → field, "" to ignore), without a new upload.

    An empty choice changes nothing (the job is returned as it is).

    Only the job's owner may, while it waits at the Check step. The choice is
    checked against the columns the file has (400 with a sentence otherwise),
    remembered for the sheet's header row, and recorded in the job's audit
    trail. Rows corrected under the old columns are dropped with their counts:
    the file is checked from the top again.
    """
    from users.imports.services import _quota_lock, import_quota_check
    from users.imports.tasks import enqueue_import_job

    if not user_may_correct_import(user, job.created_by_id):
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            "Only the person who uploaded this import may choose its columns; you may follow it.",
        )
    layout = job_layout(job)
    if job.status != ImportStatus.VALIDATED or not job.dry_run or layout is None or not layout.columns:
        raise ServiceError(
            RefusalCode.NOT_VALIDATED,
            "Columns can be chosen while a checked import waits to be committed, for a sheet with a header row; "
            f"this one is {job.get_status_display().lower()}.",
        )
    if not column_map:
        return job  # nothing chosen, nothing changes
    try:
        fields = resolve_column_choices(layout, column_map)
    except ColumnChoiceError as problem:
        raise ServiceError(RefusalCode.INVALID_COLUMN_MAP, str(problem)) from None
    letters = {column_letter(index): field_.value if field_ else "" for index, field_ in sorted(fields.items())}
    import_quota_check(user=user, new_bytes=0)
    with transaction.atomic():
        _quota_lock()
        import_quota_check(user=user, new_bytes=0)
        if not lifecycle.choose_columns(job_id=job.id, column_map=letters):
            job.refresh_from_db()
            raise ServiceError(
                RefusalCode.NOT_VALIDATED,
                f"The import is no longer waiting at the Check step; it is {job.get_status_display().lower()}.",
            )
        ImportRowError.objects.filter(job=job).delete()
        ImportRowCorrection.objects.filter(job=job).delete()
        ImportKeyBlock.objects.filter(job=job).delete()
        ImportAuditEntry.objects.create(
            job=job,
            user=user,
            user_name=user_display_name(user),
            action=AuditAction.COLUMNS_CHOSEN,
            changes=_column_changes(layout, fields),
        )
        columns_remember(layout=layout, fields=fields, user=user)
        enqueue_import_job(job_id=job.id)
    logger.info("job=%s columns chosen by user id %s: %s", job.id, user.pk, letters, extra={"job_id": str(job.id)})
    job.refresh_from_db()
    return job


def _column_changes(layout: SheetLayout, fields: Mapping[int, Field | None]) -> list[dict[str, Any]]:
    """Each column whose field the choice changed: `{"column", "field", "before", "after"}` in words."""
    changes = []
    for column in layout.columns:
        after = fields.get(column.index)
        if after == column.field:
            continue
        changes.append(
            {
                "column": f"{column.letter} ({column.header})" if column.header else column.letter,
                "field": None,
                "before": FIELD_LABELS[column.field] if column.field else IGNORED,
                "after": FIELD_LABELS[after] if after else IGNORED,
            }
        )
    return changes
