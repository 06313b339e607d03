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
