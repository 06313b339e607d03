"""Turn whatever a spreadsheet cell holds into the canonical customer values.

Every function here is pure and idempotent: normalising an already-normal value
returns it unchanged. The database stores only normal values, so its unique
constraints compare like with like (#2 item 5). Each failure raises
`InvalidValue` with a stable code (`RowErrorCode`) and a sentence for the admin.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from users.models.choices import Region, RowErrorCode

# Unicode spaces Excel users paste in from the web and WhatsApp: NBSP, narrow
# NBSP, ideographic space, zero-width space/joiners, word joiner and BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[\s\u00a0\u202f\u3000]+")
_MARK_ALLOWED = re.compile(r"^[A-Z0-9 _-]+$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]+")
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?[eE]\+?\d+$")
_REGION_KEY = re.compile(r"[^A-Z0-9]+")

MARK_MIN_LENGTH = 2
MARK_MAX_LENGTH = 100
NAME_MAX_LENGTH = 50
EMAIL_MAX_LENGTH = 254


class InvalidValue(ValueError):  # noqa: N818 - a value error in the domain's words
    """A cell whose value can't be made into a valid customer field."""

    def __init__(self, code: RowErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def clean_text(value: Any) -> str:
    """Cell value as text, trimmed, with inner runs of any whitespace folded to one space."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def normalise_shipping_mark(value: Any) -> str:
    """Upper-cased, inner spaces collapsed: `pm4  sample` and `PM4 SAMPLE` are one mark."""
    mark = clean_text(value).upper()
    if not mark:
        raise InvalidValue(RowErrorCode.MARK_MISSING, "The shipping mark is empty.")
    if not MARK_MIN_LENGTH <= len(mark) <= MARK_MAX_LENGTH:
        raise InvalidValue(
            RowErrorCode.MARK_INVALID,
            f"The shipping mark must be {MARK_MIN_LENGTH}–{MARK_MAX_LENGTH} characters long; "
            f"this one has {len(mark)}.",
        )
    if not _MARK_ALLOWED.match(mark):
        raise InvalidValue(
            RowErrorCode.MARK_INVALID,
            "The shipping mark may contain only letters A–Z, digits, spaces, '-' and '_'.",
        )
    return mark


def normalise_name(value: Any, *, field_label: str) -> str:
    name = clean_text(value)
    if not name:
        raise InvalidValue(RowErrorCode.NAME_MISSING, f"The {field_label} is empty.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidValue(
            RowErrorCode.NAME_TOO_LONG,
            f"The {field_label} is {len(name)} characters long; at most {NAME_MAX_LENGTH} are allowed.",
        )
    return name


def split_full_name(value: Any) -> tuple[str, str]:
    """`Ama Serwaa Mensah` → (`Ama`, `Serwaa Mensah`): first word, then the rest."""
    full_name = clean_text(value)
    if not full_name:
        raise InvalidValue(RowErrorCode.NAME_MISSING, "The name is empty.")
    first, _, last = full_name.partition(" ")
    if not last:
        raise InvalidValue(
            RowErrorCode.NAME_MISSING,
            f"The name {full_name!r} has one word; a first and a last name are needed.",
        )
    return (
        normalise_name(first, field_label="first name"),
        normalise_name(last, field_label="last name"),
    )


def normalise_email(value: Any) -> str:
    """Validated address with the domain lower-cased; empty string when the cell is empty.

    The local part keeps its case (RFC 5321 lets servers treat it as significant),
    while uniqueness is case-insensitive in the database.
    """
    email = clean_text(value).replace(" ", "")
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at:
        raise InvalidValue(RowErrorCode.EMAIL_INVALID, f"{email!r} is not an email address (no '@').")
    email = f"{local}@{domain.lower()}"
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidValue(RowErrorCode.EMAIL_INVALID, f"{email!r} is not a valid email address.") from None
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidValue(RowErrorCode.EMAIL_INVALID, "The email address is longer than 254 characters.")
    return email


def _phone_text(value: Any) -> str:
    """Digits (and a leading '+') of a phone cell, undoing what Excel does to numbers."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else ""
    text = clean_text(value)
    if _SCIENTIFIC.match(text):
        # "2.41234567E+8": Excel's display of a long number typed into a General cell.
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        if number == number.to_integral_value():
            return str(int(number))
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return _PHONE_PUNCTUATION.sub("", text)


def normalise_phone(value: Any, *, default_region: str) -> str:
    """E.164 (`+233241234567`) from text or a numeric cell, or InvalidValue.

    A national number whose leading zero Excel dropped (`241234567`) parses as
    the same national number, because phonenumbers treats the trunk prefix as
    optional; a number written with its country code but no '+' (`233241234567`)
    is retried with one.
    """
    text = _phone_text(value)
    if not text:
        raise InvalidValue(RowErrorCode.PHONE_MISSING, "The phone number is empty.")
    if text.startswith("00"):
        text = "+" + text[2:]
    candidates = [text]
    if text.isdigit():
        candidates.append("+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidValue(
        RowErrorCode.PHONE_INVALID,
        f"{clean_text(value)!r} is not a valid phone number for region {default_region} or in international form.",
    )


_REGIONS_BY_KEY: dict[str, Region] = {}
for _region in Region:
    _REGIONS_BY_KEY[_REGION_KEY.sub("", _region.value)] = _region
    _REGIONS_BY_KEY[_REGION_KEY.sub("", str(_region.label).upper())] = _region


def normalise_region(value: Any, *, default: Region = Region.GREATER_ACCRA) -> Region:
    """A region by name or code in any case ("greater accra", "GREATER_ACCRA"); empty → default."""
    text = clean_text(value)
    if not text:
        return default
    key = _REGION_KEY.sub("", text.upper())
    if region := _REGIONS_BY_KEY.get(key):
        return region
    raise InvalidValue(
        RowErrorCode.REGION_UNKNOWN,
        f"{text!r} is not one of Ghana's 16 regions (for example 'Greater Accra' or 'Ashanti').",
    )
