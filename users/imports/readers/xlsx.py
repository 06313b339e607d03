"""A streaming .xlsx/.xlsm reader: one pass over the sheet's XML, shared strings held compactly.

Why not calamine or openpyxl (measurements in docs/architecture.md, "Reading
spreadsheets"): calamine loads the whole sheet and every shared string into
memory (over the 512 MB box for a full sheet), and openpyxl's read-only mode
and any expat/ElementTree walk spend several Python calls per cell: 15–25 s
for a million rows. Here the sheet is inflated a megabyte at a time and cut
into rows and cells by two compiled regular expressions, so the per-cell work
happens in C. The expressions match the shape every mainstream writer uses
(Excel, LibreOffice, openpyxl, XlsxWriter: `<c r=".." s=".." t="..">`); a row
they don't cover exactly is re-read by defusedxml's parser, so unusual but
valid XML is still read correctly, only slower.

The shared-strings table is one bytes buffer plus an array of offsets: about
20 bytes a string instead of ~70 for a Python str, which is what keeps a
million-row workbook's ~3 million unique strings near 60 MB.
"""

import datetime as dt
import io
import logging
import re
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException

from users.imports.errors import ImportRefused
from users.imports.formats import ZIP_READ_ERRORS, SpreadsheetFormat
from users.imports.readers.base import SheetInfo
from users.imports.readers.xml import (
    attribute,
    bounded_iterparse,
    damaged_xml,
    decode_text,
    iter_elements,
    parse_relationships,
    undo_ooxml_escapes,
    unsafe_xml,
    xml_chunks,
)
from users.imports.rows import SourceRow
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

EXCEL_MAX_COLUMNS = 16_384
# A row numbered past Excel's last row, or not after the row before it (ECMA-376 Part 1, §18.3.1.73: rows are
# in ascending order), is damage: the engine's checkpoints and error rows rely on numbers that only go up.
EXCEL_MAX_ROWS = 1_048_576
_MAX_ROW_DIGITS = len(str(EXCEL_MAX_ROWS))
# One row's (or shared string's) XML larger than this is not a customer row. The bound matters twice: the
# stretch handed to `findall` is at most this plus one 1 MB chunk, and a stretch of the smallest cells
# (`<c r="A1"/>`, 12 bytes) becomes ~200 bytes of tuples per cell, so 3 MB of XML stays under ~50 MB.
# A 16,384-column row of shared strings is ~0.5 MB.
MAX_ROW_BYTES = 2 * 1024 * 1024
# The shared-strings table is held in memory (as compactly as it can be). Excel's own table for a full
# 1,048,575-row customer sheet with unique marks, emails and phones is ~100 MB of XML; a table of 200 MB
# still fits the box, a crafted 1 GB one (allowed by the zip limits at ratio 200) would not.
MAX_SHARED_STRINGS_BYTES = 200 * 1024 * 1024
# The smallest XML a row with one value can take (`<row r="1"><c r="A1"><v>1</v></c></row>`),
# to cap a dimension that claims far more rows than the part could hold.
MIN_ROW_BYTES = 32
# Built-in number formats that show dates or times (ECMA-376 Part 1, §18.8.30).
BUILTIN_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])
EPOCH_1900 = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - spreadsheet dates carry no zone
EPOCH_1904 = dt.datetime(1904, 1, 1)  # noqa: DTZ001

_DATE_CODE = re.compile(r"[dmyhs]", re.IGNORECASE)
# Every pattern below scans a bounded stretch per attempt (up to the next quote, bracket or tag), never to the end
# of its input: a file of thousands of unclosed openings must cost linear, not quadratic, time.
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\][]*\]|\\.|_.|\*.')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]*\$?(\d{1,7})(?::\$?[A-Z]*\$?(\d{1,7}))?"')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_CELL_REF = re.compile(r"([A-Za-z]{1,3})(\d{1,7})?")
_INLINE_TEXT = re.compile(rb"<(?:\w+:)?t(?:\s[^<>]*)?>([^<]*)</(?:\w+:)?t>")
_TAG_NAME = re.compile(rb"<([\w.:-]+)")
_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b(?:(?!<(?:\w+:)?rPh\b).)*?</(?:\w+:)?rPh>", re.S)

_column_index_cache: dict[bytes, int] = {}


