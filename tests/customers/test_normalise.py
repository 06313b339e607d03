"""The normalisers: what each cell becomes, the sentence when it can't, and the fast paths' equivalence."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from users.customers.normalise import (
    _EMAIL_FAST,
    MARK_MAX_LENGTH,
    InvalidValue,
    _e164_fast,
    _e164_slow,
    clean_text,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_region,
    normalise_shipping_mark,
    split_full_name,
)
from users.models import Customer, Region, RowErrorCode


def refusal(function, *args, **kwargs) -> InvalidValue:
    with pytest.raises(InvalidValue) as caught:
        function(*args, **kwargs)
    return caught.value


def phone(value, region: str = "GH") -> str:
    return normalise_phone(value, default_region=region)


# Whitespace and invisible characters people paste into cells: NBSP, narrow NBSP, ideographic
# space, tab, newline, zero-width space and joiner, left-to-right mark, BOM.
SPACES = st.sampled_from([" ", "  ", "\u00a0", "\u202f", "\u3000", "\t", "\n"])
INVISIBLES = st.sampled_from(["", "\u200b", "\u200d", "\u200e", "\ufeff", "\u202a"])


# ---------------------------------------------------------------- clean_text


def test_clean_text_trims_and_folds_every_kind_of_whitespace() -> None:
    assert clean_text("\u00a0 Ama\u200b \t\u202f Serwaa\n\ufeff") == "Ama Serwaa"


def test_clean_text_deletes_control_characters_postgresql_refuses() -> None:
    assert clean_text("Ko\x00fi\x07") == "Kofi", "NUL can't be stored in PostgreSQL text"


def test_clean_text_deletes_unpaired_surrogates() -> None:
    assert clean_text("Ama\ud800") == "Ama"


def test_clean_text_shows_cells_as_excel_does() -> None:
    shown = [clean_text(v) for v in (None, 241234567.0, 2.5, 42, True, False, dt.date(2024, 3, 12))]
    assert shown == ["", "241234567", "2.5", "42", "TRUE", "FALSE", "2024-03-12"]


def test_clean_text_shows_datetimes_without_a_midnight_time() -> None:
    assert clean_text(dt.datetime(2024, 3, 12)) == "2024-03-12"
    assert clean_text(dt.datetime(2024, 3, 12, 9, 5)) == "2024-03-12 09:05"
    assert clean_text(dt.time(9, 5, 30)) == "09:05:30"


@given(st.text())
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


# ---------------------------------------------------------------- shipping mark

MARK_WORDS = st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), min_size=1, max_size=5)


def marks_satisfying_the_database(mark: str) -> bool:
    """Python's reading of customer_shipping_mark_normalised, plus the spec's length and alphabet."""
    return (
        mark == mark.upper()
        and "  " not in mark
        and mark == mark.strip()
        and 2 <= len(mark) <= MARK_MAX_LENGTH
        and re.fullmatch(r"[A-Z0-9 _-]+", mark) is not None
    )


@given(MARK_WORDS, SPACES, INVISIBLES)
def test_a_normalised_mark_satisfies_the_database_constraint(words: list[str], space: str, invisible: str) -> None:
    text = invisible + space.join(words) + space
    assume(len(clean_text(text)) >= 2)
    assert marks_satisfying_the_database(normalise_shipping_mark(text))


@given(MARK_WORDS, SPACES)
def test_mark_normalisation_is_idempotent(words: list[str], space: str) -> None:
    assume(len("".join(words)) >= 2)
    mark = normalise_shipping_mark(space.join(words))
    assert normalise_shipping_mark(mark) == mark


@given(MARK_WORDS, SPACES, SPACES)
def test_case_and_spacing_variants_of_a_mark_are_one_mark(words: list[str], space: str, other_space: str) -> None:
    assume(len("".join(words)) >= 2)
    assert normalise_shipping_mark(space.join(w.lower() for w in words)) == normalise_shipping_mark(
        f" {other_space.join(w.upper() for w in words)}\u00a0"
    )


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MARK_WORDS, SPACES)
def test_the_database_accepts_every_normalised_mark(words: list[str], space: str) -> None:
    assume(len("".join(words)) >= 2)
    mark = normalise_shipping_mark(space.join(words))
    with transaction.atomic():
        Customer.objects.create(shipping_mark=mark, first_name="Ama", last_name="Mensah", phone="+233241234567")
        transaction.set_rollback(True)


def test_an_empty_mark_is_missing() -> None:
    invalid = refusal(normalise_shipping_mark, " \u00a0\u200b")
    assert (invalid.code, invalid.reason) == (RowErrorCode.MARK_MISSING, "The shipping mark is empty.")


def test_a_one_character_mark_is_too_short() -> None:
    invalid = refusal(normalise_shipping_mark, "P")
    assert invalid.code == RowErrorCode.MARK_INVALID
    assert invalid.reason == "The shipping mark must be 2–100 characters long; this one has 1."


def test_a_32767_character_mark_is_refused_with_its_length() -> None:
    invalid = refusal(normalise_shipping_mark, "A" * 32_767)
    assert invalid.reason == "The shipping mark must be 2–100 characters long; this one has 32,767."


def test_a_mark_with_punctuation_names_the_characters_it_may_not_have() -> None:
    invalid = refusal(normalise_shipping_mark, "PM4/ACCRA.1")
    assert invalid.code == RowErrorCode.MARK_INVALID
    assert invalid.reason == (
        "The shipping mark may contain only letters A–Z, digits, spaces, '-' and '_'; it has '/' '.'."
    )


def test_a_non_ascii_letter_is_not_turned_into_another_marks_letter() -> None:
    # 'ı'.upper() is 'I': accepting it would make "pıx" collide with "PIX".
    assert refusal(normalise_shipping_mark, "pıx").code == RowErrorCode.MARK_INVALID


def test_a_numeric_mark_cell_reads_as_its_digits() -> None:
    assert normalise_shipping_mark(1234.0) == "1234"


def test_a_date_in_the_mark_column_is_refused_with_a_hint() -> None:
    invalid = refusal(normalise_shipping_mark, dt.datetime(2024, 3, 12))
    assert invalid.code == RowErrorCode.MARK_INVALID
    assert invalid.reason == (
        "The shipping mark cell holds a date or time (2024-03-12), not a shipping mark. "
        "Excel changed what was typed; format the column as Text and type the value again."
    )


def test_a_formula_error_in_a_cell_is_named() -> None:
    invalid = refusal(normalise_shipping_mark, "#N/A")
    assert invalid.reason == (
        "The shipping mark cell holds the formula error #N/A, not a value. "
        "Fix the formula in Excel, or type the value in."
    )


def test_a_formula_without_a_saved_result_is_refused() -> None:
    invalid = refusal(normalise_name, '=CONCAT(A2," ",B2)', field_label="first name")
    assert invalid.code == RowErrorCode.NAME_MISSING
    assert "holds a formula ('=CONCAT(A2,\" \",B2)') whose result was not saved" in invalid.reason


# ---------------------------------------------------------------- names


def test_a_name_is_trimmed_and_keeps_its_case() -> None:
    assert normalise_name("  de\u00a0Graft ", field_label="last name") == "de Graft"


def test_an_empty_name_is_missing() -> None:
    invalid = refusal(normalise_name, "", field_label="first name")
    assert (invalid.code, invalid.reason) == (RowErrorCode.NAME_MISSING, "The first name is empty.")


def test_a_name_longer_than_50_characters_is_too_long() -> None:
    invalid = refusal(normalise_name, "A" * 32_767, field_label="last name")
    assert invalid.code == RowErrorCode.NAME_TOO_LONG
    assert invalid.reason == "The last name is 32,767 characters long; at most 50 are allowed."


def test_true_in_a_name_column_is_refused() -> None:
    invalid = refusal(normalise_name, True, field_label="first name")
    assert invalid.reason.startswith("The first name cell holds the yes/no value TRUE, not a first name.")


def test_a_full_name_splits_into_the_first_word_and_the_rest() -> None:
    assert split_full_name(" Ama  Serwaa Mensah ") == ("Ama", "Serwaa Mensah")


def test_a_full_name_with_a_comma_has_the_surname_first() -> None:
    assert split_full_name("Mensah, Ama Serwaa") == ("Ama Serwaa", "Mensah")


def test_a_one_word_full_name_is_refused_because_both_parts_are_needed() -> None:
    invalid = refusal(split_full_name, "Ama")
    assert invalid.code == RowErrorCode.NAME_MISSING
    assert invalid.reason == "The name 'Ama' is one word; a first and a last name are needed, like 'Ama Mensah'."


# ---------------------------------------------------------------- email


def test_an_email_keeps_its_local_part_and_lower_cases_its_domain() -> None:
    assert normalise_email(" Ama.Mensah@Example.COM\u00a0") == "Ama.Mensah@example.com"


def test_an_empty_email_is_allowed() -> None:
    assert normalise_email(None) == ""


def test_spaces_around_the_at_sign_and_a_mailto_prefix_are_dropped() -> None:
    assert normalise_email("mailto:ama @ example.com") == "ama@example.com"


def test_an_email_without_an_at_sign_is_refused() -> None:
    invalid = refusal(normalise_email, "ama.example.com")
    assert (invalid.code, invalid.reason) == (
        RowErrorCode.EMAIL_INVALID,
        "'ama.example.com' is not an email address (it has no '@').",
    )


def test_an_invalid_email_is_refused_with_a_sentence() -> None:
    invalid = refusal(normalise_email, "ama@example")
    assert invalid.reason == "'ama@example' is not a valid email address."


def test_a_space_inside_an_email_is_not_silently_removed() -> None:
    assert refusal(normalise_email, "ama mensah@example.com").code == RowErrorCode.EMAIL_INVALID


def test_two_addresses_in_one_cell_are_refused() -> None:
    invalid = refusal(normalise_email, "ama@example.com; kofi@example.com")
    assert invalid.reason == "'ama@example.com; kofi@example.com' holds more than one email address; keep one per row."


def test_an_email_longer_than_254_characters_is_refused() -> None:
    invalid = refusal(normalise_email, "a" * 250 + "@example.com")
    assert invalid.reason == "The email address is 262 characters long; at most 254 are allowed."


def test_an_unusual_but_valid_address_is_accepted_by_djangos_validator() -> None:
    assert normalise_email('"ama!mensah"@[127.0.0.1]') == '"ama!mensah"@[127.0.0.1]'


# A cell starting with '=' is a formula, whatever follows (test_a_formula_without_a_saved_result_is_refused).
EMAILS = st.emails().filter(lambda email: not email.startswith("="))
EMAIL_ALPHABET = st.sampled_from(list("abcXYZ019.-_+@!#'`{}|~\"[]() \u00e9\u0131\u017f"))


@given(st.one_of(st.emails(), st.text(EMAIL_ALPHABET, max_size=40)))
@example("ama@xn--80ak6aa92e.com")
@example("ama@example.c0m")
@example("a.@example.com")
@example("ama@-example.com")
def test_every_address_the_fast_check_accepts_django_accepts(email: str) -> None:
    if _EMAIL_FAST.fullmatch(email):
        validate_email(email)  # raises if the fast path let through what Django refuses


@given(EMAILS)
def test_email_normalisation_is_idempotent_and_agrees_with_django(email: str) -> None:
    assume(len(email) <= 254)
    normal = normalise_email(email)
    assert normalise_email(normal) == normal
    try:
        validate_email(normal)
    except ValidationError:
        pytest.fail(f"{normal!r} was accepted but Django refuses it")


@given(EMAILS)
def test_domain_case_variants_of_an_email_are_one_address(email: str) -> None:
    local, _, domain = email.rpartition("@")
    assert normalise_email(f"{local}@{domain.upper()}") == normalise_email(f"{local}@{domain.lower()}")


# ---------------------------------------------------------------- phone

GHANA_PREFIXES = ["20", "23", "24", "25", "26", "27", "28", "29", "50", "53", "54", "55", "56", "57", "59"]
FIXED_AND_ODD_PREFIXES = ["30", "31", "32", "33", "37", "38", "39", "80", "21", "22", "40", "60", "90", "10"]
NATIONAL = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(GHANA_PREFIXES + FIXED_AND_ODD_PREFIXES),
    st.from_regex(r"[0-9]{7}", fullmatch=True),
)
FORMS = st.sampled_from(["", "0", "233", "+233", "00233", "+2330", "2330", "+", "00", "1", "44"])


def test_every_way_people_write_a_ghana_number_is_one_number() -> None:
    forms = [
        "024 123 4567",
        "024-123-4567",
        "(024) 1234567",
        "+233 24 123 4567",
        "+233 (0) 24 123 4567",
        "00233 24 123 4567",
        "233241234567",
        241234567,
        241234567.0,
        "241234567.0",
        "2.41234567E+8",
        "\u202a+233 24 123 4567\u202c",
        "٠٢٤١٢٣٤٥٦٧",  # Arabic-Indic digits
    ]
    assert {phone(form) for form in forms} == {"+233241234567"}


def test_a_phone_with_a_dropped_leading_zero_is_restored() -> None:
    assert phone(241234567) == "+233241234567"


def test_an_international_number_written_without_plus_is_read_as_international() -> None:
    assert phone("4915123456789") == "+4915123456789"


def test_a_local_number_with_one_digit_too_many_is_not_read_as_a_foreign_number() -> None:
    # "+2412345678" would be a valid number in Gabon; a Ghana sheet means a typo.
    assert refusal(phone, "2412345678").code == RowErrorCode.PHONE_INVALID


def test_the_default_region_reads_national_numbers() -> None:
    assert phone("0803 123 4567", "NG") == "+2348031234567"


def test_an_empty_phone_is_missing() -> None:
    invalid = refusal(phone, "\u00a0")
    assert (invalid.code, invalid.reason) == (RowErrorCode.PHONE_MISSING, "The phone number is empty.")


def test_an_invalid_phone_is_explained_with_an_example() -> None:
    invalid = refusal(phone, "024 123 45")
    assert invalid.code == RowErrorCode.PHONE_INVALID
    assert invalid.reason == (
        "'024 123 45' is not a valid phone number. Write a Ghana number like 023 123 4567, "
        "or a number from another country starting with + and its country code."
    )


def test_two_phone_numbers_in_one_cell_are_refused() -> None:
    invalid = refusal(phone, "024 123 4567 / 020 765 4321")
    assert invalid.reason == "'024 123 4567 / 020 765 4321' holds more than one phone number; keep one per row."


def test_scientific_notation_that_lost_digits_is_refused() -> None:
    invalid = refusal(phone, "2.41235E+08")
    assert invalid.code == RowErrorCode.PHONE_INVALID
    assert invalid.reason == (
        "The phone number was saved in scientific notation (2.41235E+08), which lost its last digits. "
        "Format the column as Text and type the numbers again."
    )


def test_a_fractional_number_is_an_invalid_phone_not_a_missing_one() -> None:
    assert refusal(phone, 2.5).code == RowErrorCode.PHONE_INVALID


def test_a_boolean_phone_cell_is_refused() -> None:
    invalid = refusal(phone, False)
    assert invalid.code == RowErrorCode.PHONE_INVALID
    assert invalid.reason.startswith("The phone number cell holds the yes/no value FALSE, not a phone number.")


@settings(max_examples=1000)
@given(FORMS, NATIONAL, st.sampled_from(["", " ", "-"]))
@example("0", "241234567", "")
@example("233", "233456789", "")
@example("", "233456789", "")
@example("+233", "800123456", "")
def test_the_fast_path_gives_what_phonenumbers_gives(form: str, national: str, separator: str) -> None:
    text = form + separator.join([national[:2], national[2:5], national[5:]])
    text = text.replace(" ", "").replace("-", "")  # as normalise_phone hands it on
    fast = _e164_fast(text, "GH")
    assert fast is None or fast == _e164_slow(text, "GH"), f"{text!r}: the fast path said {fast}"


def test_the_fast_path_agrees_with_phonenumbers_for_every_three_digit_prefix() -> None:
    """Every national number range, in every everyday form, against the general path."""
    disagreements = [
        text
        for prefix in range(100, 1000)
        for tail in ("000000", "123456", "987654", "555555")
        for form in ("", "0", "233", "+233")
        if (fast := _e164_fast(text := f"{form}{prefix}{tail}", "GH")) is not None and fast != _e164_slow(text, "GH")
    ]
    assert disagreements == []


@given(st.from_regex(r"\+?[0-9]{6,14}", fullmatch=True))
def test_the_fast_path_never_contradicts_phonenumbers_on_any_digits(text: str) -> None:
    fast = _e164_fast(text, "GH")
    if fast is not None:
        assert fast == _e164_slow(text, "GH")


@given(NATIONAL)
def test_valid_ghana_numbers_take_the_fast_path_in_every_everyday_form(national: str) -> None:
    if _e164_slow(national, "GH") is None:
        return  # not a valid number: the fast path must leave it to phonenumbers (tested above)
    assert {_e164_fast(form + national, "GH") for form in ("", "0", "233", "+233")} == {"+233" + national}


@given(FORMS, NATIONAL)
def test_phone_normalisation_is_idempotent_and_stores_e164(form: str, national: str) -> None:
    try:
        normal = phone(form + national)
    except InvalidValue:
        return
    assert phone(normal) == normal
    assert normal.startswith("+") and 8 <= len(normal) <= 20 and normal[1:].isdigit()


@given(NATIONAL)
def test_numeric_and_text_cells_of_a_number_agree(national: str) -> None:
    try:
        expected = phone("0" + national)
    except InvalidValue:
        return
    assert phone(int(national)) == phone(float(national)) == phone(f"{float(national):.8E}") == expected


# ---------------------------------------------------------------- region


@pytest.mark.parametrize(
    "text", ["Greater Accra", "greater accra", "GREATER_ACCRA", " greater-accra ", "Greater Accra Region"]
)
def test_a_region_is_found_by_name_or_code_in_any_case(text: str) -> None:
    assert normalise_region(text) == Region.GREATER_ACCRA


def test_a_missing_region_is_greater_accra() -> None:
    assert normalise_region("\u200b") == Region.GREATER_ACCRA


def test_an_unknown_region_is_refused_with_examples() -> None:
    invalid = refusal(normalise_region, "Brong Ahafo")
    assert invalid.code == RowErrorCode.REGION_UNKNOWN
    assert invalid.reason == (
        "'Brong Ahafo' is not one of Ghana's 16 regions (for example 'Greater Accra' or 'Ashanti')."
    )


def test_a_very_long_region_cell_is_quoted_short() -> None:
    invalid = refusal(normalise_region, "x" * 32_767)
    assert len(invalid.reason) < 200


@given(st.sampled_from(list(Region)))
def test_every_region_reads_back_from_its_label_and_its_code(region: Region) -> None:
    assert normalise_region(str(region.label).lower()) == normalise_region(region.value) == region


# ---------------------------------------------------------------- a caller's clean text

ANY_CELL = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["PM4 sample", "Ama Mensah", "0241234567", "Ama@Example.com", "volta", "#N/A", "=A1"]),
    st.integers(min_value=0, max_value=10**13),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)
NORMALISERS = [
    normalise_shipping_mark,
    split_full_name,
    normalise_email,
    normalise_region,
    lambda value, **text: normalise_name(value, field_label="first name", **text),
    lambda value, **text: normalise_phone(value, default_region="GH", **text),
]


def outcome(function, value: object, **text: str) -> object:
    try:
        return function(value, **text)
    except InvalidValue as invalid:
        return (invalid.code, invalid.reason)


@given(ANY_CELL, st.sampled_from(range(len(NORMALISERS))))
def test_handing_over_the_clean_text_changes_nothing(value: object, which: int) -> None:
    normalise = NORMALISERS[which]
    assert outcome(normalise, value, text=clean_text(value)) == outcome(normalise, value)
