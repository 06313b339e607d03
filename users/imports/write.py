"""The write stage: match candidates against existing customers, then create or update them.

One chunk of candidates at a time, inside the caller's transaction. On
PostgreSQL the chunk is first offered to the database as it is: one `COPY` of
every candidate, in a savepoint. The unique constraints on phone, mark and
lower-cased email are exactly what the lookup below matches on, so a `COPY`
that succeeds proves no candidate matched anyone: every row would have been
created under any duplicate policy, and the lookup is skipped. A unique
violation rolls the savepoint back and the chunk takes the general path: one
query finds every existing customer that shares a phone, a shipping mark or an
email with the chunk (on PostgreSQL three array parameters, `= ANY(%s)`; on
SQLite `IN` lists), then the creates go out in one `COPY` on PostgreSQL, or in
`bulk_create` batches of BULK_CREATE_BATCH_SIZE on SQLite. The database's
unique constraints have the last word: if a concurrent import wins a race
between our lookup and our insert, the chunk is retried row by row and the
loser is reported as `already_exists` with the winner's id, never a crash.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import timezone

from users.imports.rows import Candidate, Field, RowProblem
from users.models import Customer, DuplicatePolicy, ImportedUpdate, ImportJob, RowErrorCode, RowOutcome, User

logger = logging.getLogger(__name__)

MATCH_FIELDS: tuple[tuple[str, Field, str], ...] = (
    ("phone", Field.PHONE, "phone number"),
    ("shipping_mark", Field.SHIPPING_MARK, "shipping mark"),
    ("email", Field.EMAIL, "email address"),
)
UPDATABLE_FIELDS = ("shipping_mark", "first_name", "last_name", "email", "phone", "region", "updated_at")
# Previous values kept per INSERT: a whole 2,000-row chunk in one on PostgreSQL (5,000 rows of 11 columns stay
# under its 65,535 parameters); SQLite's bulk_create splits further by its own parameter limit.
PREVIOUS_VALUES_BATCH_SIZE = 5000


@dataclass(frozen=True)
class ExistingMatch:
    """A candidate that shares a phone, mark or email with customers already in the database."""

    candidate: Candidate
    customers: list[Customer]
    matched_on: tuple[Field, ...]
    reason: str


@dataclass
class WriteResult:
    created: list[tuple[int, Candidate]] = field(default_factory=list)  # (customer id, the row it came from)
    updated: list[tuple[Customer, Candidate]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # skipped and failed rows

    @property
    def skipped(self) -> int:
        return sum(1 for p in self.problems if p.outcome == RowOutcome.SKIPPED)

    @property
    def existing_matches(self) -> int:
        """Rows that matched a customer already in the database, whatever became of them."""
        matched = {RowErrorCode.ALREADY_EXISTS, RowErrorCode.CONFLICT}
        return len(self.updated) + sum(1 for p in self.problems if p.code in matched)

    @property
    def failed(self) -> int:
        return sum(1 for p in self.problems if p.outcome == RowOutcome.FAILED)


def _matching_condition(phones: list[str], marks: list[str], emails: list[str]) -> Q:
    """Customers sharing any of these values. On PostgreSQL three array parameters (`= ANY(%s)`)
    instead of thousands of `IN` placeholders, which psycopg would otherwise quote one by one."""
    if connections[router.db_for_read(Customer)].vendor == "postgresql":
        return Q(
            RawSQL(
                "phone = ANY(%s) OR shipping_mark = ANY(%s) OR (lower(email) = ANY(%s) AND NOT email = '')",
                [phones, marks, emails],
                output_field=BooleanField(),
            )
        )
    condition = Q(phone__in=phones) | Q(shipping_mark__in=marks)
    if emails:
        condition |= Q(email_lower__in=emails) & ~Q(email="")
    return condition


class _ExistingIndex:
    """Existing customers keyed by each unique value, from one query per chunk."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        phones = sorted({c.phone for c in candidates})
        marks = sorted({c.shipping_mark for c in candidates})
        emails = sorted({c.email.lower() for c in candidates if c.email})
        customers = Customer.objects.annotate(email_lower=Lower("email")).filter(
            _matching_condition(phones, marks, emails)
        )
        self.by_key: dict[tuple[str, str], Customer] = {}
        for customer in customers:
            self.by_key[("phone", customer.phone)] = customer
            self.by_key[("shipping_mark", customer.shipping_mark)] = customer
            if customer.email:
                self.by_key[("email", customer.email.lower())] = customer

    def matches(self, candidate: Candidate) -> tuple[list[Customer], tuple[Field, ...]]:
        found: dict[int, Customer] = {}
        fields: list[Field] = []
        for attribute, field_, _label in MATCH_FIELDS:
            value = getattr(candidate, attribute)
            if not value:
                continue
            key = value.lower() if attribute == "email" else value
            if customer := self.by_key.get((attribute, key)):
                found[customer.pk] = customer
                fields.append(field_)
        return list(found.values()), tuple(fields)


