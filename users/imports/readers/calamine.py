""".xls and .ods through python-calamine (Rust): fast, but it loads a whole sheet into memory.

That is acceptable here and only here: an .xls sheet stops at 65,536 rows
(BIFF8), and an .ods is refused before calamine sees it when its content.xml
would inflate past `MAX_ODS_CONTENT_BYTES`: measured, a 100,000-row .ods (57 MB of
content.xml) peaks at 139 MB with Django and 300,000 rows (172 MB) at 316 MB, so
100 MB (about 175,000 rows; 170,000 measured at 201 MB) keeps the process near
200 MB. Big sheets arrive as .xlsx, which has its own streaming reader.
Calamine only ever gets files that passed the checks in formats.py and a trial
parse in a memory-capped child process (see `_trial_parse`), which also
measures what the parse needs: a sheet whose loading would add more than
`MAX_PARSE_BYTES` to our process is refused before we load it.
"""

import datetime as dt
import logging
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from typing import Any

from users.imports.errors import ImportRefused
from users.imports.formats import MB, DetectedFile, SpreadsheetFormat
from users.imports.readers.base import SheetInfo
from users.imports.readers.xml import xml_chunks
from users.imports.rows import SourceRow
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

MAX_ODS_CONTENT_BYTES = 100 * MB
# What loading a sheet may add to the process that imports it: calamine keeps the whole rectangle from A1 to
# the last used cell, so one cell typed at IV20000 in a 10 KB .xls costs 312 MB (measured in the child, its
# peak over its resident size before parsing). The largest .ods the content cap allows (170,000 rows, 95 MB
# of content.xml) adds 150 MB and a full 65,535-row .xls 78 MB; past 160 MB the sheet is refused.
MAX_PARSE_BYTES = 160 * MB
# The trial parse's address-space cap. Measured address space at the child's peak: 113 MB for a full .xls,
# 167 MB for the largest .ods allowed, 189 MB for a sheet needing 156 MB. 256 MB lets every sheet within
# MAX_PARSE_BYTES be measured and keeps the child itself small on a 512 MB server; a damaged file can make
# calamine ask for hundreds of GB, and under the cap that fails at once and the child exits.
PROBE_ADDRESS_SPACE_BYTES = 256 * MB
# The trial parse's time limit grows with what it has to parse (the .xls file, or the .ods content.xml
# inflated), so a 2 KB file that makes calamine spin holds a web request for 4 s, not a minute. Measured on
# the 2-core dev box: the largest .ods allowed (95 MB of content.xml) checks and parses in 2 s, allowed 18 s;
# a full 11 MB .xls in 0.25 s, allowed 5.7 s.
PROBE_BASE_SECONDS = 4.0
PROBE_SECONDS_PER_MB = 0.15
# calamine 0.9.1 loops for ever on an .ods whose XML ends inside a table (found by the fuzz test), so the
# child first streams every XML part through expat, without handlers (0.64 s for 95 MB), refusing a DOCTYPE:
# well-formed XML can't end inside a table.
_PROBE = """
import resource, sys, zipfile, xml.parsers.expat
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
from python_calamine import CalamineWorkbook, PasswordError
def kib(key):
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(key)).split()[1])
def refuse(*args):
    raise ValueError("a DOCTYPE")
def check_xml(path):
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".xml"):
                parser = xml.parsers.expat.ParserCreate()
                parser.StartDoctypeDeclHandler = refuse
                with archive.open(name) as part:
                    while chunk := part.read(1 << 20):
                        parser.Parse(chunk, False)
                parser.Parse(b"", True)
before = kib("VmRSS:")
try:
    if sys.argv[3] == "ods":
        check_xml(sys.argv[1])
    workbook = CalamineWorkbook.from_path(sys.argv[1])
    for name in workbook.sheet_names:
        for _ in workbook.get_sheet_by_name(name).iter_rows():
            pass
except PasswordError:
    sys.exit(3)
except Exception:
    sys.exit(4)
print((kib("VmHWM:") - before) * 1024)
"""


