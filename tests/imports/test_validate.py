"""RowValidator: a sheet row becomes a Candidate, every problem in it, or nothing when it is empty."""

import datetime as dt

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from users.imports.rows import TEMPLATE_COLUMNS, Candidate, Field, HeaderMap, RowProblem, SourceRow
from users.imports.validate import RowValidator
from users.models import Region, RowErrorCode

TEMPLATE_FIELDS = [field_ for field_, _label in TEMPLATE_COLUMNS]
TEMPLATE = HeaderMap(header_row=1, columns={f: i for i, f in enumerate(TEMPLATE_FIELDS)}, labels={})
# A sheet that names its columns its own way, in its own order, with a notes column the pipeline ignores.
OWN_WORDS = HeaderMap(
    header_row=1,
    columns={
        Field.PHONE: 0,
        Field.SHIPPING_MARK: 1,
        Field.FIRST_NAME: 2,
        Field.LAST_NAME: 3,
        Field.EMAIL: 4,
        Field.REGION: 5,
    },
    labels={
        Field.PHONE: "Tel",
        Field.SHIPPING_MARK: "Mark",
        Field.FIRST_NAME: "Given name",
        Field.LAST_NAME: "Surname",
        Field.EMAIL: "E-mail",
        Field.REGION: "Area",
    },
    unknown_columns=("Notes",),
)
FULL_NAME = HeaderMap(
    header_row=1,
    columns={Field.SHIPPING_MARK: 0, Field.FULL_NAME: 1, Field.PHONE: 2},
    labels={Field.SHIPPING_MARK: "Mark", Field.FULL_NAME: "Customer name", Field.PHONE: "Phone"},
)
GOOD = ("pm4  sample", " Ama ", "Mensah", "Ama@Example.COM", "024 123 4567", "ashanti")


def validate(*cells: object, header: HeaderMap = TEMPLATE, number: int = 7) -> Candidate | list[RowProblem] | None:
    return RowValidator(header).validate(SourceRow(number=number, cells=cells))


def problems(*cells: object, header: HeaderMap = TEMPLATE) -> list[RowProblem]:
    outcome = validate(*cells, header=header)
    assert isinstance(outcome, list), f"expected problems, got {outcome!r}"
    return outcome


def only_problem(*cells: object, header: HeaderMap = TEMPLATE) -> RowProblem:
    found = problems(*cells, header=header)
    assert len(found) == 1, found
    return found[0]


def with_cell(position: int, value: object) -> tuple[object, ...]:
    cells = list(GOOD)
    cells[position] = value
    return tuple(cells)


# ---------------------------------------------------------------- good rows


def test_a_good_row_becomes_a_candidate_in_normal_form() -> None:
    assert validate(*GOOD) == Candidate(
        row_number=7,
        shipping_mark="PM4 SAMPLE",
        first_name="Ama",
        last_name="Mensah",
        email="Ama@example.com",
        phone="+233241234567",
        region=Region.ASHANTI.value,
        raw={
            "Shipping Mark": "pm4 sample",
            "First Name": "Ama",
            "Last Name": "Mensah",
            "Email": "Ama@Example.COM",
            "Phone Number": "024 123 4567",
            "Region": "ashanti",
        },
    )


def test_raw_shows_a_numeric_phone_without_excels_point_zero() -> None:
    candidate = validate(*with_cell(4, 241234567.0))
    assert isinstance(candidate, Candidate)
    assert (candidate.phone, candidate.raw["Phone Number"]) == ("+233241234567", "241234567")


def test_raw_is_laid_out_as_the_template_whatever_the_sheets_order() -> None:
    candidate = validate("0241234567", "PM4", "Ama", "Mensah", "", "Volta", "a note", header=OWN_WORDS)
    assert isinstance(candidate, Candidate)
    assert list(candidate.raw) == [label for _field, label in TEMPLATE_COLUMNS]
    assert candidate.raw["Phone Number"] == "0241234567"


def test_a_sheet_without_region_or_email_columns_defaults_them() -> None:
    header = HeaderMap(
        header_row=None,
        columns={Field.SHIPPING_MARK: 0, Field.FIRST_NAME: 1, Field.LAST_NAME: 2, Field.PHONE: 3},
        labels={},
    )
    candidate = validate("PM4", "Ama", "Mensah", "0241234567", header=header)
    assert isinstance(candidate, Candidate)
    assert (candidate.email, candidate.region) == ("", Region.GREATER_ACCRA.value)


