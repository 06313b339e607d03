"""Undoing an import: delete the customers it created, give the ones it updated back their previous values.

An admin who imported the wrong file (or the right one with the wrong
duplicate policy) takes it back in one click. What the import did is known
exactly: each customer it created carries `import_job` and
`import_row_number`, and each customer it updated left an `ImportedUpdate`
with its previous values, written in the transaction of the update.

The undo is a job of its own (source UNDO, `undoes` the import), run by the
worker like an import and through the same lifecycle: claimed, heartbeating,
resumed by the sweep after a crash, cancellable. It walks the import's source
rows from the last one down, `IMPORT_TRANSACTION_ROWS` row numbers per chunk,
newest first like a stack, so an import that updated a customer twice, or one
undone after a later import touched the same customer, is taken back in the
order it was made. Each chunk commits its deletes, its restores, the customers
it kept and the undo's counts and checkpoint in one transaction: after a kill
it resumes exactly after (below) the last committed chunk.

A customer is left alone, and reported on the undo's row errors, when:

- it changed since the import: an updated customer whose `updated_at` is not
  the one the import left (someone saved it since, or it is gone); a created
  customer saved after the import ended, or more than a second after the row
  wrote it. An undo restores `updated_at` too, so once a later import is
  undone, an earlier one finds its customers as it left them;
- other data refers to it (a created customer): any relation to Customer,
  found generically through `Customer._meta.related_objects`, except rows the
  import itself made (they carry `import_job`: its welcome texts), which go
  with it. Texts already sent can't be unsent; the confirmation says how many.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, models, reset_queries, router, transaction
from django.utils import timezone

from users.accounts.permissions import user_can_undo_imports
from users.imports import lifecycle
from users.imports.errors import RefusalCode, ServiceError
from users.imports.lifecycle import Lease, LostOwnership, UndoChunkOutcome
from users.imports.tasks import enqueue_import_job
from users.imports.write import UPDATABLE_FIELDS
from users.logtags import LogTag
from users.models import (
    Customer,
    FileErrorCode,
    ImportedUpdate,
    ImportJob,
    ImportRowError,
    ImportSource,
    ImportStatus,
    RowErrorCode,
    RowOutcome,
    SmsStatus,
    User,
)
from users.models.imports import ACTIVE_STATUSES

logger = logging.getLogger(__name__)

# `created_at` and `updated_at` come from the same insert: equal through PostgreSQL's COPY, microseconds apart
# through bulk_create. A later save stamps a later `updated_at`; a second is far more than the insert's own gap
# and far less than a person needs to find and edit a customer that was just created.
CREATED_UNCHANGED_WITHIN = timedelta(seconds=1)
# Restored customers per UPDATE on SQLite (bulk_update splits further by its parameter limit).
RESTORE_BATCH_SIZE = 500
PROGRESS_LOG_SECONDS = 2.0


# --- who may undo what -----------------------------------------------------------------------------------------


def job_undo(job: ImportJob) -> ImportJob | None:
    """The job's undo, if one was ever requested (read through `select_related("undo")`, no query then)."""
    try:
        return job.undo
    except ImportJob.undo.RelatedObjectDoesNotExist:
        return None


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M") if moment else "—"


