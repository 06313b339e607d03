"""The values that flow through the import pipeline: read → header → validate → write.

Frozen dataclasses, so a stage can't change what an earlier stage produced.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from users.models.choices import RowErrorCode, RowOutcome


class Field(StrEnum):
    """The customer fields a spreadsheet column can map to."""

    SHIPPING_MARK = "shipping_mark"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    FULL_NAME = "full_name"
    EMAIL = "email"
    PHONE = "phone"
    REGION = "region"


# The template's columns, in order; also the layout of the error report.
TEMPLATE_COLUMNS: tuple[tuple[Field, str], ...] = (
    (Field.SHIPPING_MARK, "Shipping Mark"),
    (Field.FIRST_NAME, "First Name"),
    (Field.LAST_NAME, "Last Name"),
    (Field.EMAIL, "Email"),
    (Field.PHONE, "Phone Number"),
    (Field.REGION, "Region"),
)
FIELD_LABELS: dict[Field, str] = {**dict(TEMPLATE_COLUMNS), Field.FULL_NAME: "Name"}


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row as read from the sheet, numbered as Excel numbers it (1-based, header included)."""

    number: int
    cells: tuple[Any, ...]


@dataclass(frozen=True)
class HeaderMap:
    """Where each customer field lives in the sheet.

    `header_row` is None when the sheet has no header and the template's order
    (A Shipping Mark, B First Name, C Last Name, D Email, E Phone Number) is assumed.
    """

    header_row: int | None
    columns: dict[Field, int]  # field → 0-based column index
    labels: dict[Field, str]  # field → the header text as the sheet writes it
    unknown_columns: tuple[str, ...] = ()

    def label(self, field_: Field) -> str:
        return self.labels.get(field_) or FIELD_LABELS[field_]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A row that passed validation, in normal form, ready to be written."""

    row_number: int
    shipping_mark: str
    first_name: str
    last_name: str
    email: str
    phone: str
    region: str
    raw: dict[str, str] = field(default_factory=dict)  # the row in the template's layout, as typed


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row was not created: the column, the value, a stable code and a sentence."""

    row_number: int
    column: str
    value: str
    code: RowErrorCode
    reason: str
    raw: dict[str, str] = field(default_factory=dict)
    outcome: RowOutcome = RowOutcome.FAILED
    duplicate_of_row: int | None = None
    existing_customer_id: int | None = None
