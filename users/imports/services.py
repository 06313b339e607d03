"""What the API, the import page and the command line do with imports: each a plain, typed function.

Views stay thin: they parse input, call one of these, and serialise the result.
Refusals are `ImportRefused` (the file) or `ServiceError` (the request). The
rules on who may choose which option are checked here, so every way in (the
job API, the frontend's endpoints, the import page, the command line) obeys the
same ones; so are the quotas web clients share (active jobs per user, bytes
of uploads in storage), race-safe under `_quota_lock()`.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Sum

from users.accounts.permissions import (
    user_can_send_welcome_sms,
    user_can_update_customers,
    user_may_cancel_import,
    user_may_commit_import,
)
from users.imports import lifecycle
from users.imports.columns import job_needs_columns
from users.imports.errors import ImportRefused, RefusalCode, ServiceError
from users.imports.formats import detect_format
from users.imports.jobs import open_job_sheet
from users.imports.payload import PayloadSheet, write_payload
from users.imports.pipeline import Chunk, validate_sheet, write_sheet
from users.imports.rowkeys import RowKeyRecorder, row_keys_forget
from users.imports.rows import Candidate, RowProblem
from users.imports.storage import stored_file_delete, stored_file_save, uploaded_file_local_path
from users.imports.tasks import enqueue_import_job
from users.imports.write import ExistingMatch, WriteResult, customer_from_candidate
from users.logtags import LogTag
from users.masking import mask_personal_data
from users.models import (
    Customer,
    DuplicatePolicy,
    ImportJob,
    ImportSource,
    ImportStatus,
    RowErrorCode,
    User,
)
from users.models.imports import ACTIVE_STATUSES

logger = logging.getLogger(__name__)
MB = 1024 * 1024
# Any fixed number, the same in every process: PostgreSQL's advisory lock that serialises quota decisions.
QUOTA_LOCK_KEY = 0x5052_494D  # "PRIM"


def _check_policy(on_duplicate: str) -> None:
    if on_duplicate not in DuplicatePolicy.values:
        raise ServiceError(
            RefusalCode.INVALID_OPTION,
            f"on_duplicate must be one of {', '.join(DuplicatePolicy.values)}; got {on_duplicate!r}.",
        )


def import_options_check(*, user: User, on_duplicate: str, send_sms: bool) -> None:
    """Refuse (403, with a sentence) an option that reaches further than importing: each needs its own permission."""
    if on_duplicate == DuplicatePolicy.UPDATE and not user_can_update_customers(user):
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            "Updating existing customers needs the permission to change customers (users.change_customer). "
            "Import with on_duplicate=skip, or ask an administrator for that permission.",
        )
    if send_sms and not user_can_send_welcome_sms(user):
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            "Welcome texts need the permission to send them (users.send_welcome_sms). "
            "Import without send_sms, or ask an administrator for that permission.",
        )


def _stored_bytes() -> int:
    """Bytes of uploads still stored, every user's: what retention has not deleted yet."""
    stored = ImportJob.objects.filter(file_deleted_at__isnull=True).exclude(file="").aggregate(total=Sum("file_size"))
    return stored["total"] or 0


def import_quota_check(*, user: User, new_bytes: int, new_active: int = 1) -> None:
    """Refuse an import that would give `user` too many active jobs (429) or fill the upload storage (507).

    Called once early, so a refusal costs nothing, and again inside the transaction
    that saves the job, after `_quota_lock()`: there the answer is exact.
    A setting of 0 switches its quota off.
    """
    limit = settings.IMPORT_MAX_ACTIVE_JOBS_PER_USER
    if limit and new_active:
        active = ImportJob.objects.filter(created_by=user, status__in=ACTIVE_STATUSES).count()
        if active + new_active > limit:
            raise ServiceError(
                RefusalCode.TOO_MANY_ACTIVE_IMPORTS,
                f"You already have {active} imports waiting or running, and each person may have {limit} at "
                "a time. Wait for one to finish, or cancel one, then try again.",
            )
    capacity = settings.IMPORT_MAX_STORED_BYTES
    if capacity and new_bytes:
        stored = _stored_bytes()
        if stored + new_bytes > capacity:
            # 507 Insufficient Storage: the server can't store what the request needs. Not 413 (the
            # file is within the upload limit) nor 429 (not this client's doing); it clears by itself
            # as retention deletes old uploads.
            raise ServiceError(
                RefusalCode.STORAGE_FULL,
                f"The server's space for uploaded files is full ({stored / MB:.1f} of {capacity / MB:.0f} MB "
                f"in use; this upload needs {new_bytes / MB:.1f} MB). Old uploads are deleted after "
                f"{settings.IMPORT_FILE_RETENTION_DAYS} days; try again later, or ask an administrator.",
            )