def _describe_match(candidate: Candidate, customers: list[Customer], fields: tuple[Field, ...]) -> str:
    labels = {f: label for _attr, f, label in MATCH_FIELDS}
    if len(customers) == 1:
        customer = customers[0]
        what = _and_list([labels[f] for f in fields])
        return f"A customer with this {what} already exists (id {customer.pk}, mark {customer.shipping_mark})."
    parts = []
    for customer in customers:
        shared = [
            labels[f]
            for attr, f, _label in MATCH_FIELDS
            if f in fields
            and getattr(customer, attr)
            and _same(attr, getattr(customer, attr), getattr(candidate, attr))
        ]
        parts.append(f"{_and_list(shared)} of customer {customer.pk} ({customer.shipping_mark})")
    return "This row matches different existing customers: the " + "; the ".join(parts) + "."


def _and_list(words: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _same(attribute: str, left: str, right: str) -> bool:
    return left.lower() == right.lower() if attribute == "email" else left == right


def find_existing_matches(candidates: Sequence[Candidate]) -> dict[int, ExistingMatch]:
    """Existing customers for each candidate that has any, keyed by row number (read-only)."""
    if not candidates:
        return {}
    index = _ExistingIndex(candidates)
    matches = {}
    for candidate in candidates:
        customers, fields = index.matches(candidate)
        if customers:
            reason = _describe_match(candidate, customers, fields)
            matches[candidate.row_number] = ExistingMatch(candidate, customers, fields, reason)
    return matches


def existing_match_problem(match: ExistingMatch, *, policy: str, header_labels: dict[Field, str]) -> RowProblem | None:
    """The row outcome an existing match leads to: skipped, a conflict, or None when it will update."""
    candidate = match.candidate
    first_field = match.matched_on[0]
    column = header_labels.get(first_field, first_field.value)
    value = getattr(candidate, first_field.value)
    if len(match.customers) > 1:
        return RowProblem(
            row_number=candidate.row_number,
            column=column,
            value=value,
            code=RowErrorCode.CONFLICT,
            reason=match.reason,
            raw=candidate.raw,
            outcome=RowOutcome.FAILED,
        )
    if policy == DuplicatePolicy.UPDATE:
        return None
    return RowProblem(
        row_number=candidate.row_number,
        column=column,
        value=value,
        code=RowErrorCode.ALREADY_EXISTS,
        reason=match.reason,
        raw=candidate.raw,
        outcome=RowOutcome.SKIPPED,
        existing_customer_id=match.customers[0].pk,
    )


def customer_from_candidate(candidate: Candidate, *, job: ImportJob | None, user: User | None) -> Customer:
    """An unsaved Customer holding a candidate's normal-form values."""
    return Customer(
        shipping_mark=candidate.shipping_mark,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        email=candidate.email,
        phone=candidate.phone,
        region=candidate.region,
        created_by=user,
        import_job=job,
        import_row_number=candidate.row_number,
    )


def write_candidates(
    candidates: Sequence[Candidate],
    *,
    job: ImportJob | None,
    user: User | None,
    policy: str,
    header_labels: dict[Field, str],
) -> WriteResult:
    """Create or update customers for a chunk of candidates. Call inside a transaction."""
    result = WriteResult()
    if not candidates:
        return result
    if (ids := _insert_if_all_new(candidates, job=job, user=user)) is not None:
        result.created.extend(zip(ids, candidates, strict=True))
        return result
    matches = find_existing_matches(candidates)
    to_create: list[Candidate] = []
    to_update: list[tuple[Customer, Candidate]] = []
    updated_by_row: dict[int, int] = {}  # customer id → the row that updates it in this chunk
    for candidate in candidates:
        match = matches.get(candidate.row_number)
        if match is None:
            to_create.append(candidate)
            continue
        problem = existing_match_problem(match, policy=policy, header_labels=header_labels)
        if problem is None:
            customer = match.customers[0]
            if earlier_row := updated_by_row.get(customer.pk):
                # Two rows (say one by phone, one by mark) would both rewrite this customer.
                result.problems.append(
                    RowProblem(
                        row_number=candidate.row_number,
                        column="",
                        value="",
                        code=RowErrorCode.CONFLICT,
                        reason=f"Row {earlier_row} already updates customer {customer.pk} ({customer.shipping_mark}).",
                        raw=candidate.raw,
                        duplicate_of_row=earlier_row,
                    )
                )
                continue
            updated_by_row[customer.pk] = candidate.row_number
            to_update.append((customer, candidate))
        else:
            result.problems.append(problem)
    _create(to_create, job=job, user=user, result=result, header_labels=header_labels)
    _update(to_update, job=job, result=result, header_labels=header_labels)
    return result


def _insert_if_all_new(
    candidates: Sequence[Candidate], *, job: ImportJob | None, user: User | None
) -> list[int] | None:
    """The new customers' ids when every candidate could be inserted as it is; None when any matched someone.

    PostgreSQL only. The lookup costs more than the `COPY` itself (one query per
    chunk whose three 2,000-value arrays psycopg quotes in Python, then three
    index probes per row), and in a list of new customers it finds nothing. A
    `COPY` that succeeds is the proof it would have found nothing: the unique
    constraints compare exactly the values the lookup compares. SQLite keeps the
    lookup first: its inserts are row by row anyway, and a failed batch there
    would cost as much as the lookup saves.
    """
    if connections[router.db_for_write(Customer)].vendor != "postgresql":
        return None
    try:
        with transaction.atomic():
            return _insert(list(candidates), job=job, user=user)
    except IntegrityError:
        return None  # someone already holds one of these values: the chunk takes the general path


def _create(
    candidates: list[Candidate],
    *,
    job: ImportJob | None,
    user: User | None,
    result: WriteResult,
    header_labels: dict[Field, str],
) -> None:
    if not candidates:
        return
    try:
        with transaction.atomic():
            ids = _insert(candidates, job=job, user=user)
    except IntegrityError:
        # Someone else created one of these since our lookup: go row by row
        # so only the rows that lost the race are reported.
        _create_one_by_one(candidates, job=job, user=user, result=result, header_labels=header_labels)
        return
    result.created.extend(zip(ids, candidates, strict=True))


COPY_COLUMNS = (
    "id",
    "shipping_mark",
    "first_name",
    "last_name",
    "email",
    "phone",
    "region",
    "created_by_id",
    "import_job_id",
    "import_row_number",
    "created_at",
    "updated_at",
)


def _insert(candidates: list[Candidate], *, job: ImportJob | None, user: User | None) -> list[int]:
    """Insert a chunk's new customers and return their ids, in order.

    PostgreSQL gets one COPY for the chunk's batches: `make bench` measured it
    several times faster than 25-row INSERTs, each of which pays a round trip,
    Django's SQL compilation and a model instance per row (docs/architecture.md).
    A constraint violation aborts a COPY as it does an INSERT, so the caller's
    savepoint and row-by-row fallback behave the same on both engines.
    """
    connection = connections[router.db_for_write(Customer)]
    if connection.vendor != "postgresql":
        customers = [customer_from_candidate(c, job=job, user=user) for c in candidates]
        Customer.objects.bulk_create(customers, batch_size=settings.BULK_CREATE_BATCH_SIZE)
        return [customer.pk for customer in customers]
    from psycopg import sql

    now = timezone.now()
    job_id = job.pk if job else None
    user_id = user.pk if user else None
    table = sql.Identifier(Customer._meta.db_table)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS)))
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # The ids come from the column's own sequence, taken in one query before the COPY, in the order the
        # rows go in: the numbers the column's default would have given them, without reading them back by
        # phone afterwards (2,000 more index probes and an array psycopg quotes in Python, per chunk).
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Customer._meta.db_table, len(candidates)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        # wrap_database_errors: psycopg's UniqueViolation becomes Django's IntegrityError, as with the ORM.
        with cursor.cursor.copy(statement) as copy:
            for customer_id, c in zip(ids, candidates, strict=True):
                copy.write_row(
                    (
                        customer_id,
                        c.shipping_mark,
                        c.first_name,
                        c.last_name,
                        c.email,
                        c.phone,
                        c.region,
                        user_id,
                        job_id,
                        c.row_number,
                        now,
                        now,
                    )
                )
    return ids