def import_undo_check(*, job: ImportJob, user: User) -> None:
    """Refuse an undo that the rules forbid, from the job's own row (no query beyond its `undo`).

    Allowed: an import that ended (complete, cancelled or failed: whatever it
    committed is taken back), wrote customers, ended within IMPORT_UNDO_DAYS
    and isn't undone or being undone; by staff who may delete and change
    customers.
    """
    if not user_can_undo_imports(user):
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            "Undoing an import deletes and changes customers: it needs both the permission to delete customers "
            "and the permission to change them (users.delete_customer, users.change_customer).",
        )
    if job.is_undo:
        raise ServiceError(RefusalCode.NOT_UNDOABLE, "This is an undo; an undo can't itself be undone.")
    if job.dry_run:
        raise ServiceError(RefusalCode.NOT_UNDOABLE, "This is a check (dry run): it wrote no customers to undo.")
    if not job.is_finished:
        raise ServiceError(
            RefusalCode.NOT_UNDOABLE,
            f"Only an import that has ended can be undone; this one is {job.get_status_display().lower()}.",
        )
    if not (job.created_count or job.updated_count):
        raise ServiceError(RefusalCode.NOT_UNDOABLE, "This import created and updated no customers: nothing to undo.")
    undo = job_undo(job)
    if undo is not None and undo.status == ImportStatus.COMPLETE:
        raise ServiceError(
            RefusalCode.ALREADY_UNDONE,
            f"This import was undone on {_when(undo.finished_at)}; it can't be undone twice.",
        )
    if undo is not None and undo.status in ACTIVE_STATUSES:
        raise ServiceError(RefusalCode.UNDO_IN_PROGRESS, "This import is being undone; follow it on its page.")
    days = settings.IMPORT_UNDO_DAYS
    if job.finished_at is None or job.finished_at < timezone.now() - timedelta(days=days):
        raise ServiceError(
            RefusalCode.UNDO_EXPIRED,
            f"An import can be undone for {days} days after it ended; this one ended on {_when(job.finished_at)}.",
        )


def import_undo_offered(*, job: ImportJob, user: User) -> bool:
    """Whether to offer "Undo this import" (the rules without a query; the request checks the rest)."""
    try:
        import_undo_check(job=job, user=user)
    except ServiceError:
        return False
    return True


def import_job_touching_same_customers(*, job: ImportJob) -> ImportJob | None:
    """Another import (or undo) on its way that has created or updated any customer this import did; else None.

    A few EXISTS queries per job on its way, usually none: they use the
    customers' `import_job` index and the previous values' `customer_id` index.
    """
    created = Customer.objects.filter(import_job_id=job.id).values("id")
    updated = ImportedUpdate.objects.filter(job_id=job.id).values("customer_id")
    running = (
        ImportJob.objects.filter(status__in=ACTIVE_STATUSES, dry_run=False)
        .exclude(id=job.id)
        .exclude(undoes_id=job.id)
        .only("id", "undoes_id", "status")
    )
    for other in running:
        source_id = other.undoes_id or other.id  # an undo touches what the import it undoes touched
        if (
            Customer.objects.filter(import_job_id=source_id, id__in=updated).exists()
            or ImportedUpdate.objects.filter(job_id=source_id, customer_id__in=created).exists()
            or ImportedUpdate.objects.filter(job_id=source_id, customer_id__in=updated).exists()
        ):
            return other
    return None


@dataclass(frozen=True)
class UndoPreview:
    """What undoing an import would do, for the confirmation: counts as the table stands now."""

    job: ImportJob
    to_delete: int  # created by the import, still there and unchanged
    to_restore: int  # updates the import made
    changed_since: int  # created customers changed after the import: they will be kept
    texts_sent: int  # welcome texts that went out: they can't be unsent
    allowed: bool
    refusal_code: str
    refusal_message: str


def import_undo_preview(*, job: ImportJob, user: User) -> UndoPreview:
    """Counts for the confirmation, and whether this user may undo the job now (and if not, why)."""
    refusal: ServiceError | None = None
    try:
        import_undo_check(job=job, user=user)
        if other := import_job_touching_same_customers(job=job):
            raise _busy(other)
    except ServiceError as error:
        refusal = error
    created = Customer.objects.filter(import_job_id=job.id)
    finished = job.finished_at or timezone.now()
    changed = created.filter(
        models.Q(updated_at__gt=finished) | models.Q(updated_at__gt=models.F("created_at") + CREATED_UNCHANGED_WITHIN)
    ).count()
    texts_sent = job.sms_messages.filter(status=SmsStatus.SENT).count() if job.send_sms else 0
    return UndoPreview(
        job=job,
        to_delete=created.count() - changed,
        to_restore=ImportedUpdate.objects.filter(job_id=job.id).count(),
        changed_since=changed,
        texts_sent=texts_sent,
        allowed=refusal is None,
        refusal_code=str(refusal.code) if refusal else "",
        refusal_message=refusal.message if refusal else "",
    )


