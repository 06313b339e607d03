"""CSV (and Excel's tab-separated "Unicode Text") streamed from disk with the standard csv module.

The encoding is decided once per file: a BOM wins (UTF-8 or UTF-16); otherwise
the whole file is checked as UTF-8 a megabyte at a time (cheap, and never held
in memory), and a file that isn't UTF-8 is read as Windows-1252, which is what
Excel's plain "CSV (Comma delimited)" writes on a Western Windows, byte by byte:
what is valid UTF-8 stays UTF-8, so rows pasted together from a UTF-8 export and
a Windows-1252 one both keep their accents. The
delimiter is sniffed from the first 64 KB: comma, semicolon (Excel in locales
with a decimal comma), tab or pipe, whichever splits the lines most
consistently; Excel's `sep=;` first line is honoured. A record is bounded before
the csv module builds it: a field by FIELD_SIZE_LIMIT, a whole record (one row,
perhaps over several lines inside quotes) by MAX_RECORD_CHARS, and only the
first 16,384 fields (Excel's columns) are kept.
"""

import codecs
import csv
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from users.imports.errors import ImportRefused
from users.imports.formats import SpreadsheetFormat
from users.imports.readers.base import SheetInfo
from users.imports.rows import SourceRow
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

SAMPLE_BYTES = 64 * 1024
CHECK_CHUNK_BYTES = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
# Excel's cells hold up to 32,767 characters (a quoted field may also carry line breaks); the csv module's
# default 131,072 would do, but an explicit, generous bound states the intent and still stops a runaway
# field (an unclosed quote) from swallowing the whole file into memory.
FIELD_SIZE_LIMIT = 1024 * 1024
# One record larger than this is not a customer row, as for an xlsx row. The csv module builds a whole record
# as one list: a 38 MB line of commas became 40 million fields and 661 MB, 38 MB of quoted line breaks
# ('"a\n",' over and over: one record) ran out of time; the bound stops both after 2 MB, the list at 2M fields.
MAX_RECORD_CHARS = 2 * 1024 * 1024
# Excel's last column is XFD; fields past it are not read (the header search reads rows without a width).
MAX_FIELDS = 16_384
WINDOWS_1252 = "cp1252"
UTF8_ELSE_1252 = "primepre-utf8-else-cp1252"


def _utf8_else_cp1252(error: UnicodeError) -> tuple[str, int]:
    """The codec error handler behind UTF8_ELSE_1252: a byte that isn't UTF-8 is read as Windows-1252."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode(WINDOWS_1252, errors="replace"), error.end


codecs.register_error(UTF8_ELSE_1252, _utf8_else_cp1252)


class CsvWorkbook:
    """A CSV file as a workbook with one unnamed sheet."""

    format = SpreadsheetFormat.CSV

    def __init__(self, path: Path) -> None:
        self.path = path
        self.encoding = detect_encoding(path)
        # Not all UTF-8: Windows-1252, except where a line is UTF-8 after all (a file pasted from two exports).
        self._decoding = (
            {"encoding": "utf-8", "errors": UTF8_ELSE_1252}
            if self.encoding == WINDOWS_1252
            else {"encoding": self.encoding, "errors": "replace"}
        )
        with path.open("r", newline="", **self._decoding) as handle:
            sample = handle.read(SAMPLE_BYTES)
        self.skip_first_line = False
        first_line = sample.split("\n", 1)[0].strip().lower()
        if first_line.startswith("sep=") and len(first_line) == 5:
            self.delimiter = sample.split("\n", 1)[0].strip()[4]
            self.skip_first_line = True
        else:
            self.delimiter = sniff_delimiter(sample)
        lines_in_sample = max(sample.count("\n"), 1)
        self._bytes_per_line = max(len(sample.encode(self.encoding, errors="replace")) / lines_in_sample, 1.0)
        if csv.field_size_limit() < FIELD_SIZE_LIMIT:
            csv.field_size_limit(FIELD_SIZE_LIMIT)

    def close(self) -> None:
        """Nothing stays open between reads."""

    def sheets(self) -> list[SheetInfo]:
        return [SheetInfo("", True)]

    def estimated_rows(self, sheet: str) -> int | None:
        return round(self.path.stat().st_size / self._bytes_per_line)

    def iter_rows(self, sheet: str, *, width: int | None = None) -> Iterator[SourceRow]:
        keep = min(width, MAX_FIELDS) if width is not None else MAX_FIELDS
        with self.path.open("r", newline="", **self._decoding) as handle:
            if self.skip_first_line:
                handle.readline()
            lines = _RecordLines(handle)
            reader = csv.reader(lines, delimiter=self.delimiter)
            number = 0
            try:
                for number, record in enumerate(reader, start=1):  # noqa: B007 - the refusal names the next one
                    lines.used = 0
                    record = record[:keep]
                    cells = [None if not cell or cell.isspace() else cell for cell in record]
                    if not any(cells):
                        continue
                    if width is None:
                        while cells[-1] is None:
                            cells.pop()
                    elif len(cells) < width:
                        cells.extend([None] * (width - len(cells)))
                    yield SourceRow(number, tuple(cells))
            except csv.Error as exc:
                raise ImportRefused(
                    FileErrorCode.DAMAGED,
                    f"The CSV file can't be read past line {reader.line_num}: {exc}. A quote (\") is probably "
                    "never closed; fix it in a text editor or re-save the file from Excel.",
                ) from exc
            except _RecordTooLargeError:
                raise ImportRefused(
                    FileErrorCode.TOO_LARGE,
                    f"Row {number + 1} of the CSV file is larger than {MAX_RECORD_CHARS // (1024 * 1024)} MB; "
                    "it can't be a customer row.",
                ) from None


class _RecordTooLargeError(Exception):
    """The record being read has passed MAX_RECORD_CHARS (turned into ImportRefused by the reader)."""


class _RecordLines:
    """The handle's lines for csv.reader, each read at most MAX_RECORD_CHARS at a time, the record's total counted.

    The reader sets `used` to 0 after each record; csv.reader pulls exactly the
    lines of one record, never more, so `used` is the current record's size.
    """

    __slots__ = ("handle", "used")

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.used = 0

    def __iter__(self) -> Iterator[str]:
        readline = self.handle.readline
        while line := readline(MAX_RECORD_CHARS + 1):
            self.used += len(line)
            if self.used > MAX_RECORD_CHARS:
                raise _RecordTooLargeError
            yield line


def detect_encoding(path: Path) -> str:
    """utf-8-sig / utf-16 by BOM, else utf-8 if every byte of the file decodes as UTF-8, else cp1252."""
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := handle.read(CHECK_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return WINDOWS_1252
    return "utf-8"


def sniff_delimiter(sample: str) -> str:
    """The delimiter that gives the most lines the same number (> 1) of fields; comma on a tie."""
    lines = sample.splitlines()[:-1] or sample.splitlines()  # the last line may be cut by the sample
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            widths = [len(record) for record in csv.reader(lines, delimiter=delimiter) if record]
        except csv.Error:
            continue
        widths = [width for width in widths if width > 1]
        if not widths:
            continue
        width, lines_with_width = Counter(widths).most_common(1)[0]
        score = (lines_with_width, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best