def _create_one_by_one(
    candidates: list[Candidate],
    *,
    job: ImportJob | None,
    user: User | None,
    result: WriteResult,
    header_labels: dict[Field, str],
) -> None:
    for candidate in candidates:
        customer = customer_from_candidate(candidate, job=job, user=user)
        try:
            with transaction.atomic():
                customer.save(force_insert=True)
        except IntegrityError:
            match = find_existing_matches([candidate]).get(candidate.row_number)
            result.problems.append(_race_lost(candidate, match, header_labels=header_labels))
        else:
            result.created.append((customer.pk, candidate))


def _race_lost(candidate: Candidate, match: ExistingMatch | None, *, header_labels: dict[Field, str]) -> RowProblem:
    if match is None:
        # The conflicting row vanished again (deleted concurrently): rare enough to report plainly.
        return RowProblem(
            row_number=candidate.row_number,
            column="",
            value="",
            code=RowErrorCode.DATABASE_ERROR,
            reason="The row conflicted with another customer being saved at the same moment; upload it again.",
            raw=candidate.raw,
        )
    problem = existing_match_problem(match, policy=DuplicatePolicy.SKIP, header_labels=header_labels)
    assert problem is not None  # noqa: S101 - SKIP policy always yields a problem
    return problem


def _update(
    pairs: list[tuple[Customer, Candidate]],
    *,
    job: ImportJob | None,
    result: WriteResult,
    header_labels: dict[Field, str],
) -> None:
    if not pairs:
        return
    # What each customer was before this row, for an undo; taken before the instances change.
    before = {customer.pk: _previous_values(customer) for customer, _ in pairs}
    updated_before = len(result.updated)
    now = timezone.now()
    for customer, candidate in pairs:
        customer.shipping_mark = candidate.shipping_mark
        customer.first_name = candidate.first_name
        customer.last_name = candidate.last_name
        customer.email = candidate.email
        customer.phone = candidate.phone
        customer.region = candidate.region
        customer.updated_at = now
    customers = [customer for customer, _ in pairs]
    try:
        with transaction.atomic():
            Customer.objects.bulk_update(customers, UPDATABLE_FIELDS, batch_size=settings.BULK_CREATE_BATCH_SIZE)
    except IntegrityError:
        for customer, candidate in pairs:
            try:
                with transaction.atomic():
                    customer.save(update_fields=UPDATABLE_FIELDS)
            except IntegrityError:
                match = find_existing_matches([candidate]).get(candidate.row_number)
                result.problems.append(_race_lost(candidate, match, header_labels=header_labels))
            else:
                result.updated.append((customer, candidate))
    else:
        result.updated.extend(pairs)
    if job is not None:
        _record_previous_values(job, result.updated[updated_before:], before)


def _previous_values(customer: Customer) -> dict[str, object]:
    return {name: getattr(customer, name) for name in UPDATABLE_FIELDS}


def _record_previous_values(
    job: ImportJob, updated: list[tuple[Customer, Candidate]], before: dict[int, dict[str, object]]
) -> None:
    """Keep each updated customer's previous values with the job, in the chunk's transaction: one bulk insert.

    `updated_at_after` is read from the saved instance: the row-by-row path's
    `save()` stamps its own `updated_at`, which is what the table now holds.
    """
    ImportedUpdate.objects.bulk_create(
        [
            ImportedUpdate(
                job=job,
                row_number=candidate.row_number,
                customer_id=customer.pk,
                updated_at_after=customer.updated_at,
                **before[customer.pk],
            )
            for customer, candidate in updated
        ],
        batch_size=PREVIOUS_VALUES_BATCH_SIZE,
    )