def _busy(other: ImportJob) -> ServiceError:
    what = "an undo of another import" if other.undoes_id else "another import"
    return ServiceError(
        RefusalCode.CUSTOMERS_BUSY,
        f"{what.capitalize()} that touched the same customers is {other.get_status_display().lower()} "
        f"(job {other.id}); undo this one once it has ended.",
    )


def import_job_undo(*, job: ImportJob, user: User) -> ImportJob:
    """Queue the undo of an import and return the undo job (QUEUED); a cancelled or failed undo resumes.

    Two requests at once: the database lets one undo job in (`undoes` is
    unique), and the other is refused.
    """
    import_undo_check(job=job, user=user)
    if other := import_job_touching_same_customers(job=job):
        raise _busy(other)
    with transaction.atomic():
        existing = ImportJob.objects.filter(undoes_id=job.id).first()
        if existing is not None:
            if not lifecycle.undo_resume(undo_id=existing.id, user_id=user.pk):
                raise _undo_taken(job)
            undo = existing
        else:
            undo = lifecycle.undo_requested(
                undo=ImportJob(
                    created_by=user,
                    source=ImportSource.UNDO,
                    undoes=job,
                    original_filename=job.original_filename,
                    on_duplicate=job.on_duplicate,
                    # What there is to take back, for progress; the checkpoint counts down from the import's last row.
                    total_rows=job.created_count + job.updated_count,
                    checkpoint=job.checkpoint,
                )
            )
            if undo is None:
                raise _undo_taken(job)
        enqueue_import_job(job_id=undo.id)
    logger.info(
        "%s undo=%s of job=%s requested by user id %s",
        LogTag.IMPORT_UNDO_START,
        undo.id,
        job.id,
        user.pk,
        extra={"job_id": str(undo.id), "undoes": str(job.id), "user_id": user.pk},
    )
    return ImportJob.objects.select_related("created_by").get(id=undo.id)


def _undo_taken(job: ImportJob) -> ServiceError:
    """Someone else's undo of this job got in first: say what it is doing now."""
    undo = ImportJob.objects.filter(undoes_id=job.id).first()
    if undo is not None and undo.status == ImportStatus.COMPLETE:
        return ServiceError(RefusalCode.ALREADY_UNDONE, "This import has been undone already.")
    return ServiceError(RefusalCode.UNDO_IN_PROGRESS, "This import is being undone already; follow it on its page.")


def imported_updates_prune(*, older_than_days: int) -> int:
    """Drop the previous values kept for imports that ended more than `older_than_days` ago; how many rows.

    They are customers' old names, phones and emails, kept only so an import
    can be undone: once it can't be (IMPORT_UNDO_DAYS), they go. An undo still
    on its way keeps its import's. Run hourly by `run_worker` with the other prunes.
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    expired = ImportedUpdate.objects.filter(job__finished_at__lt=cutoff).exclude(
        job__undo__status__in=ACTIVE_STATUSES
    )
    deleted, _by_model = expired.delete()
    return deleted


# --- the undo pass, in the worker -------------------------------------------------------------------------------


class UndoCancelled(Exception):  # noqa: N818 - a state, not an error
    """Someone cancelled the undo; it stops at the chunk it has committed."""


def undo_run_claimed(undo: ImportJob, lease: Lease) -> None:
    """Run a claimed undo to COMPLETE, CANCELLED or FAILED; database outages propagate to the worker's retry."""
    from django.db import InterfaceError, OperationalError

    try:
        lifecycle.begin_pass(lease, status=ImportStatus.RUNNING)
        _undo_pass(undo, lease)
    except UndoCancelled:
        logger.info(
            "%s undo=%s stopped above row %d",
            LogTag.IMPORT_UNDO_CANCEL,
            undo.id,
            ImportJob.objects.only("checkpoint").get(id=undo.id).checkpoint,
            extra={"job_id": str(undo.id)},
        )
        lifecycle.undo_finish(lease, status=ImportStatus.CANCELLED)
    except LostOwnership:
        logger.warning("undo=%s was claimed by another worker; this one stops", undo.id, extra={"job_id": str(undo.id)})
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("%s undo=%s failed unexpectedly", LogTag.IMPORT_UNDO_FAILED, undo.id)
        lifecycle.fail(
            lease,
            code=FileErrorCode.INTERNAL,
            message="The undo stopped because of an error on the server. What it undid so far stays undone; "
            "undo the import again to finish, and tell support if it happens again.",
        )


