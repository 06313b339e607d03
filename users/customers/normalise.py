"""Turn whatever a spreadsheet cell holds into the canonical customer values.

Every function here is pure and idempotent: normalising an already-normal value
returns it unchanged. The database stores only normal values, so its unique
constraints compare like with like. Each failure raises
`InvalidValue` with a stable code (`RowErrorCode`) and a sentence for the admin.

Imports call these once per cell for up to a million rows, so the common cases
take fast paths that give exactly what the general path gives (tests compare
the two on generated values): ASCII text skips the Unicode clean-up, ordinary
email addresses skip Django's validator, and the everyday Ghana phone forms
skip `phonenumbers.parse` (13 µs) for one regular expression built from
phonenumbers' own metadata.
"""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from users.models.choices import Region, RowErrorCode

MARK_MIN_LENGTH = 2
MARK_MAX_LENGTH = 100
NAME_MAX_LENGTH = 50
EMAIL_MAX_LENGTH = 254
# A sentence quotes at most this much of a cell; a 32,767-character cell would drown the message.
QUOTE_MAX_LENGTH = 60

# Deleted from every cell: the invisible format characters people paste in from the web,
# WhatsApp and phone contacts (soft hyphen, zero-width space and joiners, bidi marks and
# isolates that phones wrap around numbers, word joiner, BOM), and control characters,
# which PostgreSQL refuses in text (NUL) and nobody means to type, and unpaired surrogates,
# which can't be encoded for any database. Whitespace controls (tab, newline, \x1c-\x1f ...)
# are folded to a space instead, by str.split().
_INVISIBLE = [0x00AD, 0x061C, 0x180E, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065)]
_INVISIBLE += [*range(0x2066, 0x206A), 0xFEFF]
_CONTROLS = [c for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace()]
_DELETE = dict.fromkeys([*_INVISIBLE, *_CONTROLS, *range(0xD800, 0xE000)])

_MARK_ALLOWED = re.compile(r"[A-Za-z0-9 _-]+")
_MARK_FORBIDDEN = re.compile(r"[^A-Za-z0-9 _-]")
# What people put between a phone number's digits; phonenumbers ignores the same characters.
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/\u2010-\u2015\u2212\u00b7]+")
_PHONE_SEPARATORS = re.compile(r"\s*(?:[,;/&|]|\bor\b|\band\b)\s*", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]+", re.ASCII)
_DECIMAL_ZERO = re.compile(r"([0-9]+)\.0+", re.ASCII)
_REGION_KEY = re.compile(r"[^A-Z0-9]+")

# Ordinary addresses, checked by one regular expression. Everything it accepts Django's
# `validate_email` accepts too (ASCII dot-atom local part; lower-case ASCII labels that
# neither start nor end with '-'; a letters-only top-level domain); anything else goes to
# `validate_email` itself, so the result is Django's either way.
_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_FAST = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:{_EMAIL_LABEL}\.)+[a-z]{{2,63}}")

# The error values Excel stores as a formula's cached result.
_FORMULA_ERRORS = frozenset(
    {
        "#N/A",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#EXTERNAL!",
        "#PYTHON!",
    }
)
_RETYPE_HINT = "Excel changed what was typed; format the column as Text and type the value again."


