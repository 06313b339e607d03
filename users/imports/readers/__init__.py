"""One reader per file format, behind the `WorkbookReader` interface in base.py.

`open_workbook` picks the reader for a file that `formats.detect_format` has
already sniffed and checked; no reader is ever handed an unchecked file.
"""

from users.imports.formats import DetectedFile, SpreadsheetFormat
from users.imports.readers.base import SheetInfo, WorkbookReader

__all__ = ["SheetInfo", "WorkbookReader", "open_workbook"]


def open_workbook(detected: DetectedFile) -> WorkbookReader:
    """The reader for a checked file (heavy modules are imported only for the format in hand)."""
    if detected.format == SpreadsheetFormat.XLSX:
        from users.imports.readers.xlsx import XlsxWorkbook

        return XlsxWorkbook(detected.path)
    if detected.format == SpreadsheetFormat.CSV:
        from users.imports.readers.delimited import CsvWorkbook

        return CsvWorkbook(detected.path)
    from users.imports.readers.calamine import CalamineWorkbook

    return CalamineWorkbook(detected)