def column_index(letters: bytes | str) -> int:
    """0-based index of an Excel column name: A → 0, Z → 25, AA → 26, XFD → 16383."""
    key = letters if isinstance(letters, bytes) else letters.encode()
    index = _column_index_cache.get(key)
    if index is None:
        index = 0
        for code in key:
            index = index * 26 + code - 64
        index -= 1
        _column_index_cache[key] = index
    return index


@dataclass(frozen=True)
class _Sheet:
    name: str
    visible: bool
    part: str


class SharedStrings:
    """The workbook's shared-strings table as one UTF-8 buffer and an offsets array.

    `text(i)` decodes on demand; only the strings of the rows in flight exist as
    Python objects at any time.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        # 4-byte offsets: parts are capped far below 4 GB by IMPORT_MAX_UNCOMPRESSED_BYTES.
        self.offsets = array("I", [0])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def text(self, index: int) -> str:
        offsets = self.offsets
        return self.buffer[offsets[index] : offsets[index + 1]].decode("utf-8", errors="replace")

    def load(self, archive: zipfile.ZipFile, part: str) -> None:
        if archive.getinfo(part).file_size > MAX_SHARED_STRINGS_BYTES:
            raise ImportRefused(
                FileErrorCode.TOO_LARGE,
                "The workbook holds more text than one import can take (its shared-strings table is over 200 MB). "
                "Split it into several files and upload each.",
            )
        _, prefix, chunks = xml_chunks(archive, part)
        p = {b"p": prefix}
        item = re.compile(
            rb"<%(p)ssi>(?:<%(p)st(?: xml:space=\"preserve\")?>([^<&]*)</%(p)st>|(.*?))</%(p)ssi>|<%(p)ssi/>" % p,
            re.S,
        )
        opening, closing = b"<%ssi" % prefix, b"</%ssi>" % prefix
        # Excel's items are nearly all `<si><t>text</t></si>`; a stretch made only of those is cut apart by
        # one bytes.split in C instead of a Python step per string.
        preserve = (b'<%st xml:space="preserve">' % prefix, b"<%st>" % prefix)
        empty = (b"<%st/>" % prefix, b"<%st></%st>" % (prefix, prefix))
        separator = b"</%(p)st></%(p)ssi><%(p)ssi><%(p)st>" % p
        first, last = b"<%(p)ssi><%(p)st>" % p, b"</%(p)st></%(p)ssi>" % p
        data, offsets = self.buffer, self.offsets
        buffer = b""
        started = False
        for chunk in chunks:
            buffer = buffer + chunk if buffer else chunk
            if not started:
                at = buffer.find(opening)
                if at < 0:
                    if len(buffer) > MAX_ROW_BYTES:
                        raise damaged_xml(part)
                    continue
                buffer, started = buffer[at:], True
            end = buffer.rfind(closing)
            if end < 0:
                if len(buffer) > MAX_ROW_BYTES:
                    raise damaged_xml(part)
                continue
            end += len(closing)
            region = buffer[:end].replace(*preserve).replace(*empty)
            if region.startswith(first) and region.endswith(last):
                texts = region[len(first) : -len(last)].split(separator)
                joined = b"".join(texts)
                if b"<" not in joined and b"&" not in joined and b"_x" not in joined:
                    lengths = accumulate(map(len, texts), initial=len(data))
                    next(lengths)
                    data += joined
                    offsets.extend(lengths)
                    buffer = buffer[end:]
                    continue
            for match in item.finditer(buffer, 0, end):
                simple = match.group(1)
                if simple is not None and b"_x" not in simple:
                    data += simple
                elif simple is not None:
                    data += decode_text(simple).encode("utf-8")
                elif match.group(2) is not None:
                    data += _rich_text(match.group(2)).encode("utf-8")
                offsets.append(len(data))
            buffer = buffer[end:]
        # Self-closing items after the last </si>.
        for _ in item.finditer(buffer):
            offsets.append(len(data))


def _rich_text(inner: bytes) -> str:
    """The visible text of a rich or escaped string item: its <t> runs, without phonetic (ruby) runs."""
    if b"<" not in inner:
        return ""
    if b"rPh" in inner:
        inner = _PHONETIC.sub(b"", inner)
    return "".join(decode_text(run) for run in _INLINE_TEXT.findall(inner))


class XlsxWorkbook:
    """An open .xlsx: sheet list from workbook.xml, rows streamed from each sheet's part."""

    format = SpreadsheetFormat.XLSX

    def __init__(self, path: Path) -> None:
        try:
            self._archive = zipfile.ZipFile(path)
        except ZIP_READ_ERRORS as exc:
            raise ImportRefused(FileErrorCode.DAMAGED, "The file is damaged and can't be opened.") from exc
        try:
            self._load_workbook()
        except BaseException:
            self._archive.close()
            raise
        self._strings: SharedStrings | None = None
        self._date_styles: frozenset[int] | None = None

    def close(self) -> None:
        self._archive.close()

    def sheets(self) -> list[SheetInfo]:
        return [SheetInfo(sheet.name, sheet.visible) for sheet in self._sheets]

    def _load_workbook(self) -> None:
        root_rels = parse_relationships(self._archive, "_rels/.rels", base="")
        workbook_part = next(
            (target for target, kind in root_rels.values() if kind.endswith("/officeDocument")), "xl/workbook.xml"
        )
        if workbook_part not in self._archive.NameToInfo:
            raise damaged_xml(workbook_part)
        folder = workbook_part.rpartition("/")[0]
        rels_part = f"{folder}/_rels/{workbook_part.rpartition('/')[2]}.rels"
        relationships = parse_relationships(self._archive, rels_part, base=folder)
        self._shared_strings_part = next(
            (target for target, kind in relationships.values() if kind.endswith("/sharedStrings")), ""
        )
        self._styles_part = next((target for target, kind in relationships.values() if kind.endswith("/styles")), "")
        self._epoch = EPOCH_1900
        self._sheets: list[_Sheet] = []
        for _, element in iter_elements(self._archive, workbook_part):
            if element.tag == "workbookPr" and element.get("date1904", "").lower() in {"1", "true"}:
                self._epoch = EPOCH_1904
            elif element.tag == "sheet":
                target, kind = relationships.get(attribute(element, "id"), ("", ""))
                # Chart sheets and dialog sheets have no cells; a missing part is skipped, not fatal.
                if kind.endswith("/worksheet") and target in self._archive.NameToInfo:
                    state = element.get("state", "visible")
                    self._sheets.append(_Sheet(element.get("name", ""), state == "visible", target))

    def _sheet(self, name: str) -> _Sheet:
        return next(sheet for sheet in self._sheets if sheet.name == name)

    def estimated_rows(self, sheet: str) -> int | None:
        """The last row number the sheet's <dimension> claims, capped by what its XML could hold."""
        part = self._sheet(sheet).part
        _, _, chunks = xml_chunks(self._archive, part)
        head = next(chunks, b"")
        chunks.close()
        match = _DIMENSION.search(head)
        if not match:
            return None
        last_row = int(match.group(2) or match.group(1))
        return min(last_row, EXCEL_MAX_ROWS, self._archive.getinfo(part).file_size // MIN_ROW_BYTES)

    def _load_styles(self) -> frozenset[int]:
        """Indexes of the cell formats (cellXfs) whose number format shows a date or time."""
        if not self._styles_part or self._styles_part not in self._archive.NameToInfo:
            return frozenset()
        custom_dates: set[int] = set()
        date_styles: set[int] = set()
        in_cell_xfs = False
        index = 0
        for event, element in iter_elements(self._archive, self._styles_part, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == "cellXfs":
                    in_cell_xfs = True
                continue
            if tag == "numFmt":
                code = _FORMAT_NOISE.sub("", element.get("formatCode", ""))
                if _DATE_CODE.search(code):
                    custom_dates.add(_int(element.get("numFmtId")))
            elif tag == "xf" and in_cell_xfs:
                number_format = _int(element.get("numFmtId"))
                if number_format in BUILTIN_DATE_FORMATS or number_format in custom_dates:
                    date_styles.add(index)
                index += 1
            elif tag == "cellXfs":
                in_cell_xfs = False
            element.clear()
        return frozenset(date_styles)

    def _shared_strings(self) -> SharedStrings:
        if self._strings is None:
            strings = SharedStrings()
            part = self._shared_strings_part
            if part and part in self._archive.NameToInfo:
                strings.load(self._archive, part)
            elif "xl/sharedStrings.xml" in self._archive.NameToInfo:
                strings.load(self._archive, "xl/sharedStrings.xml")
            self._strings = strings
        return self._strings

    def iter_rows(self, sheet: str, *, width: int | None = None) -> Iterator[SourceRow]:
        """Non-empty rows of `sheet` from the top; `width` cuts (and pads) each row to that many columns."""
        if self._date_styles is None:
            self._date_styles = self._load_styles()
        return _SheetReader(
            self._archive,
            self._sheet(sheet).part,
            strings=self._shared_strings(),
            date_styles=self._date_styles,
            epoch=self._epoch,
            width=width,
        ).rows()


class _SheetReader:
    """One pass over one sheet part."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        part: str,
        *,
        strings: SharedStrings,
        date_styles: frozenset[int],
        epoch: dt.datetime,
        width: int | None,
    ) -> None:
        self.archive = archive
        self.part = part
        self.strings = strings
        self.date_styles = date_styles
        self.epoch = epoch
        self.width = min(width, EXCEL_MAX_COLUMNS) if width is not None else None

    def rows(self) -> Iterator[SourceRow]:
        root_tag, prefix, chunks = xml_chunks(self.archive, self.part)
        self.root_tag = root_tag
        p = {b"p": prefix}
        # One cell as mainstream writers emit it: r (with the row number), s and t in either order, then the
        # rarely used cm/vm/ph; content: an optional formula (never evaluated; its text is kept for a cell
        # saved without a result), the cached value, or an inline string. Whatever this doesn't cover goes to
        # the defusedxml path, row by row. The inline string may not run past the next cell tag: `.*?` alone
        # let 55,000 unclosed <is> in a 0.3 MB file scan the whole row once per cell (over a minute). The
        # atomic group keeps the text runs as fast as `.*?`.
        cell_pattern = re.compile(
            rb"<%(p)sc r=\"([A-Z]{1,3})(\d+)\"(?: s=\"(\d+)\")?(?: t=\"(\w+)\")?(?: s=\"(\d+)\")?"
            rb"(?: (?:cm|vm|ph)=\"[^\"]*\")*\s*"
            rb"(?:/>|>(<%(p)sf\b[^>]*/>|<%(p)sf\b[^>]*>([^<]*)</%(p)sf>)?(?:<%(p)sv>([^<]*)</%(p)sv>|<%(p)sv\s*/>)?"
            rb"(?:<%(p)sis>((?>[^<]+|<(?!/?%(p)sc[\s>/]))*?)</%(p)sis>)?</%(p)sc>)" % p,
            re.S,
        )
        # If the pattern matched fewer cells than there are tags opening with "<c", some cell has a shape it
        # doesn't cover (or rich text brought a <color>), and that stretch is re-read the slow way.
        opening = b"<%sc" % prefix
        sheet_data = b"<%ssheetData" % prefix
        closing = b"</%srow>" % prefix
        buffer = b""
        in_sheet_data = False
        self.last_row = 0
        for chunk in chunks:
            buffer = buffer + chunk if buffer else chunk
            if not in_sheet_data:
                at = buffer.find(sheet_data)
                tag_end = buffer.find(b">", at) if at >= 0 else -1
                if tag_end < 0:
                    self._check_row_size(buffer)
                    continue
                if buffer[tag_end - 1 : tag_end] == b"/":
                    return  # <sheetData/>: no rows at all
                buffer = buffer[tag_end + 1 :]
                in_sheet_data = True
            end = buffer.rfind(closing)
            if end < 0:
                self._check_row_size(buffer)
                continue
            end += len(closing)
            cells = cell_pattern.findall(buffer, 0, end)
            if len(cells) == buffer.count(opening, 0, end):
                yield from self._rows_from_cells(cells)
            else:
                yield from self._rows_slowly(buffer[:end], prefix)
            buffer = buffer[end:]

    def _check_row_size(self, buffer: bytes) -> None:
        if len(buffer) > MAX_ROW_BYTES:
            raise ImportRefused(
                FileErrorCode.TOO_LARGE, "One row of the sheet is larger than 2 MB; it can't be a customer row."
            )

    def _rows_from_cells(self, cells: list[tuple[bytes, ...]]) -> Iterator[SourceRow]:
        """Rows from the fast path's cells, in document order: the hot loop of a big import, kept flat."""
        width = self.width
        limit = width if width is not None else EXCEL_MAX_COLUMNS
        empty_row = [None] * width if width is not None else []
        strings = self.strings
        data, offsets = strings.buffer, strings.offsets
        string_count = len(strings)
        index_cache = _column_index_cache
        date_styles = self.date_styles
        number_value = self._number
        typed_value = self._typed
        unsaved_formula = _unsaved_formula
        current = b""
        number = last = self.last_row
        values: list[Any] = []
        found = False
        for letters, row, style, kind, style_after, formula, formula_text, raw, inline in cells:
            if row != current:
                if found:
                    yield SourceRow(number, tuple(values))
                number = int(row) if len(row) <= _MAX_ROW_DIGITS else 0
                if not last < number <= EXCEL_MAX_ROWS:
                    raise self._misnumbered(row)
                current, last = row, number
                self.last_row = number
                values = empty_row.copy()
                found = False
            index = index_cache.get(letters)
            if index is None:
                index = column_index(letters)
            if index >= limit:
                continue
            if kind == b"s":
                if not raw:
                    continue
                try:
                    position = int(raw)
                except ValueError:
                    raise damaged_xml(self.part) from None
                if not 0 <= position < string_count:
                    raise damaged_xml(self.part)  # a cell pointing outside the shared-strings table
                value: Any = data[offsets[position] : offsets[position + 1]].decode("utf-8", errors="replace")
                if not value or value.isspace():
                    continue
            elif not kind or kind == b"n":
                if raw:
                    value = number_value(raw, style or style_after, date_styles)
                elif formula:
                    value = unsaved_formula(formula_text)
                else:
                    continue
            else:
                value = typed_value(kind, raw, inline)
                if value is None or (isinstance(value, str) and (not value or value.isspace())):
                    if not formula or raw or kind == b"str":  # t="str" and empty: the formula gave ""
                        continue
                    value = unsaved_formula(formula_text)
            if width is None and index >= len(values):
                values.extend([None] * (index + 1 - len(values)))
            values[index] = value
            found = True
        if found:
            yield SourceRow(number, tuple(values))

    def _misnumbered(self, raw: bytes) -> ImportRefused:
        logger.info("Row %r of %s follows row %s or is past row %s", raw[:20], self.part, self.last_row, EXCEL_MAX_ROWS)
        return damaged_xml(self.part)

    def _rows_slowly(self, region: bytes, prefix: bytes) -> Iterator[SourceRow]:
        """Rows of a stretch the fast path can't cover, each parsed by defusedxml."""
        opening, closing = b"<%srow" % prefix, b"</%srow>" % prefix
        position = 0
        while (start := region.find(opening, position)) >= 0:
            tag_end = region.find(b">", start)
            if region[start + len(opening) : start + len(opening) + 1] not in (b" ", b">", b"/", b"\n", b"\r", b"\t"):
                position = start + 1
                continue
            number_match = _ROW_NUMBER.search(region, start, tag_end)
            raw = number_match.group(1) if number_match else b"%d" % (self.last_row + 1)
            number = int(raw) if len(raw) <= _MAX_ROW_DIGITS else 0
            if not self.last_row < number <= EXCEL_MAX_ROWS:
                raise self._misnumbered(raw)
            self.last_row = number
            if region[tag_end - 1 : tag_end] == b"/":
                position = tag_end + 1
                continue
            end = region.find(closing, tag_end)
            if end < 0:
                raise damaged_xml(self.part)
            position = end + len(closing)
            cells = self._cells_slowly(region[start:position])
            if cells:
                yield SourceRow(number, cells)

    def _number(self, raw: bytes, style: bytes | None, date_styles: frozenset[int]) -> Any:
        if raw is None or not raw:
            return None
        if raw.isdigit():
            try:
                value: Any = int(raw)
            except ValueError:
                return decode_text(raw)  # over 4,300 digits, which int() refuses; no spreadsheet number has them
        else:
            try:
                value = float(raw)
            except ValueError:
                return decode_text(raw)
            if value.is_integer() and abs(value) < 1e15:
                value = int(value)
        if style and date_styles and style.isdigit() and len(style) <= 6 and int(style) in date_styles:
            return self._date(value)
        return value

    def _date(self, serial: float) -> Any:
        """A date-formatted serial number as date (whole days) or datetime; out-of-range serials stay numbers."""
        if not 0 <= serial < 2_958_466:  # 9999-12-31
            return serial
        moment = self.epoch + dt.timedelta(days=serial)
        if serial == int(serial):
            return moment.date()
        return moment.replace(microsecond=round(moment.microsecond / 1000) * 1000 % 1_000_000)

    def _typed(self, kind: bytes, raw: bytes | None, inline: bytes | None) -> Any:
        if kind == b"inlineStr":
            return _rich_text(inline) if inline else None
        if not raw:
            return None
        if kind in (b"str", b"e"):
            return decode_text(raw)
        if kind == b"b":
            return raw.strip() in (b"1", b"true")
        if kind == b"d":
            try:
                return dt.datetime.fromisoformat(raw.decode("ascii"))
            except ValueError:
                return decode_text(raw)
        return decode_text(raw)

    def _cells_slowly(self, row_xml: bytes) -> tuple[Any, ...]:
        """A row outside the fast path's shape, through defusedxml: attribute order, no `r`, whitespace...

        Streamed: each element is freed once read and nesting is capped, so a
        2 MB row of nested or empty elements costs time, not memory (building
        it as one tree took ~120 MB for 200,000 nested elements).
        """
        root_name = _TAG_NAME.match(self.root_tag).group(1)
        document = self.root_tag + row_xml + b"</" + root_name + b">"
        width = self.width
        limit = width if width is not None else EXCEL_MAX_COLUMNS
        values: list[Any] = [None] * width if width is not None else []
        found = False
        column = -1
        # The local names of the open elements: worksheet, row, c, and inside a cell v, f, is, r, t ...
        path: list[str] = []
        text: str | None = None
        formula: str | None = None
        runs: list[str] = []
        try:
            for event, element in bounded_iterparse(io.BytesIO(document), part=self.part):
                if event == "start":
                    path.append(_local(element.tag))
                    if len(path) == 3:
                        text, formula, runs = None, None, []
                    continue
                local = path.pop()
                if len(path) == 2 and local == "c":
                    column = self._column(element.get("r"), column)
                    if column >= limit:
                        continue
                    value = self._slow_value(element.get("t", "n"), element.get("s"), text, runs, formula)
                    if value is None or (isinstance(value, str) and (not value or value.isspace())):
                        continue
                    found = True
                    if width is None and column >= len(values):
                        values.extend([None] * (column + 1 - len(values)))
                    values[column] = value
                elif len(path) == 3 and local == "v":
                    text = element.text or ""
                elif len(path) == 3 and local == "f":
                    formula = element.text or ""
                elif local == "t" and len(path) in (4, 5) and path[3] == "is" and path[4:] in ([], ["r"]):
                    runs.append(element.text or "")  # a run of an inline string; phonetic runs (rPh) left out
        except DefusedXmlException as exc:
            raise unsafe_xml(self.part) from exc
        except ParseError as exc:
            raise damaged_xml(self.part) from exc
        return tuple(values) if found else ()

    def _column(self, reference: str | None, previous: int) -> int:
        """The 0-based column of a cell's `r` ("B7" → 1), or the one after `previous` when it has none."""
        if not reference:
            return previous + 1
        match = _CELL_REF.fullmatch(reference)
        if match is None:
            logger.info("Cell reference %r in %s is not a cell", reference[:20], self.part)
            raise damaged_xml(self.part)
        return column_index(match.group(1).upper())

    def _slow_value(
        self, kind: str, style: str | None, text: str | None, runs: list[str], formula: str | None
    ) -> Any:
        """The value the fast path gives for the same cell: keep the two in step (tests/imports/test_read.py)."""
        if kind == "inlineStr":
            return undo_ooxml_escapes("".join(runs))
        if not text:
            if formula is not None and kind != "str":  # t="str" and empty: the formula gave ""
                return _unsaved_formula(formula)
            return None
        if kind == "s":
            try:
                position = int(text)
            except ValueError:
                raise damaged_xml(self.part) from None
            if not 0 <= position < len(self.strings):
                raise damaged_xml(self.part)  # a cell pointing outside the shared-strings table, as on the fast path
            return self.strings.text(position)
        if kind == "n":
            return self._number(text.strip().encode(), style.encode() if style else None, self.date_styles)
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            try:
                return dt.datetime.fromisoformat(text.strip())
            except ValueError:
                return undo_ooxml_escapes(text)
        return undo_ooxml_escapes(text)


def _unsaved_formula(text: bytes | str) -> str:
    """A formula saved without its result, as Excel's formula bar shows it: "=A2&B2".

    Generators such as openpyxl write formulas without computing them, and
    Excel computes them on opening, so the admin sees a value where the file
    holds none. An empty cell would fail the row as "empty"; the formula's text
    makes the validator say what happened, for that row only: its result was
    not saved, open the file in Excel and save it again. A formula whose saved
    result is an empty string (t="str") is an empty cell, not this. A cell
    sharing another cell's formula has no text of its own: "=…".
    """
    formula = decode_text(text) if isinstance(text, bytes) else undo_ooxml_escapes(text)
    return "=" + (formula.strip() or "…")


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return -1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
