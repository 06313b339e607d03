"""Stage one of the pipeline: open an uploaded spreadsheet safely and hand out its rows as a stream.

`open_import_sheet` is the one entry point: it sniffs the format from the
bytes and runs the safety checks (formats.py), opens the format's reader
(readers/), chooses the sheet, maps the header (header.py) and yields an
`ImportSheet` whose `data_rows()` streams the rows below the header as many
times as the engine asks (validate, commit, resume), never holding the file in
memory. Every file-level problem is an `ImportRefused` with a sentence for the
admin.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from users.imports.errors import ImportRefused
from users.imports.formats import SpreadsheetFormat, detect_format
from users.imports.header import (
    HEADER_SEARCH_ROWS,
    ColumnRules,
    ColumnsMissing,
    SheetLayout,
    describe_columns,
    fallback_header_rows,
    header_rows,
    missing_columns,
    missing_columns_message,
    template_header,
)
from users.imports.readers import WorkbookReader, open_workbook
from users.imports.rows import HeaderMap, SourceRow
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSheet:
    """The chosen sheet of an open file: its header map and a re-iterable stream of data rows."""

    format: str  # "xlsx", "xls", "ods", "csv"
    sheet_name: str  # "" for csv
    header: HeaderMap
    estimated_rows: int | None  # data rows below the header, roughly (for progress); None if unknown
    _rows: Callable[[], Iterator[SourceRow]] = field(repr=False, compare=False)
    # The columns under the header, for the Check step (header.py); None for a sheet read without a header.
    layout: SheetLayout | None = None

    def data_rows(self) -> Iterator[SourceRow]:
        """Each non-empty row below the header, in order, numbered as Excel numbers it; from the top on every call.

        Cells are Python values (str, int, float, bool, date, datetime; a
        formula gives its cached value, or its text such as "=A2&B2" when the
        file has none, which the validator explains) and every row has exactly
        `max(header.columns.values()) + 1` cells, so `row.cells[index]` is safe
        for every mapped column. Columns right of the last mapped one are not
        read, and a row with nothing in the mapped columns counts as empty.
        A file damaged past the part read at open time raises ImportRefused
        (DAMAGED) from here: the engine's validation pass meets it before any
        write.
        """
        start_after = self.header.header_row or 0
        for row in self._rows():
            if row.number > start_after:
                yield row


@contextmanager
def open_import_sheet(path: Path, *, sheet_name: str = "", columns: ColumnRules | None = None) -> Iterator[ImportSheet]:
    """Open `path` for import, or raise ImportRefused with a FileErrorCode and a sentence for the admin.

    Sheet choice: `sheet_name` if given (NO_SHEET, listing the sheets, if it
    doesn't exist); else the first visible sheet whose first 20 rows hold a
    header with every required column; else, if a sheet has a header missing
    some, MISSING_COLUMNS naming them (`ColumnsMissing`, with the sheet's
    columns, so a person can choose them); else the first visible sheet read
    headerless, if its rows look like the template's order; else its first
    row of words as a header whose columns must be chosen. `columns` adds a
    person's choices and remembered ones to the synonyms (header.py).
    """
    path = Path(path)
    detected = detect_format(path)
    workbook = open_workbook(detected)
    try:
        chosen, header, layout = _choose_sheet(workbook, sheet_name, columns)
        width = max(header.columns.values()) + 1

        def rows() -> Iterator[SourceRow]:
            return workbook.iter_rows(chosen, width=width)

        sheet = ImportSheet(
            format=str(detected.format),
            sheet_name=chosen,
            header=header,
            estimated_rows=_estimate(workbook, chosen, header),
            _rows=rows,
            layout=layout,
        )
        if next(sheet.data_rows(), None) is None:
            raise ImportRefused(
                FileErrorCode.NO_ROWS,
                f"The sheet{_quoted(chosen)} has a header (row {header.header_row}) but no customer rows below it.",
            )
        logger.info(
            "Opened %s sheet %r: header row %s, columns %s, ~%s rows",
            detected.format,
            chosen,
            header.header_row,
            {str(field_): index for field_, index in header.columns.items()},
            sheet.estimated_rows,
            extra={"format": str(detected.format), "size": detected.size},
        )
        yield sheet
    finally:
        workbook.close()


def _choose_sheet(
    workbook: WorkbookReader, sheet_name: str, rules: ColumnRules | None
) -> tuple[str, HeaderMap, SheetLayout | None]:
    sheets = workbook.sheets()
    if sheet_name and workbook.format != SpreadsheetFormat.CSV:  # a CSV file is one sheet without a name
        names = [sheet.name for sheet in sheets]
        match = next((name for name in names if name == sheet_name), None) or next(
            (name for name in names if name.strip().casefold() == sheet_name.strip().casefold()), None
        )
        if match is None:
            listed = ", ".join(f'"{name}"' for name in names)
            raise ImportRefused(
                FileErrorCode.NO_SHEET, f'The workbook has no sheet named "{sheet_name}". Its sheets are: {listed}.'
            )
        candidates = [match]
    else:
        candidates = [sheet.name for sheet in sheets if sheet.visible] or [sheet.name for sheet in sheets]
    incomplete: tuple[str, SheetLayout] | None = None
    first_with_rows: str | None = None
    for name in candidates:
        head = list(islice(workbook.iter_rows(name), HEADER_SEARCH_ROWS))
        if not head:
            continue
        first_with_rows = first_with_rows if first_with_rows is not None else name
        rows_used = header_rows(head)
        if not rows_used:
            continue
        layout = describe_columns(head, rows_used, rules=rules)
        if not missing_columns(layout.header):
            return name, layout.header, layout
        incomplete = incomplete or (name, layout)
    if incomplete is not None:
        name, layout = incomplete
        message = missing_columns_message(layout.header, sheet_name=name if len(sheets) > 1 else "")
        raise ColumnsMissing(message, layout=layout, sheet_name=name)
    if first_with_rows is None:
        if sheet_name and len(sheets) > 1:
            raise ImportRefused(FileErrorCode.EMPTY, f'The sheet "{candidates[0]}" is empty.')
        raise ImportRefused(FileErrorCode.EMPTY, "The file has no rows: every sheet is empty.")
    head = list(islice(workbook.iter_rows(first_with_rows), HEADER_SEARCH_ROWS))
    headerless = template_header(head)
    if headerless is not None:
        return first_with_rows, headerless, None
    no_header = (
        f"No header row was found in the first {HEADER_SEARCH_ROWS} rows of the sheet{_quoted(first_with_rows)}. "
        "Put a header row with Shipping Mark, First Name, Last Name, Email, Phone Number (and optionally Region) "
        "above the customers, or use the columns in exactly that order without a header."
    )
    rows_used = fallback_header_rows(head)
    if not rows_used:
        raise ImportRefused(FileErrorCode.MISSING_COLUMNS, no_header)
    layout = describe_columns(head, rows_used, rules=rules)
    if not missing_columns(layout.header):
        return first_with_rows, layout.header, layout  # the columns were chosen, now or before
    raise ColumnsMissing(no_header, layout=layout, sheet_name=first_with_rows)


def _estimate(workbook: WorkbookReader, sheet: str, header: HeaderMap) -> int | None:
    last_row = workbook.estimated_rows(sheet)
    if last_row is None:
        return None
    return max(last_row - (header.header_row or 0), 0)


def _quoted(name: str) -> str:
    return f' "{name}"' if name else ""


__all__ = ["ImportSheet", "SpreadsheetFormat", "open_import_sheet"]