def test_a_short_row_reads_its_missing_cells_as_blank() -> None:
    candidate = validate("PM4", "Ama", "Mensah", "", "0241234567")
    assert isinstance(candidate, Candidate) and candidate.region == Region.GREATER_ACCRA.value


@override_settings(IMPORT_DEFAULT_PHONE_REGION="NG")
def test_national_numbers_are_read_in_the_configured_default_region() -> None:
    candidate = validate(*with_cell(4, "0803 123 4567"))
    assert isinstance(candidate, Candidate) and candidate.phone == "+2348031234567"


def test_an_explicit_default_region_wins_over_the_setting() -> None:
    validator = RowValidator(TEMPLATE, default_phone_region="NG")
    outcome = validator.validate(SourceRow(number=2, cells=with_cell(4, "0803 123 4567")))
    assert isinstance(outcome, Candidate) and outcome.phone == "+2348031234567"


# ---------------------------------------------------------------- empty rows


@pytest.mark.parametrize(
    "cells",
    [
        (),
        (None, None, None, None, None, None),
        ("", " ", "\u00a0", "\u200b", "\ufeff\t", "\n"),
        ("", "", ""),
    ],
    ids=["no cells", "None", "invisible whitespace", "short"],
)
def test_an_empty_row_is_skipped(cells: tuple[object, ...]) -> None:
    assert validate(*cells) is None


def test_a_row_with_only_an_unmapped_column_filled_is_empty() -> None:
    assert validate("", "", "", "", "", "", "a note in column G", header=OWN_WORDS) is None


def test_a_row_with_only_a_region_is_not_empty() -> None:
    assert isinstance(validate("", "", "", "", "", "Volta"), list)


# ---------------------------------------------------------------- every code the validator gives


@pytest.mark.parametrize(
    ("position", "value", "code", "reason"),
    [
        (0, "", RowErrorCode.MARK_MISSING, "The shipping mark is empty."),
        (
            0,
            "PM4@ACCRA",
            RowErrorCode.MARK_INVALID,
            "The shipping mark may contain only letters A–Z, digits, spaces, '-' and '_'; it has '@'.",
        ),
        (1, "", RowErrorCode.NAME_MISSING, "The first name is empty."),
        (2, "\u00a0", RowErrorCode.NAME_MISSING, "The last name is empty."),
        (
            1,
            "A" * 51,
            RowErrorCode.NAME_TOO_LONG,
            "The first name is 51 characters long; at most 50 are allowed.",
        ),
        (3, "ama@", RowErrorCode.EMAIL_INVALID, "'ama@' is not a valid email address."),
        (4, None, RowErrorCode.PHONE_MISSING, "The phone number is empty."),
        (
            4,
            "12345",
            RowErrorCode.PHONE_INVALID,
            "'12345' is not a valid phone number. Write a Ghana number like 023 123 4567, "
            "or a number from another country starting with + and its country code.",
        ),
        (
            5,
            "Accra Central",
            RowErrorCode.REGION_UNKNOWN,
            "'Accra Central' is not one of Ghana's 16 regions (for example 'Greater Accra' or 'Ashanti').",
        ),
    ],
    ids=lambda value: value if isinstance(value, RowErrorCode) else None,
)
def test_each_bad_cell_gets_its_code_and_a_sentence(
    position: int, value: object, code: RowErrorCode, reason: str
) -> None:
    problem = only_problem(*with_cell(position, value))
    assert (problem.code, problem.reason) == (code, reason)


def test_a_problem_names_the_sheets_own_column_header_and_the_cell() -> None:
    problem = only_problem("12345", "PM4", "Ama", "Mensah", "", "", header=OWN_WORDS)
    assert (problem.row_number, problem.column, problem.value) == (7, "Tel", "12345")


def test_a_problem_carries_the_row_in_the_template_layout() -> None:
    problem = only_problem(*with_cell(4, 12345))
    assert problem.raw == {
        "Shipping Mark": "pm4 sample",
        "First Name": "Ama",
        "Last Name": "Mensah",
        "Email": "Ama@Example.COM",
        "Phone Number": "12345",
        "Region": "ashanti",
    }