class CalamineWorkbook:
    """An .xls or .ods workbook; the selected sheet is loaded once and kept while the import runs."""

    def __init__(self, detected: DetectedFile) -> None:
        from python_calamine import CalamineError, PasswordError, SheetVisibleEnum
        from python_calamine import CalamineWorkbook as Workbook

        self.format: SpreadsheetFormat = detected.format
        parsed_bytes = detected.size
        if detected.format == SpreadsheetFormat.ODS:
            parsed_bytes = _check_ods(detected)
        _trial_parse(detected, seconds=PROBE_BASE_SECONDS + PROBE_SECONDS_PER_MB * parsed_bytes / MB)
        self._errors = (CalamineError,)
        try:
            self._workbook = Workbook.from_path(str(detected.path))
            metadata = self._workbook.sheets_metadata
        except PasswordError as exc:
            raise ImportRefused(
                FileErrorCode.ENCRYPTED,
                "The file is password-protected. Remove the password in Excel and upload it again.",
            ) from exc
        except (CalamineError, ValueError, OSError) as exc:
            raise _damaged(exc) from exc
        self._sheets = [SheetInfo(sheet.name, sheet.visible == SheetVisibleEnum.Visible) for sheet in metadata]
        self._loaded: dict[str, Any] = {}

    def close(self) -> None:
        self._loaded.clear()
        self._workbook.close()

    def sheets(self) -> list[SheetInfo]:
        return list(self._sheets)

    def _sheet(self, name: str) -> Any:
        if name not in self._loaded:
            # Keep one sheet at a time: choosing a sheet may look at several.
            self._loaded.clear()
            try:
                self._loaded[name] = self._workbook.get_sheet_by_name(name)
            except self._errors as exc:
                raise _damaged(exc) from exc
        return self._loaded[name]

    def estimated_rows(self, sheet: str) -> int | None:
        end = self._sheet(sheet).end
        return end[0] + 1 if end else 0

    def iter_rows(self, sheet: str, *, width: int | None = None) -> Iterator[SourceRow]:
        loaded = self._sheet(sheet)
        start = loaded.start
        if start is None:
            return
        first_row, first_column = start
        padding = [None] * first_column
        try:
            for offset, raw in enumerate(loaded.iter_rows()):
                cells = padding + [_value(cell) for cell in raw]
                if width is not None:
                    cells = cells[:width]
                if not any(cell is not None for cell in cells):
                    continue
                if width is None:
                    while cells[-1] is None:
                        cells.pop()
                elif len(cells) < width:
                    cells.extend([None] * (width - len(cells)))
                yield SourceRow(first_row + offset + 1, tuple(cells))
        except self._errors as exc:
            raise _damaged(exc) from exc


def _value(cell: Any) -> Any:
    """Calamine's cell as the pipeline's: "" → None, whole floats → int (Excel stores every number as a float)."""
    if isinstance(cell, str):
        return None if not cell or cell.isspace() else cell
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return int(cell)
    if isinstance(cell, dt.timedelta):
        return str(cell)
    return cell


def _trial_parse(detected: DetectedFile, *, seconds: float) -> None:
    """Parse the whole file once in a child process with capped memory and time before calamine runs in ours.

    Calamine is Rust: on some damaged files it panics or tries to allocate
    hundreds of GB, and either aborts the whole process, which would take the
    worker (or the web process) down with it; on others it never ends. Parsing
    is deterministic, so a file the child read cleanly is safe to read here.
    """
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and script, the path as one argument
            [sys.executable, "-c", _PROBE, str(detected.path), str(PROBE_ADDRESS_SPACE_BYTES), str(detected.format)],
            capture_output=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ImportRefused(
            FileErrorCode.DAMAGED,
            "The file could not be read in reasonable time; it may be damaged. Save it as .xlsx and upload that.",
        ) from None
    if result.returncode == 3:
        raise ImportRefused(
            FileErrorCode.ENCRYPTED,
            "The file is password-protected. Remove the password in Excel and upload it again.",
        )
    if result.returncode != 0:
        logger.warning(
            "calamine could not parse a %s file in a trial run (exit %s): %s",
            detected.format,
            result.returncode,
            result.stderr[-300:].decode("utf-8", errors="replace"),
        )
        if b"memory allocation of" in result.stderr:
            raise _too_big(None)  # Rust's own words when an allocation fails under the address-space cap
        raise _damaged(None)
    needed = int(result.stdout.strip() or 0)
    if needed > MAX_PARSE_BYTES:
        logger.warning("Refused a %s file whose parse needs %.0f MB", detected.format, needed / MB)
        raise _too_big(needed)


def _too_big(needed: int | None) -> ImportRefused:
    how_big = f"about {needed / MB:,.0f} MB" if needed else "more than the server could give it"
    return ImportRefused(
        FileErrorCode.TOO_LARGE,
        f"This spreadsheet is too big to be read in one piece ({how_big}; at most {MAX_PARSE_BYTES // MB} MB). "
        "A value typed far below or to the right of the customers makes a sheet this big: delete those rows and "
        "columns, or save the file as an Excel Workbook (.xlsx), which is read as a stream, and upload that.",
    )


def _check_ods(detected: DetectedFile) -> int:
    """Refuse a DOCTYPE in content.xml, and content too big to load whole, before calamine parses it.

    Returns content.xml's inflated size, which the trial parse's time limit grows with.
    """
    with zipfile.ZipFile(detected.path) as archive:
        try:
            info = archive.getinfo("content.xml")
        except KeyError:
            raise _damaged(None) from None
        if info.file_size > MAX_ODS_CONTENT_BYTES:
            raise ImportRefused(
                FileErrorCode.TOO_LARGE,
                "This OpenDocument spreadsheet is too large to import in one piece. Save it as an Excel Workbook "
                "(.xlsx), which is read as a stream, and upload that.",
            )
        for part in ("content.xml", "styles.xml"):
            if part in archive.NameToInfo:
                _, _, chunks = xml_chunks(archive, part)
                next(chunks, None)
                chunks.close()
        return info.file_size


def _damaged(exc: Exception | None) -> ImportRefused:
    logger.info("calamine could not read a file: %s", exc)
    return ImportRefused(
        FileErrorCode.DAMAGED,
        "The file is damaged or not a spreadsheet we can read. Open it in Excel, save it again and upload the copy.",
    )
