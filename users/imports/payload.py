"""A JSON list of customers as a pipeline source, for the frontend's bulk-create endpoints.

The frontend posts rows it already previewed (`{"shipping_mark", "first_name",
…, "source_row_number"}`); they go through the same validate and write stages as
a spreadsheet. Stored as JSON Lines so a background job reads it back one line
at a time.
"""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from users.imports.rows import TEMPLATE_COLUMNS, HeaderMap, SourceRow

PAYLOAD_KEYS: tuple[tuple[str, ...], ...] = (
    ("shipping_mark", "shipping_mark_normalized"),
    ("first_name",),
    ("last_name",),
    ("email",),
    ("phone", "phone_normalized"),
    ("region",),
)
PAYLOAD_HEADER = HeaderMap(
    header_row=None,
    columns={field_: index for index, (field_, _label) in enumerate(TEMPLATE_COLUMNS)},
    labels=dict(TEMPLATE_COLUMNS),
)


def payload_cells(item: dict[str, Any]) -> tuple[Any, ...]:
    def first_present(keys: tuple[str, ...]) -> Any:
        for key in keys:
            value = item.get(key)
            if value not in (None, ""):
                return value
        return ""

    return tuple(first_present(keys) for keys in PAYLOAD_KEYS)


def source_row_numbers(items: list[dict[str, Any]]) -> list[int]:
    """The client's own row numbers when they are usable (positive, rising), else positions counted from 1.

    The pipeline's checkpoint needs numbers that rise strictly, so anything else
    (missing, repeated, out of order) falls back to positions.
    """
    numbers = [item.get("source_row_number") for item in items]
    if all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in numbers) and all(
        a < b for a, b in zip(numbers, numbers[1:], strict=False)
    ):
        return numbers  # type: ignore[return-value]
    return list(range(1, len(items) + 1))


def write_payload(items: list[dict[str, Any]], out: Any) -> None:
    """Write customers as JSON Lines: one `[row_number, cells…]` array per line."""
    for number, item in zip(source_row_numbers(items), items, strict=True):
        out.write(json.dumps([number, *payload_cells(item)], ensure_ascii=False).encode() + b"\n")


class PayloadSheet:
    """A pipeline source over customers held in memory or in a JSON Lines file."""

    format = "json"
    sheet_name = ""
    header = PAYLOAD_HEADER

    def __init__(self, *, items: list[dict[str, Any]] | None = None, path: Path | None = None) -> None:
        self._items = items
        self._path = path

    @property
    def estimated_rows(self) -> int | None:
        if self._items is not None:
            return len(self._items)
        return None

    def data_rows(self) -> Iterator[SourceRow]:
        if self._items is not None:
            numbers = source_row_numbers(self._items)
            for number, item in zip(numbers, self._items, strict=True):
                yield SourceRow(number=number, cells=payload_cells(item))
            return
        assert self._path is not None  # noqa: S101 - one of the two is always given
        with self._path.open(encoding="utf-8") as lines:
            yield from _rows_from_lines(lines)


def _rows_from_lines(lines: Iterable[str]) -> Iterator[SourceRow]:
    for line in lines:
        if line.strip():
            number, *cells = json.loads(line)
            yield SourceRow(number=number, cells=tuple(cells))
