"""Stage two of the pipeline: find the header row and map its columns to customer fields.

Admins' sheets put a title or two above the header, name columns their own way
("SHIPPING MARK/CLIENT", "Mobile", "Surname"), add columns of their own and
sometimes leave the header out. Names are compared with case, spacing and
punctuation removed, against the synonyms below.
"""

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
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
    rows_used = header_rows(_first_rows(rows))
    return _map_columns(rows_used) if rows_used else None


def header_rows(head: Sequence[SourceRow]) -> list[SourceRow]:
    """The row (or two) of `head` that `find_header` reads as the header; empty if none names enough fields."""
    best: tuple[int, int] | None = None  # (fields named, position in head)
    for position, row in enumerate(head):
        named = len({field_ for cell in row.cells if (field_ := field_for(cell)) is not None})
        if named >= MIN_HEADER_FIELDS and (best is None or named > best[0]):
            best = (named, position)
    if best is None:
        return []
    position = best[1]
    rows_used = [head[position]]
    if position + 1 < len(head) and _is_sub_header(head[position + 1]):
        rows_used.append(head[position + 1])
    return rows_used


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
    if missing_columns(header):
        raise ImportRefused(FileErrorCode.MISSING_COLUMNS, missing_columns_message(header, sheet_name=sheet_name))


def missing_columns_message(header: HeaderMap, *, sheet_name: str = "") -> str:
    """Each required column the header lacks, with its usual names, then the columns recognised."""
    where = f' (sheet "{sheet_name}", header in row {header.header_row})' if sheet_name else ""
    found = ", ".join(header.labels.values()) or "none"
    return " ".join(missing_columns(header)) + f" Columns recognised{where}: {found}."


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


# --- Choosing columns: when the names aren't enough, a person decides ----------------------------------------------
#
# The Check step shows each column of the sheet (its header and three sample values), the field each one holds and
# how it came to hold it; a column no name matched gets a suggestion from what its values look like. A person's
# choices (`ColumnRules.chosen`) and choices remembered for the same header row (`ColumnRules.remembered`, kept by
# users/imports/columns.py) go on top of the synonyms. Columns are named by their letter, as Excel shows them.


class MatchKind(StrEnum):
    """How a column came to hold its field, as the Check step and the API say it."""

    EXACT = "exact"  # the header is the field's own name: "Phone Number", "Email"
    SYNONYM = "synonym"  # another usual name for it: "Tel.", "Mobile", "Mark"
    REMEMBERED = "remembered"  # as confirmed before for a sheet with this same header row
    CHOSEN = "chosen"  # the admin chose it for this import


