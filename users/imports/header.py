"""Stage two of the pipeline: find the header row and map its columns to customer fields.

Admins' sheets put a title or two above the header, name columns their own way
("SHIPPING MARK/CLIENT", "Mobile", "Surname"), add columns of their own and
sometimes leave the header out. Names are compared with case, spacing and
punctuation removed, against the synonyms below.
"""

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from users.imports.errors import ImportRefused
from users.imports.rows import FIELD_LABELS, TEMPLATE_COLUMNS, Field, HeaderMap, SourceRow
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

HEADER_SEARCH_ROWS = 20
# A row is a header candidate when it names at least this many different fields: one match ("Name" in a
# title, "Mark" as a first name) is chance.
MIN_HEADER_FIELDS = 2
# Headerless sheets: column E must look like phone numbers in at least this share of the first rows.
TEMPLATE_PHONE_SHARE = 0.6

# What people call each column; the first entry of each is how a missing column is named to the admin.
SYNONYMS: dict[Field, tuple[str, ...]] = {
    Field.SHIPPING_MARK: (
        "Shipping Mark", "Mark", "Client Code", "Shipping Mark/Client", "Shipping Mark/Client Code",
        "Shipping Marks", "Ship Mark", "Client Mark", "Customer Code", "Shipping Code", "Code",
    ),
    Field.FIRST_NAME: ("First Name", "Firstname", "Given Name", "Given Names", "Forename", "First"),
    Field.LAST_NAME: ("Last Name", "Surname", "Lastname", "Family Name", "Last"),
    Field.FULL_NAME: ("Name", "Full Name", "Customer Name", "Client Name", "Names", "Full Names", "Customer"),
    Field.EMAIL: ("Email", "E-mail", "Email Address", "E-mail Address", "Mail", "Email ID"),
    Field.PHONE: (
        "Phone", "Phone Number", "Mobile", "Tel", "Contact", "WhatsApp", "Telephone", "Phone No", "Mobile Number",
        "Mobile No", "Contact Number", "Tel No", "Cell", "Cell Phone", "WhatsApp Number", "Phone Numbers",
        "Telephone Number", "Contact No",
    ),
    Field.REGION: ("Region", "Regions", "Region Name"),
}  # fmt: skip
# Shown in MISSING_COLUMNS messages: the spelling the spec and the template use.
_EXPECTED: dict[Field, str] = {
    Field.SHIPPING_MARK: "Shipping Mark, Mark, Client Code, Shipping Mark/Client",
    Field.PHONE: "Phone, Phone Number, Mobile, Tel, Contact, WhatsApp",
    Field.FIRST_NAME: "First Name, Firstname, Given Name",
    Field.LAST_NAME: "Last Name, Surname",
    Field.FULL_NAME: "Name, Full Name, Customer Name",
}

_KEY = re.compile(r"[\W_]+")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_PHONE_TEXT = re.compile(r"^\+?[\d\s().\-/]{8,20}$")
_NOISE_PREFIXES = ("customers", "customer", "clients", "client")
_NOISE_SUFFIXES = ("number", "no", "nr", "num", "address")


def header_key(text: Any) -> str:
    """A header cell reduced for comparison: "SHIPPING MARK/Client" → "shippingmarkclient"."""
    if text is None:
        return ""
    return _KEY.sub("", str(text)).lower()


_BY_KEY: dict[str, Field] = {header_key(name): field_ for field_, names in SYNONYMS.items() for name in names}


def field_for(text: Any) -> Field | None:
    """The field a header cell names, or None. Tries the text, then without (notes) and filler words."""
    if not isinstance(text, str):
        return None
    key = header_key(text)
    if not key:
        return None
    if key in _BY_KEY:
        return _BY_KEY[key]
    candidates = [header_key(_PARENTHESES.sub("", text))]
    for prefix in _NOISE_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            candidates.append(key[len(prefix) :])
    for candidate in list(candidates):
        for suffix in _NOISE_SUFFIXES:
            if candidate.endswith(suffix) and len(candidate) > len(suffix):
                candidates.append(candidate[: -len(suffix)])
    return next((_BY_KEY[candidate] for candidate in candidates if candidate in _BY_KEY), None)


def find_header(rows: Iterable[SourceRow]) -> HeaderMap | None:
    """The header among the first 20 rows, mapped; None if no row looks like one.

    The row naming the most fields wins (the first on a tie). A row of
    sub-headings right below it (a two-row header with merged cells above, like
    "Name" over "First" | "Last") is folded in. The map may lack required
    columns: `require_columns` says which, so the admin hears what is missing
    rather than "no header".
    """
    head = _first_rows(rows)
    best: tuple[int, int] | None = None  # (fields named, position in head)
    for position, row in enumerate(head):
        named = len({field_ for cell in row.cells if (field_ := field_for(cell)) is not None})
        if named >= MIN_HEADER_FIELDS and (best is None or named > best[0]):
            best = (named, position)
    if best is None:
        return None
    position = best[1]
    rows_used = [head[position]]
    if position + 1 < len(head) and _is_sub_header(head[position + 1]):
        rows_used.append(head[position + 1])
    return _map_columns(rows_used)


def _first_rows(rows: Iterable[SourceRow]) -> list[SourceRow]:
    head: list[SourceRow] = []
    for row in rows:
        head.append(row)
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    return head


def _is_sub_header(row: SourceRow) -> bool:
    filled = [cell for cell in row.cells if cell is not None]
    named = [field_ for cell in filled if (field_ := field_for(cell)) is not None]
    # Data rows can hold a word like "Mark" or "Name"; a sub-header row is mostly field names.
    return len(set(named)) >= MIN_HEADER_FIELDS and len(named) * 2 > len(filled)