def test_every_bad_cell_of_a_row_is_reported_in_column_order() -> None:
    found = problems("P", "", "Mensah", "not-an-email", "12", "Atlantis")
    assert [(p.column, p.code) for p in found] == [
        ("Shipping Mark", RowErrorCode.MARK_INVALID),
        ("First Name", RowErrorCode.NAME_MISSING),
        ("Email", RowErrorCode.EMAIL_INVALID),
        ("Phone Number", RowErrorCode.PHONE_INVALID),
        ("Region", RowErrorCode.REGION_UNKNOWN),
    ]


# ---------------------------------------------------------------- cells Excel changed


def test_a_date_in_a_name_column_is_a_clear_error() -> None:
    problem = only_problem(*with_cell(2, dt.datetime(2024, 3, 12)))
    assert (problem.code, problem.value) == (RowErrorCode.NAME_MISSING, "2024-03-12")
    assert problem.reason == (
        "The last name cell holds a date or time (2024-03-12), not a last name. "
        "Excel changed what was typed; format the column as Text and type the value again."
    )


def test_true_in_the_phone_column_is_a_clear_error() -> None:
    problem = only_problem(*with_cell(4, True))
    assert (problem.code, problem.value) == (RowErrorCode.PHONE_INVALID, "TRUE")


def test_a_formula_error_value_is_a_clear_error() -> None:
    problem = only_problem(*with_cell(3, "#REF!"))
    assert problem.code == RowErrorCode.EMAIL_INVALID
    assert problem.reason.startswith("The email cell holds the formula error #REF!")


def test_a_time_in_the_region_column_is_a_clear_error() -> None:
    problem = only_problem(*with_cell(5, dt.time(10, 30)))
    assert (problem.code, problem.value) == (RowErrorCode.REGION_UNKNOWN, "10:30")


def test_a_32767_character_cell_is_refused_and_shown_short() -> None:
    problem = only_problem(*with_cell(1, "A" * 32_767))
    assert problem.code == RowErrorCode.NAME_TOO_LONG
    assert len(problem.value) < 600, "the problem repeats the cell in a bounded size"
    assert problem.raw["First Name"] == "A" * 32_767, "the raw row keeps the cell whole, to fix and re-upload"


# ---------------------------------------------------------------- one name column


def test_a_full_name_column_is_split_into_first_and_last_name() -> None:
    candidate = validate("PM4", "Ama Serwaa Mensah", "0241234567", header=FULL_NAME)
    assert isinstance(candidate, Candidate)
    assert (candidate.first_name, candidate.last_name) == ("Ama", "Serwaa Mensah")
    assert (candidate.raw["First Name"], candidate.raw["Last Name"]) == ("Ama", "Serwaa Mensah")


def test_a_one_word_full_name_is_refused_under_the_sheets_header() -> None:
    problem = only_problem("PM4", "Ama", "0241234567", header=FULL_NAME)
    assert (problem.column, problem.code) == ("Customer name", RowErrorCode.NAME_MISSING)
    assert problem.reason == "The name 'Ama' is one word; a first and a last name are needed, like 'Ama Mensah'."


def test_an_unsplit_full_name_goes_whole_into_the_raw_first_name() -> None:
    problem = only_problem("PM4", "Ama", "0241234567", header=FULL_NAME)
    assert (problem.raw["First Name"], problem.raw["Last Name"]) == ("Ama", "")


def test_a_split_name_part_longer_than_50_characters_is_too_long() -> None:
    problem = only_problem("PM4", "Ama " + "M" * 60, "0241234567", header=FULL_NAME)
    assert (problem.code, problem.reason) == (
        RowErrorCode.NAME_TOO_LONG,
        "The last name is 60 characters long; at most 50 are allowed.",
    )


# ---------------------------------------------------------------- anything a reader can produce

CELLS = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["PM4", "Ama", "0241234567", "ama@example.com", "Volta", "#N/A", "=A1", "\u00a0"]),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
)


@settings(max_examples=300)
@given(st.lists(CELLS, max_size=8))
def test_any_row_a_reader_can_produce_validates_without_crashing(cells: list[object]) -> None:
    outcome = validate(*cells)
    if isinstance(outcome, Candidate):
        assert outcome.shipping_mark == outcome.shipping_mark.upper() and outcome.phone.startswith("+")
        assert outcome.first_name and outcome.last_name
    elif outcome is not None:
        assert outcome and all(isinstance(p, RowProblem) and p.reason for p in outcome)