def _quota_lock() -> None:
    """Serialise quota decisions until the surrounding transaction ends, so two uploads can't share the last slot.

    PostgreSQL: a transaction-scoped advisory lock, held for the milliseconds of a
    count and an insert. SQLite: nothing to do, because DATABASES opens every
    transaction IMMEDIATE, so it already holds the database's single write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUOTA_LOCK_KEY])


def _log_upload(job: ImportJob, user: User) -> None:
    job_id = str(job.id)
    # The user by id: their login is their phone number, which stays out of the log.
    logger.info(
        "%s job=%s user id %s",
        LogTag.EXCEL_UPLOAD_START,
        job_id,
        user.pk,
        extra={"job_id": job_id, "user_id": user.pk},
    )
    logger.info(
        "%s job=%s name=%r size_mb=%.2f dry_run=%s on_duplicate=%s",
        LogTag.EXCEL_UPLOAD_FILE,
        job_id,
        mask_personal_data(job.original_filename),
        job.file_size / MB,
        job.dry_run,
        job.on_duplicate,
        extra={"job_id": job_id, "size_mb": round(job.file_size / MB, 2)},
    )


def _check_upload_size(uploaded_file: UploadedFile) -> None:
    if uploaded_file.size is not None and uploaded_file.size > settings.IMPORT_MAX_UPLOAD_SIZE:
        raise ServiceError(
            RefusalCode.TOO_LARGE,
            f"The file is {uploaded_file.size / MB:.1f} MB; the limit is {settings.IMPORT_MAX_UPLOAD_SIZE // MB} MB.",
        )


def _store_upload(job: ImportJob, uploaded_file: UploadedFile) -> None:
    _check_upload_size(uploaded_file)
    job.original_filename = (uploaded_file.name or "upload")[:255]
    job.file_size = uploaded_file.size or 0
    stored_file_save(job=job, filename=job.original_filename, content=uploaded_file)


def import_job_create(
    *,
    user: User,
    uploaded_file: UploadedFile,
    on_duplicate: str = DuplicatePolicy.SKIP,
    dry_run: bool = False,
    send_sms: bool = False,
    sheet_name: str = "",
) -> ImportJob:
    """Store the upload and queue its import; the worker validates (dry run) or imports it.

    The file's type and safety are checked here, in milliseconds, so a PNG or a
    decompression bomb is refused while the admin waits instead of failing later
    in the worker; a refused file is never stored. The stored copy is durable
    (users/imports/storage), so whichever worker claims the job can read it.
    """
    _check_policy(on_duplicate)
    import_options_check(user=user, on_duplicate=on_duplicate, send_sms=send_sms)
    import_quota_check(user=user, new_bytes=uploaded_file.size or 0)
    job = ImportJob(
        created_by=user,
        source=ImportSource.FILE,
        on_duplicate=on_duplicate,
        dry_run=dry_run,
        send_sms=send_sms,
        sheet_name=sheet_name or "",
        original_filename=(uploaded_file.name or "upload")[:255],
    )
    _check_upload_size(uploaded_file)
    try:
        # Checked on the request's own copy, before anything is stored: a refused file leaves no trace.
        with uploaded_file_local_path(uploaded_file) as path:
            job.detected_format = detect_format(path).format
    except ImportRefused as refusal:
        logger.warning(
            "%s user id %s name=%r code=%s %s",
            LogTag.EXCEL_UPLOAD_REFUSED,
            user.pk,
            mask_personal_data(job.original_filename),
            refusal.code,
            refusal.message,
        )
        raise
    _store_upload(job, uploaded_file)
    _save_within_quota(job, user=user)
    _log_upload(job, user)
    return job


def _save_within_quota(job: ImportJob, *, user: User) -> None:
    """Save a new job and queue it, if the quotas still allow it once decisions are serialised; else drop its file."""
    try:
        with transaction.atomic():
            _quota_lock()
            import_quota_check(user=user, new_bytes=job.file_size, new_active=int(job.status in ACTIVE_STATUSES))
            job.save()
            if job.status == ImportStatus.QUEUED:
                enqueue_import_job(job_id=job.id)
    except ServiceError:
        stored_file_delete(job)
        raise


def import_job_create_from_payload(
    *,
    user: User,
    customers: list[dict[str, Any]],
    on_duplicate: str = DuplicatePolicy.SKIP,
    send_sms: bool = False,
) -> ImportJob:
    """Queue an import of customers posted as JSON (the frontend's bulk-create-async)."""
    _check_policy(on_duplicate)
    import_options_check(user=user, on_duplicate=on_duplicate, send_sms=send_sms)
    import_quota_check(user=user, new_bytes=0)
    job = ImportJob(
        created_by=user,
        source=ImportSource.PAYLOAD,
        on_duplicate=on_duplicate,
        send_sms=send_sms,
        original_filename="customers.jsonl",
        total_rows=len(customers),
    )
    content = ContentFile(b"", name="customers.jsonl")
    write_payload(customers, content)
    job.file_size = content.size
    content.seek(0)
    stored_file_save(job=job, filename="customers.jsonl", content=content)
    _save_within_quota(job, user=user)
    _log_upload(job, user)
    return job


def _refuse_unless(allowed: bool, message: str) -> None:
    if not allowed:
        raise ServiceError(RefusalCode.PERMISSION_DENIED, message)


def import_job_commit(*, job: ImportJob, user: User) -> ImportJob:
    """Import a validated job's rows for real, without uploading the file again.

    Only the job's owner may, with the options still allowed to them: seeing
    someone's job is not a licence to write customers with their choices.
    """
    _refuse_unless(
        user_may_commit_import(user, job.created_by_id),
        "Only the person who uploaded this import may commit it; you may follow it.",
    )
    import_options_check(user=user, on_duplicate=job.on_duplicate, send_sms=job.send_sms)
    if job_needs_columns(job):
        raise ServiceError(
            RefusalCode.COLUMNS_MISSING,
            "The sheet's missing columns must be chosen, and the file checked with them, before it can be imported.",
        )
    import_quota_check(user=user, new_bytes=0)
    with transaction.atomic():
        _quota_lock()
        import_quota_check(user=user, new_bytes=0)
        claimed = lifecycle.commit(job_id=job.id)
        if claimed:
            # The commit pass records its own outcome for every row; the keys kept for corrections are done with.
            job.row_errors.all().delete()
            row_keys_forget(job_id=job.id)
            enqueue_import_job(job_id=job.id)
    if not claimed:
        job.refresh_from_db()
        raise ServiceError(
            RefusalCode.NOT_VALIDATED,
            f"Only a validated import can be committed; this one is {job.get_status_display().lower()}.",
        )
    logger.info(
        "%s job=%s committed by user id %s", LogTag.EXCEL_UPLOAD_START, job.id, user.pk, extra={"job_id": str(job.id)}
    )
    job.refresh_from_db()
    return job


def import_job_cancel(*, job: ImportJob, user: User) -> ImportJob:
    """Stop an import: at once if it hasn't started, else at its next batch boundary.

    The owner may; so may a superuser, whatever the job: the emergency brake on
    a runaway import (a wrong file, a stolen account) must not wait for its owner.
    """
    _refuse_unless(
        user_may_cancel_import(user, job.created_by_id),
        "Only the person who started this import (or a superuser) may cancel it; you may follow it.",
    )
    if not lifecycle.cancel(job_id=job.id):
        job.refresh_from_db()
        raise ServiceError(
            RefusalCode.ALREADY_FINISHED,
            f"The import has already ended ({job.get_status_display().lower()}).",
        )
    logger.info(
        "%s job=%s cancel requested by user id %s", LogTag.IMPORT_CANCEL, job.id, user.pk, extra={"job_id": str(job.id)}
    )
    job.refresh_from_db()
    return job


@dataclass(frozen=True)
class ImportPreview:
    """What an import of a file would do, checked while the client waits (≤ IMPORT_INLINE_MAX_ROWS rows)."""

    job: ImportJob
    total_rows: int
    candidates: list[Candidate]  # valid, unique in the file, matching no existing customer
    invalid: list[RowProblem]
    in_file_duplicates: list[RowProblem]
    existing: list[ExistingMatch]
    unknown_columns: tuple[str, ...] = ()


def import_preview(
    *, user: User, uploaded_file: UploadedFile, on_duplicate: str = DuplicatePolicy.SKIP
) -> ImportPreview:
    """Validate a file in-process and keep it as a VALIDATED dry-run job that can be committed later."""
    _check_policy(on_duplicate)
    import_options_check(user=user, on_duplicate=on_duplicate, send_sms=False)
    import_quota_check(user=user, new_bytes=uploaded_file.size or 0)
    job = ImportJob(created_by=user, source=ImportSource.FILE, on_duplicate=on_duplicate, dry_run=True)
    _store_upload(job, uploaded_file)
    lease = lifecycle.hold_for_request(job, status=ImportStatus.VALIDATING)
    _save_within_quota(job, user=user)
    _log_upload(job, user)
    candidates: list[Candidate] = []
    invalid: list[RowProblem] = []
    duplicates: list[RowProblem] = []
    existing: list[ExistingMatch] = []

    record_keys = RowKeyRecorder(job_id=job.id)  # so the job's rows can be corrected on the import page

    def collect(chunk: Chunk, matches: dict[int, ExistingMatch]) -> None:
        record_keys(chunk, matches)
        invalid.extend(chunk.invalid)
        duplicates.extend(chunk.duplicates)
        for candidate in chunk.candidates:
            if match := matches.get(candidate.row_number):
                existing.append(match)
            else:
                candidates.append(candidate)

    try:
        with open_job_sheet(job) as sheet:
            validate_sheet(job, sheet, lease=lease, row_limit=settings.IMPORT_INLINE_MAX_ROWS, collect=collect)
            unknown = sheet.header.unknown_columns
    except ImportRefused as refusal:
        lifecycle.fail(lease, code=refusal.code, message=refusal.message)
        logger.warning(
            "%s job=%s code=%s %s",
            LogTag.EXCEL_UPLOAD_REFUSED,
            job.id,
            refusal.code,
            refusal.message,
            extra={"job_id": str(job.id)},
        )
        raise
    job = lifecycle.finish(lease, status=ImportStatus.VALIDATED)
    return ImportPreview(
        job=job,
        total_rows=job.total_rows,
        candidates=candidates,
        invalid=invalid,
        in_file_duplicates=duplicates,
        existing=existing,
        unknown_columns=unknown,
    )


@dataclass(frozen=True)
class CreatedCustomer:
    customer: Customer
    source_row_number: int | None


@dataclass(frozen=True)
class BulkCreateFailure:
    customer_data: dict[str, Any]
    error: str
    source_row_number: int | None


@dataclass(frozen=True)
class BulkCreateResult:
    job: ImportJob
    created: list[CreatedCustomer] = field(default_factory=list)
    failed: list[BulkCreateFailure] = field(default_factory=list)


def customer_bulk_create(
    *, user: User, customers: list[dict[str, Any]], on_duplicate: str = DuplicatePolicy.SKIP
) -> BulkCreateResult:
    """Create customers from a JSON list while the client waits, through the same pipeline as a file.

    No quota: nothing is queued or stored, and the request itself is bounded by
    the per-request customer limit.
    """
    _check_policy(on_duplicate)
    import_options_check(user=user, on_duplicate=on_duplicate, send_sms=False)
    job = ImportJob(
        created_by=user,
        source=ImportSource.PAYLOAD,
        on_duplicate=on_duplicate,
        original_filename="(request body)",
        total_rows=len(customers),
    )
    lease = lifecycle.hold_for_request(job, status=ImportStatus.RUNNING)
    job.save()
    _log_upload(job, user)
    sheet = PayloadSheet(items=customers)
    by_row = {row.number: item for row, item in zip(sheet.data_rows(), customers, strict=True)}
    created: list[CreatedCustomer] = []
    failed: list[BulkCreateFailure] = []

    def collect(chunk: Chunk, result: WriteResult) -> None:
        for customer_id, candidate in result.created:
            customer = customer_from_candidate(candidate, job=job, user=user)
            customer.pk = customer_id
            created.append(CreatedCustomer(customer, candidate.row_number))
        first_problem: dict[int, RowProblem] = {}
        for problem in (*chunk.invalid, *chunk.duplicates, *result.problems):
            first_problem.setdefault(problem.row_number, problem)
        for row_number, problem in sorted(first_problem.items()):
            reason = problem.reason if problem.code != RowErrorCode.ALREADY_EXISTS else f"Skipped: {problem.reason}"
            failed.append(BulkCreateFailure(by_row.get(row_number, {}), reason, row_number))

    write_sheet(job, sheet, lease=lease, user=user, collect=collect)
    job = lifecycle.finish(lease, status=ImportStatus.COMPLETE, total_rows=len(customers))
    return BulkCreateResult(job=job, created=created, failed=failed)