def undo_gave_up(undo: ImportJob, lease: Lease) -> None:
    """The undo was claimed too many times without finishing: it fails, and may be asked for again."""
    lifecycle.fail(
        lease,
        code=FileErrorCode.INTERNAL,
        message=f"The undo stopped {undo.attempts - 1} times before finishing and was given up. What it undid so "
        "far stays undone; undo the import again to finish.",
    )


def _undo_pass(undo: ImportJob, lease: Lease) -> None:
    target = ImportJob.objects.get(id=undo.undoes_id)
    upper = undo.checkpoint
    processed = undo.processed_rows
    started = time.monotonic()
    done_this_run = 0
    last_log = 0.0
    logger.info(
        "%s undo=%s of job=%s running: %d customers to take back, from row %d down",
        LogTag.IMPORT_UNDO_START,
        undo.id,
        target.id,
        undo.total_rows,
        upper,
        extra={"job_id": str(undo.id), "undoes": str(target.id), "checkpoint": upper},
    )
    from users.monitoring.memory import MemoryMonitor

    memory = MemoryMonitor(job_id=str(undo.id))
    while upper > 0:
        lower = max(0, upper - settings.IMPORT_TRANSACTION_ROWS)
        with transaction.atomic():
            outcome = _undo_chunk(target, undo=undo, lower=lower, upper=upper)
            processed += outcome.processed
            done_this_run += outcome.processed
            elapsed = time.monotonic() - started
            rate = done_this_run / elapsed if elapsed > 0 else 0.0
            eta = max(0.0, (undo.total_rows - processed) / rate) if rate else None
            lifecycle.undo_progress(lease, outcome, rows_per_second=rate, eta_seconds=eta)
        upper = lower
        rss = memory.tick()
        now = time.monotonic()
        if now - last_log >= PROGRESS_LOG_SECONDS or upper == 0:
            last_log = now
            logger.info(
                "%s undo=%s above row %d | Processed %d/%d | %.0f rows/s | RSS %.0f MB",
                LogTag.IMPORT_UNDO_PROGRESS,
                undo.id,
                upper,
                processed,
                undo.total_rows,
                rate,
                rss,
                extra={"job_id": str(undo.id), "rows_processed": processed, "rss_mb": round(rss, 1)},
            )
        reset_queries()  # DEBUG keeps every query; a long undo would hold them all
        if lifecycle.cancel_is_requested(job_id=undo.id):
            raise UndoCancelled
    done = lifecycle.undo_finish(lease, status=ImportStatus.COMPLETE)
    logger.info(
        "%s undo=%s of job=%s deleted=%d restored=%d kept_changed=%d kept_referenced=%d seconds=%.2f",
        LogTag.IMPORT_UNDO_COMPLETE,
        done.id,
        target.id,
        done.deleted_count,
        done.restored_count,
        done.kept_changed_count,
        done.kept_referenced_count,
        time.monotonic() - started,
        extra={
            "job_id": str(done.id),
            "undoes": str(target.id),
            "deleted": done.deleted_count,
            "restored": done.restored_count,
            "kept_changed": done.kept_changed_count,
            "kept_referenced": done.kept_referenced_count,
        },
    )


@dataclass
class _Kept:
    """Customers a chunk leaves alone, by source row: reported on the undo's row errors."""

    rows: list[ImportRowError]

    def add(self, undo: ImportJob, *, row: int, customer_id: int, code: RowErrorCode, reason: str) -> None:
        self.rows.append(
            ImportRowError(
                job=undo,
                row_number=row,
                outcome=RowOutcome.SKIPPED,
                code=code,
                reason=reason,
                existing_customer_id=customer_id,
            )
        )