def _map_columns(header_rows: Sequence[SourceRow]) -> HeaderMap:
    """Columns of the header row(s) → fields; the lower row's naming wins where both name a column."""
    named: dict[int, tuple[Field, str]] = {}
    texts: dict[int, str] = {}
    for row in header_rows:
        for index, cell in enumerate(row.cells):
            if cell is None:
                continue
            text = str(cell).strip()
            texts[index] = text
            if (field_ := field_for(cell)) is not None:
                named[index] = (field_, text)
            else:
                named.pop(index, None)
    columns: dict[Field, int] = {}
    labels: dict[Field, str] = {}
    unknown: list[str] = []
    for index in sorted(texts):
        if index in named and named[index][0] not in columns:
            field_, text = named[index]
            columns[field_] = index
            labels[field_] = text
        else:
            unknown.append(texts[index])
    _settle_names(columns, labels, unknown)
    return HeaderMap(
        header_row=header_rows[-1].number,
        columns=columns,
        labels=labels,
        unknown_columns=tuple(unknown),
    )


def _settle_names(columns: dict[Field, int], labels: dict[Field, str], unknown: list[str]) -> None:
    """Make the name columns unambiguous for the validator.

    First + Last + Name: "Name" is ignored. "Name" + "Surname": "Name" is the
    first name, as such sheets mean. "First Name" + "Name" without a last name:
    "Name" is the full name and the lone first name is ignored.
    """
    if Field.FULL_NAME not in columns:
        return
    has_first, has_last = Field.FIRST_NAME in columns, Field.LAST_NAME in columns
    if has_first and has_last:
        unknown.append(labels.pop(Field.FULL_NAME))
        del columns[Field.FULL_NAME]
    elif has_last:
        columns[Field.FIRST_NAME] = columns.pop(Field.FULL_NAME)
        labels[Field.FIRST_NAME] = labels.pop(Field.FULL_NAME)
    elif has_first:
        unknown.append(labels.pop(Field.FIRST_NAME))
        del columns[Field.FIRST_NAME]


def missing_columns(header: HeaderMap) -> list[str]:
    """A sentence per required column the header lacks; empty when it has them all."""
    problems = []
    for field_ in (Field.SHIPPING_MARK, Field.PHONE):
        if field_ not in header.columns:
            label = FIELD_LABELS[field_].replace(" Number", "")
            problems.append(f"The sheet has no {label} column. Expected one of: {_EXPECTED[field_]}.")
    has_first, has_last = Field.FIRST_NAME in header.columns, Field.LAST_NAME in header.columns
    if Field.FULL_NAME not in header.columns and not (has_first and has_last):
        if has_first:
            problems.append(f"The sheet has no Last Name column. Expected one of: {_EXPECTED[Field.LAST_NAME]}.")
        elif has_last:
            problems.append(f"The sheet has no First Name column. Expected one of: {_EXPECTED[Field.FIRST_NAME]}.")
        else:
            problems.append(
                "The sheet has no name columns. Expected First Name and Last Name columns "
                f"({_EXPECTED[Field.FIRST_NAME]}; {_EXPECTED[Field.LAST_NAME]}), or one Name column "
                f"({_EXPECTED[Field.FULL_NAME]})."
            )
    return problems


def require_columns(header: HeaderMap, *, sheet_name: str = "") -> None:
    """ImportRefused(MISSING_COLUMNS) naming each required column the header lacks."""
    problems = missing_columns(header)
    if problems:
        where = f' (sheet "{sheet_name}", header in row {header.header_row})' if sheet_name else ""
        found = ", ".join(header.labels.values()) or "none"
        raise ImportRefused(
            FileErrorCode.MISSING_COLUMNS,
            " ".join(problems) + f" Columns recognised{where}: {found}.",
        )


def template_header(rows: Iterable[SourceRow]) -> HeaderMap | None:
    """The template's layout (A Shipping Mark … E Phone Number, F Region) if the rows look like headerless data.

    "Looks like" means column E holds phone numbers in most of the first rows
    and column A is filled; column F counts as Region only when its values
    are region names.
    """
    head = _first_rows(rows)
    if not head:
        return None
    phone_like = sum(1 for row in head if _looks_like_phone(_cell(row, 4)) and _cell(row, 0) is not None)
    if phone_like < max(1, TEMPLATE_PHONE_SHARE * len(head)):
        return None
    columns = {field_: index for index, (field_, _) in enumerate(TEMPLATE_COLUMNS) if field_ != Field.REGION}
    if _looks_like_regions([_cell(row, 5) for row in head]):
        columns[Field.REGION] = 5
    return HeaderMap(header_row=None, columns=columns, labels={}, unknown_columns=())


def _cell(row: SourceRow, index: int) -> Any:
    return row.cells[index] if index < len(row.cells) else None


def _looks_like_phone(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 8 <= len(str(int(value))) <= 13 if value == int(value) else False
    if isinstance(value, str) and _PHONE_TEXT.match(value.strip()):
        return 8 <= sum(char.isdigit() for char in value) <= 15
    return False


def _looks_like_regions(values: list[Any]) -> bool:
    from users.customers.normalise import InvalidValue, normalise_region

    filled = [value for value in values if value is not None]
    if not filled:
        return False
    known = 0
    for value in filled:
        try:
            normalise_region(value)
        except InvalidValue:
            continue
        known += 1
    return known * 2 >= len(filled)
