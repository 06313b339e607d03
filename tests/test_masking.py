"""Masked personal data: what a log line may show of a phone number or an email address."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users.masking import MASK, mask_email, mask_personal_data, mask_phone


def test_a_ghana_phone_keeps_its_network_prefix_and_last_four_digits() -> None:
    assert mask_phone("+233241234567") == "+23324•••4567"


def test_an_email_keeps_its_first_letter_and_domain() -> None:
    assert mask_email("kofi.mensah@example.com") == "k•••@example.com"


@pytest.mark.parametrize("value", ["", "12", "+2331", "not an email"])
def test_short_or_odd_values_never_come_back_whole(value: str) -> None:
    assert value == "" or value not in (mask_phone(value), mask_email(value))


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_a_masked_phone_hides_at_least_three_digits(phone: str) -> None:
    masked = mask_phone(phone)
    assert MASK in masked
    assert sum(c.isdigit() for c in masked) <= sum(c.isdigit() for c in phone) - 3, masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("'0244 12 34' is not a valid phone number.", "'0•••1234' is not a valid phone number."),
        ("'0551237788' is not one of Ghana's 16 regions", "'055•••7788' is not one of Ghana's 16 regions"),
        ("'esi.owusu@@example.com' is not a valid email address.", "'e•••@example.com' is not a valid email address."),
        ("customers from abena@example.com.csv", "customers from a•••@example.com.csv"),
        ("Call +233 24 123 4567 today", "Call +23324•••4567 today"),
    ],
)
def test_phones_and_emails_inside_a_sentence_are_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "text",
    ["Same phone as row 12.", "The shipping mark may contain only letters; it has '@'.", "Hello Ama, PM4 SAMPLE"],
)
def test_sentences_without_personal_data_are_left_alone(text: str) -> None:
    assert mask_personal_data(text) == text


@given(
    st.from_regex(r"\+?[0-9]{7,14}", fullmatch=True),
    st.sampled_from(["", " ", "-", "."]),
    st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=20),
)
def test_no_phone_however_typed_survives_masking(digits: str, separator: str, around: str) -> None:
    typed = separator.join([digits[:3], digits[3:6], digits[6:]])
    masked = mask_personal_data(f"{around}'{typed}'{around}")
    assert digits.lstrip("+") not in "".join(c for c in masked if c.isdigit()), masked