def _undo_chunk(target: ImportJob, *, undo: ImportJob, lower: int, upper: int) -> UndoChunkOutcome:
    """Undo the import's source rows in (lower, upper]: deletes first, then restores. Call inside a transaction.

    Deletes first: a customer the import created may hold a phone or mark that
    an earlier row's update took away from another customer, which gets it back.
    The customers are locked (PostgreSQL; SQLite's write transaction holds the
    whole database), so nothing changes them between the check and the write.
    """
    kept = _Kept(rows=[])
    created = list(
        Customer.objects.select_for_update()
        .filter(import_job_id=target.id, import_row_number__gt=lower, import_row_number__lte=upper)
        .values_list("id", "import_row_number", "created_at", "updated_at")
    )
    deleted, kept_changed, kept_referenced = _delete_created(target, undo=undo, created=created, kept=kept)
    restored, restore_kept = _restore_updated(target, undo=undo, lower=lower, upper=upper, kept=kept)
    # ignore_conflicts: never trips (the chunk commits once with its checkpoint), but a report row must not fail it.
    ImportRowError.objects.bulk_create(kept.rows, batch_size=500, ignore_conflicts=True)
    return UndoChunkOutcome(
        lower_row=lower,
        processed=len(created) + restored + restore_kept,
        deleted=deleted,
        restored=restored,
        kept_changed=kept_changed + restore_kept,
        kept_referenced=kept_referenced,
    )


def _changed_after_creation(target: ImportJob, created_at: datetime, updated_at: datetime) -> bool:
    finished = target.finished_at or timezone.now()
    return updated_at > finished or updated_at - created_at > CREATED_UNCHANGED_WITHIN


def _delete_created(
    target: ImportJob, *, undo: ImportJob, created: list[tuple[int, int, datetime, datetime]], kept: _Kept
) -> tuple[int, int, int]:
    """Delete the chunk's created customers nobody changed and nothing refers to; (deleted, changed, referenced)."""
    if not created:
        return 0, 0, 0
    ids = [customer_id for customer_id, _row, _c, _u in created]
    # A later import's update stamps a later `updated_at`, and undoing that update puts this one's back: so an
    # import undone after the one that updated its customers finds them unchanged, as it should.
    changed = {cid for cid, _row, c, u in created if _changed_after_creation(target, c, u)}
    unchanged = [cid for cid in ids if cid not in changed]
    referenced = _referenced(target, unchanged)
    deletable = [cid for cid in unchanged if cid not in referenced]
    for customer_id, row, _c, _u in created:
        if customer_id in changed:
            kept.add(
                undo,
                row=row,
                customer_id=customer_id,
                code=RowErrorCode.CHANGED_SINCE,
                reason=f"Customer {customer_id} was changed after the import created it; it was kept.",
            )
        elif customer_id in referenced:
            kept.add(
                undo,
                row=row,
                customer_id=customer_id,
                code=RowErrorCode.REFERENCED,
                reason=f"Other data refers to customer {customer_id}; it was kept.",
            )
    if deletable:
        for relation in _relations_to_customer():
            if _made_by_imports(relation.related_model):
                # The import's own rows about these customers (its welcome texts) go with them.
                relation.related_model._default_manager.filter(
                    **{f"{relation.field.name}__in": deletable}, import_job_id=target.id
                ).delete()
        # Every relation was checked above, so Django's cascade collector (a SELECT of every row first) has
        # nothing to find: one DELETE for the chunk.
        Customer.objects.filter(id__in=deletable)._raw_delete(Customer.objects.db)
    return len(deletable), len(changed), len(referenced)


def _relations_to_customer() -> Iterable[models.ForeignObjectRel]:
    return Customer._meta.related_objects


def _made_by_imports(model: type[models.Model]) -> bool:
    """Rows of this model record which import made them (an `import_job` foreign key), like welcome texts."""
    try:
        field = model._meta.get_field("import_job")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist: no such column, an ordinary answer
        return False
    return bool(field.is_relation and field.related_model is ImportJob)


def _referenced(target: ImportJob, ids: list[int]) -> set[int]:
    """Which of these customers other data refers to: any relation to Customer, except the import's own rows."""
    found: set[int] = set()
    if not ids:
        return found
    for relation in _relations_to_customer():
        related = relation.related_model._default_manager.filter(**{f"{relation.field.name}__in": ids})
        if _made_by_imports(relation.related_model):
            related = related.exclude(import_job_id=target.id)
        found |= set(related.values_list(relation.field.name, flat=True).distinct())
    return found


