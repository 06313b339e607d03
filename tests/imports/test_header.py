"""Finding the header row and mapping its columns."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users.imports.errors import ImportRefused
from users.imports.header import (
    SYNONYMS,
    field_for,
    find_header,
    missing_columns,
    require_columns,
    template_header,
)
from users.imports.rows import Field, HeaderMap, SourceRow
from users.models.choices import FileErrorCode

TEMPLATE = ("Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region")
CUSTOMER = ("PM1 KWAME", "Kwame", "Mensah", "kwame@example.com", "0241234567", "Greater Accra")


def rows(*cells: tuple) -> list[SourceRow]:
    return [SourceRow(number, tuple(row)) for number, row in enumerate(cells, start=1)]


def test_the_template_header_maps_every_field_in_order():
    header = find_header(rows(TEMPLATE, CUSTOMER))

    assert header == HeaderMap(
        header_row=1,
        columns={field_: index for index, field_ in enumerate([
            Field.SHIPPING_MARK, Field.FIRST_NAME, Field.LAST_NAME, Field.EMAIL, Field.PHONE, Field.REGION
        ])},  # fmt: skip
        labels=dict(zip([Field.SHIPPING_MARK, Field.FIRST_NAME, Field.LAST_NAME, Field.EMAIL, Field.PHONE,
                         Field.REGION], TEMPLATE, strict=True)),  # fmt: skip
        unknown_columns=(),
    )


def test_synonyms_in_any_order_and_case_are_recognised():
    header = find_header(rows(("WhatsApp", "SURNAME", "given name", "SHIPPING MARK/CLIENT", "E-mail"), CUSTOMER))

    assert header is not None
    assert header.columns == {
        Field.PHONE: 0,
        Field.LAST_NAME: 1,
        Field.FIRST_NAME: 2,
        Field.SHIPPING_MARK: 3,
        Field.EMAIL: 4,
    }


def test_title_rows_above_the_header_are_skipped():
    header = find_header(rows(("PRIMEPRE LOGISTICS",), ("Customer list, January",), (), TEMPLATE, CUSTOMER))

    assert header is not None and header.header_row == 4


def test_a_header_below_the_first_twenty_rows_is_not_searched_for():
    header = find_header(rows(*[("note",)] * 20, TEMPLATE))

    assert header is None


def test_unknown_columns_are_listed_in_sheet_order():
    header = find_header(rows(("Mark", "Notes", "First Name", "Last Name", "Phone", "Balance (GHS)")))

    assert header is not None and header.unknown_columns == ("Notes", "Balance (GHS)")


def test_a_single_name_column_maps_to_full_name():
    header = find_header(rows(("Client Code", "Customer Name", "Mobile")))

    assert header is not None and header.columns == {Field.SHIPPING_MARK: 0, Field.FULL_NAME: 1, Field.PHONE: 2}


def test_name_beside_surname_is_the_first_name():
    header = find_header(rows(("Mark", "Name", "Surname", "Tel")))

    assert header is not None and header.columns[Field.FIRST_NAME] == 1 and Field.FULL_NAME not in header.columns


def test_a_second_phone_column_is_listed_as_unknown_not_mapped_twice():
    header = find_header(rows(("Mark", "Full Name", "Phone", "WhatsApp")))

    assert header is not None and (header.columns[Field.PHONE], header.unknown_columns) == (2, ("WhatsApp",))


def test_one_matching_word_in_a_title_is_not_a_header():
    assert find_header(rows(("Name",), ("Kwame Mensah",))) is None


def test_merged_two_row_header_is_folded_into_one_map():
    header = find_header(
        rows(
            ("Shipping Mark", "Name", None, "Phone"),
            (None, "First", "Last", None),
            ("PM1", "Ama", "Mensah", "0241234567"),
        )
    )

    assert header is not None
    assert (header.header_row, header.columns) == (
        2,
        {Field.SHIPPING_MARK: 0, Field.FIRST_NAME: 1, Field.LAST_NAME: 2, Field.PHONE: 3},
    )


def test_a_data_row_with_a_name_like_mark_is_not_taken_for_a_sub_header():
    header = find_header(rows(TEMPLATE, ("PM1", "Mark", "Name", "mark@example.com", "0241234567")))

    assert header is not None and header.header_row == 1


def test_a_missing_phone_column_is_named_with_its_synonyms():
    header = find_header(rows(("Shipping Mark", "First Name", "Last Name", "Email")))
    assert header is not None

    with pytest.raises(ImportRefused) as caught:
        require_columns(header)

    assert caught.value.code == FileErrorCode.MISSING_COLUMNS
    assert (
        "The sheet has no Phone column. Expected one of: Phone, Phone Number, Mobile, Tel, Contact, WhatsApp."
        in caught.value.message
    )


def test_missing_name_columns_say_either_first_and_last_or_a_full_name():
    header = find_header(rows(("Shipping Mark", "Email", "Phone")))
    assert header is not None

    problems = missing_columns(header)

    assert len(problems) == 1 and "First Name and Last Name" in problems[0] and "Name" in problems[0], problems


def test_a_last_name_without_a_first_name_asks_for_the_first_name():
    header = find_header(rows(("Mark", "Surname", "Phone")))
    assert header is not None

    assert missing_columns(header) == [
        "The sheet has no First Name column. Expected one of: First Name, Firstname, Given Name."
    ]


def test_headerless_rows_in_template_order_get_the_template_map():
    data = rows(CUSTOMER, ("PM2", "Ama", "Owusu", "", 201234567, "Ashanti"))

    header = template_header(data)

    assert header is not None and header.header_row is None
    assert header.columns == {
        Field.SHIPPING_MARK: 0,
        Field.FIRST_NAME: 1,
        Field.LAST_NAME: 2,
        Field.EMAIL: 3,
        Field.PHONE: 4,
        Field.REGION: 5,
    }


def test_headerless_rows_with_notes_in_column_f_leave_region_out():
    data = rows(("PM1", "Kwame", "Mensah", "", "0241234567", "paid in cash"))

    header = template_header(data)

    assert header is not None and Field.REGION not in header.columns


def test_rows_without_phone_numbers_in_column_e_are_not_taken_for_template_data():
    assert template_header(rows(("a", "b", "c", "d", "e"), ("f", "g", "h", "i", "j"))) is None


@pytest.mark.parametrize(("field_", "synonym"), [(f, s) for f, names in SYNONYMS.items() for s in names])
def test_every_synonym_maps_to_its_field(field_, synonym):
    assert field_for(synonym) == field_


@given(
    synonym=st.sampled_from([(f, s) for f, names in SYNONYMS.items() for s in names]),
    noise=st.lists(st.sampled_from([" ", "_", "-", ".", ":", "/", "  "]), max_size=3),
    upper=st.booleans(),
)
def test_case_spacing_and_punctuation_do_not_change_the_field(synonym, noise, upper):
    field_, text = synonym
    variant = "".join(noise) + (text.upper() if upper else text.lower()) + "".join(noise)

    assert field_for(variant) == field_, variant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Phone No.", Field.PHONE),
        ("Phone (WhatsApp)", Field.PHONE),
        ("Customer Email", Field.EMAIL),
        ("Client Phone Number", Field.PHONE),
        ("Notes", None),
        ("", None),
        (42, None),
    ],
)
def test_common_variants_are_recognised_and_others_are_not(text, expected):
    assert field_for(text) == expected
