"""The error report: the rejected rows in the template's layout plus an Error column, ready to fix.

An admin fixes the rows in Excel and uploads the file again, so the columns are
the template's. Cells are neutralised against formula injection (OWASP's CSV
injection advice): a value starting with `=`, `+`, `-`, `@`, tab or carriage
return gets a leading apostrophe, which Excel shows as text and never evaluates.
"""

import csv
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from users.imports.rows import TEMPLATE_COLUMNS
from users.imports.selectors import import_row_errors
from users.models import ImportJob

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REPORT_HEADER = (*(label for _field, label in TEMPLATE_COLUMNS), "Row", "Error")


def neutralise(value: object) -> str:
    """Text that a spreadsheet shows as typed and never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def error_report_rows(*, job: ImportJob) -> Iterator[tuple[str, ...]]:
    """One line per rejected row (its problems joined), streamed from the database."""
    current_row: int | None = None
    raw: dict[str, str] = {}
    reasons: list[str] = []
    errors = import_row_errors(job=job).values_list("row_number", "raw_data", "reason").iterator(chunk_size=2000)
    for row_number, raw_data, reason in errors:
        if row_number != current_row and current_row is not None:
            yield _report_line(current_row, raw, reasons)
            reasons = []
        current_row, raw = row_number, raw_data or {}
        reasons.append(reason)
    if current_row is not None:
        yield _report_line(current_row, raw, reasons)


def _report_line(row_number: int, raw: dict[str, str], reasons: list[str]) -> tuple[str, ...]:
    cells = [neutralise(raw.get(label, "")) for _field, label in TEMPLATE_COLUMNS]
    return (*cells, str(row_number), neutralise(" ".join(reasons)))


def error_report_csv(*, job: ImportJob, out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(REPORT_HEADER)
    writer.writerows(error_report_rows(job=job))


def error_report_xlsx(*, job: ImportJob, out: BinaryIO) -> None:
    """Written with openpyxl's write-only mode, so memory stays flat however many rows failed."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Rejected rows")
    bold = Font(bold=True)
    header = []
    for title in REPORT_HEADER:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for line in error_report_rows(job=job):
        row = []
        for value in line:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # always text: a phone stays "0241234567", a formula stays inert
            row.append(cell)
        sheet.append(row)
    workbook.save(out)