def _write_restored(customers: list[Customer]) -> None:
    """Write the restored values: one `UPDATE … FROM unnest(…)` for the chunk on PostgreSQL, bulk_update on SQLite.

    bulk_update's `CASE WHEN id = … THEN …` per column makes PostgreSQL compare
    every row with every `WHEN` of its batch; joining the chunk's arrays instead
    is linear (`make bench-undo`, docs/performance.md).
    """
    connection = connections[router.db_for_write(Customer)]
    if connection.vendor != "postgresql":
        Customer.objects.bulk_update(customers, UPDATABLE_FIELDS, batch_size=RESTORE_BATCH_SIZE)
        return
    from psycopg import sql

    text_fields = [name for name in UPDATABLE_FIELDS if name != "updated_at"]
    columns = ["id", *text_fields, "updated_at"]
    statement = sql.SQL(
        "UPDATE {table} AS c SET {assignments} FROM unnest({arrays}) AS v({columns}) WHERE c.id = v.id"
    ).format(
        table=sql.Identifier(Customer._meta.db_table),
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = v.{}").format(sql.Identifier(name), sql.Identifier(name)) for name in columns[1:]
        ),
        arrays=sql.SQL(", ").join(
            [sql.SQL("%s::bigint[]"), *(sql.SQL("%s::text[]") for _ in text_fields), sql.SQL("%s::timestamptz[]")]
        ),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    values = [[customer.pk for customer in customers]]
    values += [[getattr(customer, name) for customer in customers] for name in text_fields]
    values.append([customer.updated_at for customer in customers])
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(statement.as_string(cursor.cursor), values)


def _restore_updated(target: ImportJob, *, undo: ImportJob, lower: int, upper: int, kept: _Kept) -> tuple[int, int]:
    """Give the chunk's updated customers their previous values, newest update first; (restored, kept)."""
    records = list(
        ImportedUpdate.objects.filter(job_id=target.id, row_number__gt=lower, row_number__lte=upper).order_by(
            "-row_number"
        )
    )
    if not records:
        return 0, 0
    current = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(id__in={r.customer_id for r in records})
        .only("id", *UPDATABLE_FIELDS)
    }
    restored: dict[int, Customer] = {}  # customer id → its values to write, in the order first restored
    rows_of: dict[int, list[ImportedUpdate]] = {}
    kept_count = 0
    for record in records:
        customer = current.get(record.customer_id)
        if customer is None or customer.updated_at != record.updated_at_after:
            kept_count += 1
            kept.add(
                undo,
                row=record.row_number,
                customer_id=record.customer_id,
                code=RowErrorCode.CHANGED_SINCE,
                reason=f"Customer {record.customer_id} was "
                + ("deleted" if customer is None else "changed")
                + " after the import updated it; it was kept as it is.",
            )
            continue
        for name in UPDATABLE_FIELDS:
            setattr(customer, name, getattr(record, name))  # updated_at too: a later undo sees what it left
        restored[customer.pk] = customer
        rows_of.setdefault(customer.pk, []).append(record)
    if not restored:
        return 0, kept_count
    try:
        with transaction.atomic():
            _write_restored(list(restored.values()))
    except IntegrityError:
        # Another customer holds an old phone, mark or email now (or two restored ones swap values): one at a
        # time, and a customer whose old values are taken is kept as it is.
        for customer in restored.values():
            try:
                with transaction.atomic():
                    Customer.objects.filter(id=customer.pk).update(
                        **{name: getattr(customer, name) for name in UPDATABLE_FIELDS}
                    )
            except IntegrityError:
                for record in rows_of.pop(customer.pk):
                    kept_count += 1
                    kept.add(
                        undo,
                        row=record.row_number,
                        customer_id=customer.pk,
                        code=RowErrorCode.CHANGED_SINCE,
                        reason=f"Another customer now has customer {customer.pk}'s previous phone, shipping mark or "
                        "email; it was kept as it is.",
                    )
    return sum(len(rows) for rows in rows_of.values()), kept_count