class InvalidValue(ValueError):  # noqa: N818 - a value error in the domain's words
    """A cell whose value can't be made into a valid customer field."""

    def __init__(self, code: RowErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Not before "@": `'@x.com` is a (strange but valid) email address.
_NEUTRALISED = re.compile(r"^'+(?=[=+\-])")


def clean_text(value: Any) -> str:
    """A cell's value as the text a person sees, trimmed, with inner runs of any whitespace folded to one space.

    Numbers lose Excel's `.0` (241234567.0 → "241234567"), TRUE/FALSE and dates read
    as Excel shows them, invisible and control characters are deleted.
    """
    if type(value) is str:
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    elif isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    else:
        text = str(value)
    if not (text.isascii() and text.isprintable()):
        text = text.translate(_DELETE)
    text = " ".join(text.split())
    if text[:1] == "'":
        # Our error report writes `'=…`, `'+…`, `'-…` so a spreadsheet never
        # runs them (users/imports/report.py); a fixed row uploaded again drops that
        # mark, so `-PM1` and `+233…` come back as they were.
        text = _NEUTRALISED.sub("", text)
    return text


def quote(text: str) -> str:
    """A cell's text for a sentence: in quotes, cut short when very long."""
    if len(text) > QUOTE_MAX_LENGTH:
        text = text[: QUOTE_MAX_LENGTH - 1] + "…"
    return f"'{text}'"


def _cell_text(value: Any, text: str | None, *, code: RowErrorCode, what: str) -> str:
    """The cell as clean text, or InvalidValue when it holds a date, TRUE/FALSE or a formula, not what was typed.

    Every normaliser takes `text=clean_text(value)` from a caller that has it already:
    the validator cleans each cell once for the raw row, and cleaning is a third of its time.
    """
    if text is None:
        text = clean_text(value)
    kind = type(value)
    if kind is str:
        if text and text[0] in "#=":
            if text.upper() in _FORMULA_ERRORS:
                raise InvalidValue(
                    code,
                    f"The {what} cell holds the formula error {text}, not a value. "
                    "Fix the formula in Excel, or type the value in.",
                )
            if text[0] == "=" and len(text) > 1:
                raise InvalidValue(
                    code,
                    f"The {what} cell holds a formula ({quote(text)}) whose result was not saved in the file. "
                    "Open the file in Excel and save it again, or paste the values in.",
                )
    elif kind is bool:
        raise InvalidValue(code, f"The {what} cell holds the yes/no value {text}, not a {what}. {_RETYPE_HINT}")
    elif isinstance(value, dt.date | dt.time | dt.timedelta):
        raise InvalidValue(code, f"The {what} cell holds a date or time ({text}), not a {what}. {_RETYPE_HINT}")
    return text


def normalise_shipping_mark(value: Any, *, text: str | None = None) -> str:
    """Upper-cased, inner spaces collapsed: `pm4  sample` and `PM4 SAMPLE` are one mark.

    Only ASCII letters are accepted before upper-casing, so `ı` or `ß` can't turn
    into a different mark's `I` or `SS`.
    """
    mark = _cell_text(value, text, code=RowErrorCode.MARK_INVALID, what="shipping mark")
    if not mark:
        raise InvalidValue(RowErrorCode.MARK_MISSING, "The shipping mark is empty.")
    if not MARK_MIN_LENGTH <= len(mark) <= MARK_MAX_LENGTH:
        raise InvalidValue(
            RowErrorCode.MARK_INVALID,
            f"The shipping mark must be {MARK_MIN_LENGTH}–{MARK_MAX_LENGTH} characters long; "
            f"this one has {len(mark):,}.",
        )
    if not _MARK_ALLOWED.fullmatch(mark):
        found = " ".join(quote(c) for c in dict.fromkeys(_MARK_FORBIDDEN.findall(mark[:MARK_MAX_LENGTH])))
        raise InvalidValue(
            RowErrorCode.MARK_INVALID,
            f"The shipping mark may contain only letters A–Z, digits, spaces, '-' and '_'; it has {found}.",
        )
    return mark.upper()


def normalise_name(value: Any, *, field_label: str, text: str | None = None) -> str:
    """A first or last name: 1–50 characters once trimmed."""
    name = _cell_text(value, text, code=RowErrorCode.NAME_MISSING, what=field_label)
    if not name:
        raise InvalidValue(RowErrorCode.NAME_MISSING, f"The {field_label} is empty.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidValue(
            RowErrorCode.NAME_TOO_LONG,
            f"The {field_label} is {len(name):,} characters long; at most {NAME_MAX_LENGTH} are allowed.",
        )
    return name


def split_full_name(value: Any, *, text: str | None = None) -> tuple[str, str]:
    """`Ama Serwaa Mensah` → (`Ama`, `Serwaa Mensah`): the first word, then the rest.

    A comma means the surname was written first: `Mensah, Ama Serwaa` → (`Ama Serwaa`, `Mensah`).
    A one-word name can't be split, and the database needs both parts.
    """
    full_name = _cell_text(value, text, code=RowErrorCode.NAME_MISSING, what="name")
    if not full_name:
        raise InvalidValue(RowErrorCode.NAME_MISSING, "The name is empty.")
    last, comma, first = full_name.partition(",")
    if comma:
        first, last = first.strip(), last.strip()
    else:
        first, _, last = full_name.partition(" ")
    if not first or not last:
        raise InvalidValue(
            RowErrorCode.NAME_MISSING,
            f"The name {quote(full_name)} is one word; a first and a last name are needed, like 'Ama Mensah'.",
        )
    return (
        normalise_name(first, field_label="first name", text=first),
        normalise_name(last, field_label="last name", text=last),
    )


def normalise_email(value: Any, *, text: str | None = None) -> str:
    """Validated address with the domain lower-cased; empty string when the cell is empty.

    The local part keeps its case (RFC 5321 lets servers treat it as significant),
    while uniqueness is case-insensitive in the database.
    """
    text = _cell_text(value, text, code=RowErrorCode.EMAIL_INVALID, what="email")
    if not text:
        return ""
    if text[:7].lower() == "mailto:":
        text = text[7:].lstrip()
    # Spaces around the '@' are a slip of the thumb; a space anywhere else makes it no address.
    email = text.replace(" @", "@").replace("@ ", "@") if " " in text else text
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidValue(
            RowErrorCode.EMAIL_INVALID,
            f"The email address is {len(email):,} characters long; at most {EMAIL_MAX_LENGTH} are allowed.",
        )
    local, at, domain = email.rpartition("@")
    if not at:
        raise InvalidValue(RowErrorCode.EMAIL_INVALID, f"{quote(email)} is not an email address (it has no '@').")
    email = f"{local}@{domain.lower()}"
    if _EMAIL_FAST.fullmatch(email):
        return email
    if email.count("@") > 1 and _PHONE_SEPARATORS.search(email):
        raise InvalidValue(
            RowErrorCode.EMAIL_INVALID, f"{quote(email)} holds more than one email address; keep one per row."
        )
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidValue(RowErrorCode.EMAIL_INVALID, f"{quote(email)} is not a valid email address.") from None
    return email


def _phone_text(value: Any, text: str | None) -> str:
    """Digits (and a leading '+') of a phone cell, undoing what Excel does to numbers."""
    if type(value) is int:
        return str(value)
    text = _cell_text(value, text, code=RowErrorCode.PHONE_INVALID, what="phone number")
    if text.isdigit() and text.isascii():
        return text
    if ("E" in text or "e" in text) and _SCIENTIFIC.fullmatch(text):
        # "2.41234567E+8": a long number typed into a General cell, as Excel shows it and CSV saves it.
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:
            raise InvalidValue(
                RowErrorCode.PHONE_INVALID,
                f"The phone number was saved in scientific notation ({text}), which lost its last digits. "
                "Format the column as Text and type the numbers again.",
            )
        if number == number.to_integral_value():
            return str(int(number))
    if "." in text and (match := _DECIMAL_ZERO.fullmatch(text)):
        return match[1]
    return _PHONE_PUNCTUATION.sub("", text)


# Regions whose everyday forms take the fast path, with the length of their national
# significant numbers. Each must be proven against phonenumbers by the property tests
# in tests/customers/test_normalise.py before it is added here.
_FAST_PHONE_REGIONS = {"GH": 9}


@cache
def _fast_phone_plan(region: str) -> tuple[re.Pattern[str], re.Pattern[str], str] | None:
    """(form, valid national number, E.164 prefix) for a region with a fast path, built from phonenumbers' metadata.

    The forms: national with its trunk prefix (0241234567), with the country code
    with or without '+' (+233241234567, 233241234567), and with the trunk prefix
    dropped by Excel (241234567). Validity is phonenumbers' own test, flattened:
    the general pattern, and any number type whose pattern and lengths fit.
    """
    import phonenumbers  # lazily: an idle web worker never needs its 2.7 MB of metadata

    length = _FAST_PHONE_REGIONS.get(region)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if length else None
    if metadata is None or not metadata.national_prefix or metadata.national_prefix_transform_rule:
        return None
    code = metadata.country_code
    form = re.compile(rf"(?:\+?{code}|{metadata.national_prefix})?([1-9][0-9]{{{length - 1}}})", re.ASCII)
    type_descs = (
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
        metadata.mobile,
    )
    type_patterns = [
        f"(?:{desc.national_number_pattern})"
        for desc in type_descs
        if desc is not None
        and desc.national_number_pattern
        and (not desc.possible_length or length in desc.possible_length)
    ]
    general = metadata.general_desc
    if length not in general.possible_length or not type_patterns:
        return None
    valid = re.compile(rf"(?=(?:{general.national_number_pattern})\Z)(?:{'|'.join(type_patterns)})\Z")
    return form, valid, f"+{code}"


def _e164_fast(text: str, region: str) -> str | None:
    """E.164 for the everyday forms of a valid number; None means "ask phonenumbers", never "invalid"."""
    plan = _fast_phone_plan(region)
    if plan is None:
        return None
    form, valid, prefix = plan
    if (match := form.fullmatch(text)) and valid.match(national := match[1]):
        return prefix + national
    return None


# Digits without '+' are retried as international only from this length on: a local number
# with one digit too many (10) must not become a valid number in some other country.
_INTERNATIONAL_MIN_DIGITS = 11


def _e164_slow(text: str, region: str) -> str | None:
    """E.164 by phonenumbers, or None when no reading of the text is a valid number."""
    import phonenumbers

    candidates = [text]
    if text.isdigit() and len(text) >= _INTERNATIONAL_MIN_DIGITS:
        candidates.append("+" + text)  # written with its country code but no '+' (8613812345678)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalise_phone(value: Any, *, default_region: str, text: str | None = None) -> str:
    """E.164 (`+233241234567`) from text or a numeric cell, or InvalidValue.

    A national number whose leading zero Excel dropped (`241234567`) parses as
    the same national number, because phonenumbers treats the trunk prefix as
    optional; a number written with its country code but no '+' (`233241234567`)
    is read as international too.
    """
    shown = text
    text = _phone_text(value, text)
    if not text:
        raise InvalidValue(RowErrorCode.PHONE_MISSING, "The phone number is empty.")
    if text[:2] == "00":  # the international dialling prefix, as in 00233 24 123 4567
        text = "+" + text[2:]
    if (e164 := _e164_fast(text, default_region)) or (e164 := _e164_slow(text, default_region)):
        return e164
    shown = clean_text(value) if shown is None else shown
    raise InvalidValue(RowErrorCode.PHONE_INVALID, _invalid_phone_reason(shown, default_region))


def _invalid_phone_reason(shown: str, region: str) -> str:
    numbers = [part for part in _PHONE_SEPARATORS.split(shown) if sum(c.isdigit() for c in part) >= 7]
    if len(numbers) > 1:
        return f"{quote(shown)} holds more than one phone number; keep one per row."
    return (
        f"{quote(shown)} is not a valid phone number. Write a {_country_name(region)} number like "
        f"{_example_number(region)}, or a number from another country starting with + and its country code."
    )


def _country_name(region: str) -> str:
    return {"GH": "Ghana"}.get(region, region)


@cache
def _example_number(region: str) -> str:
    import phonenumbers

    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return "+233 24 123 4567"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


_REGIONS_BY_KEY: dict[str, Region] = {}
for _region in Region:
    _REGIONS_BY_KEY[_REGION_KEY.sub("", _region.value)] = _region
    _REGIONS_BY_KEY[_REGION_KEY.sub("", str(_region.label).upper())] = _region


_REGION_TEXT_MAX_LENGTH = 40


@lru_cache(maxsize=1024)  # a file uses a handful of spellings, a million times each
def _region_for(text: str) -> Region | None:
    key = _REGION_KEY.sub("", text.upper())
    return _REGIONS_BY_KEY.get(key) or _REGIONS_BY_KEY.get(key.removesuffix("REGION"))


def normalise_region(value: Any, *, default: Region = Region.GREATER_ACCRA, text: str | None = None) -> Region:
    """A region by name or code in any case ("greater accra", "GREATER_ACCRA", "Ashanti Region"); empty → default."""
    text = _cell_text(value, text, code=RowErrorCode.REGION_UNKNOWN, what="region")
    if not text:
        return default
    # No region's name is longer than this; a huge cell must not sit in the cache.
    if len(text) <= _REGION_TEXT_MAX_LENGTH and (region := _region_for(text)):
        return region
    raise InvalidValue(
        RowErrorCode.REGION_UNKNOWN,
        f"{quote(text)} is not one of Ghana's 16 regions (for example 'Greater Accra' or 'Ashanti').",
    )