# A header is an exact match when it is the template's label or the field's first name above.
_EXACT_KEYS: dict[Field, frozenset[str]] = {
    field_: frozenset({header_key(FIELD_LABELS[field_]), header_key(names[0])}) for field_, names in SYNONYMS.items()
}
# A customer sheet has a dozen columns; a row may have 16,384. Past this many, columns are neither shown nor chosen.
LAYOUT_MAX_COLUMNS = 100
SAMPLES_PER_COLUMN = 3
SAMPLE_MAX_LENGTH = 80
# A column's values suggest a field when at least this share of its filled cells (in the first rows) look like one.
SUGGEST_SHARE = 0.6
# The last column Excel has (XFD): letters beyond it name nothing.
MAX_COLUMN_INDEX = 16_383
_LETTERS = re.compile(r"[A-Z]{1,3}")
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_MARK_SHAPE = re.compile(r"(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9][A-Za-z0-9 _-]{1,19}")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['.\-][^\W\d_]+)*\.?")


def column_letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA": a 0-based column as Excel names it."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def column_index(letter: str) -> int | None:
    """Column "A" → 0, "AA" → 26; None for anything that isn't a column of a sheet (A to XFD)."""
    if not isinstance(letter, str) or not _LETTERS.fullmatch(letter):
        return None
    index = 0
    for char in letter:
        index = index * 26 + ord(char) - ord("A") + 1
    return index - 1 if index - 1 <= MAX_COLUMN_INDEX else None


@dataclass(frozen=True)
class RememberedColumns:
    """Columns confirmed for a header row before: the field of each column, by position, and who confirmed them."""

    fields: tuple[Field | None, ...]
    confirmed_at: str  # ISO 8601
    confirmed_by: str  # a name to show, not a login


@dataclass(frozen=True)
class ColumnRules:
    """What decides the columns besides their names: this import's choices, and choices remembered for the header."""

    chosen: Mapping[int, Field | None] = dataclass_field(default_factory=dict)  # 0-based column → field (None: ignore)
    remembered: Callable[[str], RememberedColumns | None] | None = None  # by `SheetLayout.key`


@dataclass(frozen=True)
class SheetColumn:
    """One column of the sheet as the Check step shows it."""

    index: int
    header: str
    samples: tuple[str, ...]
    field: Field | None
    matched_by: MatchKind | None
    suggested: Field | None = None  # for a column holding no field: what its values look like

    @property
    def letter(self) -> str:
        return column_letter(self.index)


@dataclass(frozen=True)
class SheetLayout:
    """The sheet's columns under its header row: what each holds, how it was matched, and what is still missing."""

    header: HeaderMap  # what the pipeline reads: the synonyms' map, or the map once choices changed it
    key: str  # the header row in normal form, hashed: what remembered choices are found by ("" without a header)
    columns: tuple[SheetColumn, ...]
    remembered: RememberedColumns | None = None  # the remembered choices applied, if any

    def missing_fields(self) -> tuple[Field, ...]:
        return missing_fields(self.header.columns)

    def has_columns_to_choose(self) -> bool:
        """Whether some column holds no field yet, so a person could pick the missing ones among them."""
        return any(column.field is None for column in self.columns)


def missing_fields(columns: Mapping[Field, int]) -> tuple[Field, ...]:
    """The required fields no column holds, in the template's order; a lone name column asks for its partner."""
    missing: list[Field] = [] if Field.SHIPPING_MARK in columns else [Field.SHIPPING_MARK]
    has_first, has_last = Field.FIRST_NAME in columns, Field.LAST_NAME in columns
    if Field.FULL_NAME not in columns and not (has_first and has_last):
        missing.append(Field.LAST_NAME if has_first else Field.FIRST_NAME if has_last else Field.FULL_NAME)
    if Field.PHONE not in columns:
        missing.append(Field.PHONE)
    return tuple(missing)


class ColumnsMissing(ImportRefused):
    """MISSING_COLUMNS for a sheet whose header was read: it carries the columns, so a person can choose the rest."""

    def __init__(self, message: str, *, layout: SheetLayout, sheet_name: str) -> None:
        super().__init__(FileErrorCode.MISSING_COLUMNS, message)
        self.layout = layout
        self.sheet_name = sheet_name


class ColumnChoiceError(ValueError):
    """A column choice that can't be used, with a sentence saying why."""


def describe_columns(
    head: Sequence[SourceRow], rows_used: Sequence[SourceRow], *, rules: ColumnRules | None = None
) -> SheetLayout:
    """The layout of a sheet whose header is `rows_used` (found in `head`, its first rows): names, then choices.

    The synonyms decide first, exactly as `find_header` maps them; choices
    remembered for this header row replace theirs; this import's choices go
    last. Each column says how it got its field, counting only what changed
    it: a choice that repeats what the synonyms found stays "exact" or
    "synonym". A column left without a field gets a suggestion from its
    values (phones, emails, marks, regions, names), never one already taken.
    """
    rules = rules or ColumnRules()
    header_row = rows_used[-1].number
    texts = _header_texts(rows_used)
    automatic = _map_columns(rows_used)
    automatic_fields: dict[int, Field | None] = {index: field_ for field_, index in automatic.columns.items()}
    fields = dict(automatic_fields)
    kinds: dict[int, MatchKind] = {
        index: MatchKind.EXACT if header_key(texts.get(index)) in _EXACT_KEYS[field_] else MatchKind.SYNONYM
        for index, field_ in fields.items()
        if field_ is not None
    }
    data = [row for row in head if row.number > header_row]
    filled = {index for row in data for index, cell in enumerate(row.cells) if clean_text_of(cell)}
    indices = sorted(set(texts) | filled)[:LAYOUT_MAX_COLUMNS]
    key = _layout_key(texts)
    remembered = rules.remembered(key) if (rules.remembered is not None and key) else None
    if remembered is not None:
        _apply(fields, kinds, dict(enumerate(remembered.fields)), MatchKind.REMEMBERED, indices)
    _apply(fields, kinds, dict(rules.chosen), MatchKind.CHOSEN, indices)
    taken = {field_ for index, field_ in fields.items() if field_ is not None and index in indices}
    columns = []
    for index in indices:
        values = [row.cells[index] for row in data if index < len(row.cells) and clean_text_of(row.cells[index])]
        field_ = fields.get(index)
        suggested = None if field_ is not None else suggest_field(values, taken=taken)
        if suggested is not None:
            taken.add(suggested)  # one suggestion per field: the first column that looks like it
        columns.append(
            SheetColumn(
                index=index,
                header=texts.get(index, ""),
                samples=tuple(clean_text_of(value)[:SAMPLE_MAX_LENGTH] for value in values[:SAMPLES_PER_COLUMN]),
                field=field_,
                matched_by=kinds.get(index) if field_ is not None else None,
                suggested=suggested,
            )
        )
    header = automatic
    if {i: f for i, f in fields.items() if f is not None} != automatic_fields:
        header = HeaderMap(
            header_row=header_row,
            columns={field_: index for index, field_ in sorted(fields.items()) if field_ is not None},
            labels={field_: texts.get(index, "") for index, field_ in fields.items() if field_ is not None},
            unknown_columns=tuple(texts[index] for index in sorted(texts) if fields.get(index) is None),
        )
    return SheetLayout(header=header, key=key, columns=tuple(columns), remembered=remembered)


def _apply(
    fields: dict[int, Field | None],
    kinds: dict[int, MatchKind],
    choices: Mapping[int, Field | None],
    kind: MatchKind,
    indices: Sequence[int],
) -> None:
    allowed = set(indices)
    for index, field_ in choices.items():
        if index not in allowed or fields.get(index) == field_:
            continue
        fields[index] = field_
        if field_ is None:
            kinds.pop(index, None)
        else:
            kinds[index] = kind


def _header_texts(rows_used: Sequence[SourceRow]) -> dict[int, str]:
    """Column → header text; in a two-row header the lower row's text wins, as `_map_columns` reads it."""
    texts: dict[int, str] = {}
    for row in rows_used:
        for index, cell in enumerate(row.cells):
            if cell is not None and (text := str(cell).strip()):
                texts[index] = text
    return texts


def fallback_header_rows(head: Sequence[SourceRow]) -> list[SourceRow]:
    """The first row that reads like a header though no name in it is known: words, no phones, no emails.

    For a sheet whose headers are all its own ("Client", "Cellphone",
    "Identifier"): its columns can still be shown and chosen.
    """
    for row in head:
        filled = [cell for cell in row.cells if cell is not None and str(cell).strip()]
        if not filled:
            continue
        looks_like_header = len(filled) >= MIN_HEADER_FIELDS and all(
            isinstance(cell, str) and not _looks_like_phone(cell) and "@" not in cell for cell in filled
        )
        return [row] if looks_like_header else []
    return []


def _layout_key(texts: Mapping[int, str]) -> str:
    """The header row in normal form (each cell as `header_key` reduces it, by position), hashed; "" if empty."""
    if not texts:
        return ""
    normal = "\x1f".join(header_key(texts.get(index, "")) for index in range(max(texts) + 1))
    return hashlib.sha256(normal.encode()).hexdigest()


def clean_text_of(value: Any) -> str:
    from users.customers.normalise import clean_text

    return clean_text(value)


def suggest_field(values: Sequence[Any], *, taken: set[Field] | frozenset[Field] = frozenset()) -> Field | None:
    """What most of a column's values look like: phones, emails, regions, shipping marks or people's names.

    None when no shape wins, or when the field it suggests is already taken
    (a name is never suggested beside first and last name columns).
    """
    cells = [(value, text) for value in values if (text := clean_text_of(value))]
    if not cells:
        return None
    needed = max(1, SUGGEST_SHARE * len(cells))
    names_taken = bool(taken & {Field.FULL_NAME, Field.FIRST_NAME, Field.LAST_NAME})
    shapes: tuple[tuple[Field, Callable[[Any, str], bool]], ...] = (
        (Field.EMAIL, lambda _value, text: bool(_EMAIL_SHAPE.fullmatch(text))),
        (Field.PHONE, lambda value, text: _looks_like_phone(value) and "@" not in text),
        (Field.REGION, lambda _value, text: _is_region(text)),
        (Field.SHIPPING_MARK, lambda _value, text: bool(_MARK_SHAPE.fullmatch(text)) and not _looks_like_phone(text)),
        (Field.FULL_NAME, lambda _value, text: _looks_like_name(text)),
    )
    for field_, looks_like in shapes:
        if field_ in taken or (field_ == Field.FULL_NAME and names_taken):
            continue
        if sum(1 for value, text in cells if looks_like(value, text)) >= needed:
            return field_
    return None


def _is_region(text: str) -> bool:
    from users.customers.normalise import InvalidValue, normalise_region

    try:
        normalise_region(text)
    except InvalidValue:
        return False
    return True


def _looks_like_name(text: str) -> bool:
    words = text.replace(",", " ").split()
    return 2 <= len(words) <= 4 and all(_NAME_WORD.fullmatch(word) for word in words)


def resolve_column_choices(layout: SheetLayout, choices: Mapping[str, str | None]) -> dict[int, Field | None]:
    """Every described column's field once `choices` (column letter → field name, "" or None to ignore) apply.

    Raises ColumnChoiceError with a sentence when a letter names no column of
    the sheet, a field is unknown or chosen twice, the names are half chosen,
    or a required field is left without a column: checking with such a choice
    could only fail again.
    """
    by_letter = {column.letter: column for column in layout.columns}
    fields: dict[int, Field | None] = {column.index: column.field for column in layout.columns}
    for letter, value in choices.items():
        column = by_letter.get(letter)
        if column is None:
            listed = ", ".join(by_letter) or "none"
            raise ColumnChoiceError(f"The sheet has no column {letter!s:.10}; its columns are {listed}.")
        if value in (None, ""):
            fields[column.index] = None
            continue
        try:
            fields[column.index] = Field(value)
        except ValueError:
            known = ", ".join(field_.value for field_ in Field)
            raise ColumnChoiceError(
                f'{str(value)[:40]!r} is not a customer field; column {letter} may hold one of {known}, or "" '
                "to ignore it."
            ) from None
    chosen: dict[Field, list[str]] = {}
    for index, field_ in fields.items():
        if field_ is not None:
            chosen.setdefault(field_, []).append(column_letter(index))
    for field_, letters in chosen.items():
        if len(letters) > 1:
            raise ColumnChoiceError(
                f"{FIELD_LABELS[field_]} is chosen for columns {' and '.join(letters)}; choose one of them."
            )
    if Field.FULL_NAME in chosen and (Field.FIRST_NAME in chosen or Field.LAST_NAME in chosen):
        raise ColumnChoiceError("Choose either one Name column, or a First Name and a Last Name column, not both.")
    missing = missing_fields(dict.fromkeys(chosen, 0))
    if missing:
        labels = " and ".join(FIELD_LABELS[field_] for field_ in missing)
        raise ColumnChoiceError(f"Choose a column for {labels}: the import needs it.")
    return fields
