"""The write stage against a real database: creates, skips, updates, conflicts and lost races."""

import pytest
from django.db import transaction

from users.imports.rows import TEMPLATE_COLUMNS, Candidate, Field
from users.imports.write import _create, write_candidates
from users.models import Customer, DuplicatePolicy, RowErrorCode, RowOutcome

pytestmark = pytest.mark.django_db

LABELS = dict(TEMPLATE_COLUMNS)


def candidate(row: int, mark: str, phone: str, email: str = "") -> Candidate:
    return Candidate(
        row_number=row, shipping_mark=mark, first_name="Ama", last_name="Mensah", email=email, phone=phone,
        region="GREATER_ACCRA", raw={"Shipping Mark": mark},
    )


def existing(mark: str, phone: str, email: str = "") -> Customer:
    return Customer.objects.create(
        shipping_mark=mark, first_name="Old", last_name="Name", email=email, phone=phone, region="ASHANTI"
    )


def write(candidates: list[Candidate], policy: str = DuplicatePolicy.SKIP):
    with transaction.atomic():
        return write_candidates(candidates, job=None, user=None, policy=policy, header_labels=LABELS)


def test_new_candidates_are_created_in_normal_form() -> None:
    result = write([candidate(2, "PM4 A", "+233241234567", "a@x.com"), candidate(3, "PM4 B", "+233241234568")])
    assert len(result.created) == 2 and not result.problems
    assert set(Customer.objects.values_list("shipping_mark", flat=True)) == {"PM4 A", "PM4 B"}
    assert Customer.objects.get(shipping_mark="PM4 A").import_row_number == 2


def test_a_row_matching_an_existing_customer_is_skipped_with_that_customers_id() -> None:
    old = existing("PM4 A", "+233241234567")
    result = write([candidate(2, "PM4 NEW", "+233241234567")])
    [problem] = result.problems
    assert problem.outcome == RowOutcome.SKIPPED and problem.code == RowErrorCode.ALREADY_EXISTS
    assert problem.existing_customer_id == old.pk
    assert problem.column == "Phone Number"
    assert "phone number already exists" in problem.reason


def test_email_matches_ignore_case() -> None:
    old = existing("PM4 A", "+233241234567", "Ama@X.com")
    result = write([candidate(2, "PM4 B", "+233241234568", "ama@x.com")])
    assert result.problems[0].existing_customer_id == old.pk


def test_update_policy_rewrites_the_existing_customer() -> None:
    old = existing("PM4 A", "+233241234567")
    result = write([candidate(2, "PM4 A", "+233241234567", "new@x.com")], policy=DuplicatePolicy.UPDATE)
    assert len(result.updated) == 1 and not result.problems
    old.refresh_from_db()
    assert (old.first_name, old.email, old.region) == ("Ama", "new@x.com", "GREATER_ACCRA")


def test_a_row_matching_two_different_customers_fails_as_a_conflict() -> None:
    existing("PM4 A", "+233241234567")
    existing("PM4 B", "+233241234568")
    result = write([candidate(2, "PM4 B", "+233241234567")], policy=DuplicatePolicy.UPDATE)
    [problem] = result.problems
    assert problem.code == RowErrorCode.CONFLICT and problem.outcome == RowOutcome.FAILED
    assert "different existing customers" in problem.reason


def test_a_row_that_loses_a_race_is_reported_as_a_duplicate_not_a_crash() -> None:
    # The lookup happened before this customer existed: the unique constraint has the last word.
    existing("PM4 RACE", "+233241234567")
    from users.imports.write import WriteResult

    result = WriteResult()
    with transaction.atomic():
        _create(
            [candidate(2, "PM4 OK", "+233241234569"), candidate(3, "PM4 RACE", "+233241234567")],
            job=None, user=None, result=result, header_labels=LABELS,
        )
    assert [c.shipping_mark for _, c in result.created] == ["PM4 OK"]
    [problem] = result.problems
    assert problem.row_number == 3 and problem.code == RowErrorCode.ALREADY_EXISTS
    assert Customer.objects.filter(shipping_mark="PM4 OK").exists()


def test_two_rows_updating_one_customer_in_a_chunk_conflict() -> None:
    existing("PM4 A", "+233241234567")
    result = write(
        [candidate(2, "PM4 Z", "+233241234567"), candidate(3, "PM4 A", "+233241234599")], policy=DuplicatePolicy.UPDATE
    )
    assert len(result.updated) == 1
    [problem] = result.problems
    assert problem.row_number == 3 and problem.code == RowErrorCode.CONFLICT and problem.duplicate_of_row == 2


def test_labels_follow_the_sheets_own_header_text() -> None:
    existing("PM4 A", "+233241234567")
    labels = {**LABELS, Field.PHONE: "WhatsApp"}
    with transaction.atomic():
        result = write_candidates(
            [candidate(2, "PM4 B", "+233241234567")], job=None, user=None, policy="skip", header_labels=labels
        )
    assert result.problems[0].column == "WhatsApp"


def test_a_chunk_of_new_customers_is_written_without_looking_up_existing_ones() -> None:
    """On PostgreSQL a chunk that inserts cleanly needs no lookup: the unique constraints already proved no match."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("SQLite looks existing customers up first, as it always has")
    with CaptureQueriesContext(connection) as queries:
        result = write([candidate(n, f"PM4 N{n}", f"+2332412345{n:02d}", f"n{n}@x.com") for n in range(2, 40)])
    lookups = [q["sql"] for q in queries.captured_queries if "ANY(" in q["sql"] and "SELECT" in q["sql"]]
    assert not lookups, f"a chunk of new customers still looked existing ones up: {lookups[0][:200]}"
    assert len(result.created) == 38 and not result.problems


def test_created_ids_belong_to_the_rows_that_created_them() -> None:
    result = write([candidate(n, f"PM4 I{n}", f"+2332412346{n:02d}") for n in range(2, 30)])
    stored = dict(Customer.objects.values_list("id", "import_row_number"))
    assert {customer_id: c.row_number for customer_id, c in result.created} == stored


@pytest.mark.parametrize("policy", [DuplicatePolicy.SKIP, DuplicatePolicy.UPDATE])
def test_a_chunk_mixing_new_and_existing_customers_reports_each_existing_one(policy: str) -> None:
    """One existing match among new rows: the optimistic insert fails and the chunk is reported as before."""
    old = existing("PM4 OLD", "+233241234500")
    other = existing("PM4 OTHER", "+233241234501")
    chunk = [
        candidate(2, "PM4 NEW A", "+233241234510"),
        candidate(3, "PM4 OLD", "+233241234511"),  # the old customer's mark
        candidate(4, "PM4 NEW B", "+233241234512"),
        candidate(5, "PM4 OTHER", "+233241234500"),  # old's phone and other's mark: a conflict
    ]
    result = write(chunk, policy=policy)
    assert sorted(c.row_number for _, c in result.created) == [2, 4]
    by_row = {p.row_number: p for p in result.problems}
    assert by_row[5].code == RowErrorCode.CONFLICT
    if policy == DuplicatePolicy.SKIP:
        assert by_row[3].code == RowErrorCode.ALREADY_EXISTS and by_row[3].existing_customer_id == old.pk
        assert Customer.objects.count() == 4
    else:
        assert [customer.pk for customer, _ in result.updated] == [old.pk] and 3 not in by_row
        old.refresh_from_db()
        assert old.phone == "+233241234511"
    other.refresh_from_db()
    assert other.phone == "+233241234501", "a conflicting row must change nobody"
