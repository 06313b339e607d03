"""Masked personal data: what a log line may show of a phone number or an email address."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users.masking import MASK, mask_email, mask_phone


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
