"""Builders for the spreadsheets the import tests need, awkward and hostile ones included.

Every builder writes a real file at `path` (use pytest's `tmp_path`) and
returns that path. Rows are sequences of cell values: str, int, float, bool,
None (an empty cell), date/datetime, or `Formula("=A1&B1", cached="...")`.

    from tests.imports.spreadsheets import write_xlsx, write_csv
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *customers], hidden_sheets={"Old": [...]})

xlsx files are written by hand, the way Excel lays them out (shared strings,
styles, r/s/t attributes), so a test controls every detail: hidden sheets,
inline strings, formulas with cached values, merged cells, a lying dimension.
`.xls` uses xlwt and encryption uses msoffcrypto-tool, the real libraries.
"""

import datetime as dt
import io
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import escape, quoteattr

HEADER = ("Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region")
CUSTOMERS = (
    ("PM1 KWAME", "Kwame", "Mensah", "kwame@example.com", "0241234567", "Greater Accra"),
    ("PM2 AMA", "Ama", "Owusu", "ama@example.com", "0201234567", "Ashanti"),
    ("PM3 KOFI", "Kofi", "Boateng", "", "0551234567", "Volta"),
)
MB = 1024 * 1024

Rows = Sequence[Sequence[Any]]

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001
_EXCEL_1904_EPOCH = dt.datetime(1904, 1, 1)  # noqa: DTZ001


@dataclass(frozen=True)
class Formula:
    """A formula cell and the value Excel cached for it (None: saved without a cached value)."""

    formula: str
    cached: Any = None


@dataclass(frozen=True)
class InlineString:
    """A text cell written inline (`t="inlineStr"`) rather than through the shared-strings table."""

    text: str


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA, 16383 → XFD."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def write_xlsx(
    path: Path,
    rows: Rows,
    *,
    sheet_title: str = "Customers",
    hidden_sheets: Mapping[str, Rows] | None = None,
    extra_sheets: Mapping[str, Rows] | None = None,
    shared_strings: bool = True,
    merged_cells: Iterable[str] = (),
    dimension: str | None = None,
    date1904: bool = False,
    prefix: str = "",
    part_xml: Mapping[str, str | bytes] | None = None,
) -> Path:
    """An xlsx with `rows` on a visible sheet `sheet_title`.

    `hidden_sheets` come first in the workbook (so a naive reader would pick
    them), then the main sheet, then `extra_sheets` (visible). With
    `shared_strings=False` text is written inline. `merged_cells` are ranges
    like "B1:C1". `dimension` overrides the <dimension ref> (e.g. "A1:XFD1048576").
    `prefix` writes the main namespace with a prefix (`x:`), as some .NET tools do.
    `part_xml` replaces or adds whole parts (name → XML text or bytes) for hostile files.
    """
    sheets: list[tuple[str, Rows, str]] = [(name, data, "hidden") for name, data in (hidden_sheets or {}).items()]
    sheets.append((sheet_title, rows, "visible"))
    sheets += [(name, data, "visible") for name, data in (extra_sheets or {}).items()]
    strings: dict[str, int] = {}
    parts: dict[str, str | bytes] = {}
    for number, (_, data, _) in enumerate(sheets, start=1):
        merged = tuple(merged_cells) if data is rows else ()
        parts[f"xl/worksheets/sheet{number}.xml"] = _sheet_xml(
            data,
            strings if shared_strings else None,
            merged=merged,
            dimension=dimension,
            prefix=prefix,
            epoch=_EXCEL_1904_EPOCH if date1904 else _EXCEL_EPOCH,
        )
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{_NS}"' if prefix else f'xmlns="{_NS}"'
    sheet_entries = "".join(
        f"<{p}sheet name={quoteattr(name)} sheetId=\"{number}\" r:id=\"rId{number}\""
        + (' state="hidden"' if state == "hidden" else "")
        + "/>"
        for number, (name, _, state) in enumerate(sheets, start=1)
    )
    workbook_pr = f'<{p}workbookPr date1904="1"/>' if date1904 else f"<{p}workbookPr/>"
    parts["xl/workbook.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}workbook {xmlns} xmlns:r="{_NS_R}">'
        f"{workbook_pr}<{p}sheets>{sheet_entries}</{p}sheets></{p}workbook>"
    )
    relationships = [
        (f"rId{number}", "worksheet", f"worksheets/sheet{number}.xml") for number in range(1, len(sheets) + 1)
    ]
    relationships.append((f"rId{len(sheets) + 1}", "styles", "styles.xml"))
    if shared_strings:
        relationships.append((f"rId{len(sheets) + 2}", "sharedStrings", "sharedStrings.xml"))
        items = "".join(
            f'<{p}si><{p}t xml:space="preserve">{escape(text)}</{p}t></{p}si>'
            if text != text.strip()
            else f"<{p}si><{p}t>{escape(text)}</{p}t></{p}si>"
            for text in strings
        )
        parts["xl/sharedStrings.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}sst {xmlns} count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{items}</{p}sst>'
        )
    parts["xl/_rels/workbook.xml.rels"] = _relationships(
        (rid, f"{_NS_R}/{kind}", target) for rid, kind, target in relationships
    )
    parts["xl/styles.xml"] = _STYLES
    parts["[Content_Types].xml"] = _content_types(len(sheets), shared_strings)
    parts["_rels/.rels"] = _relationships([("rId1", f"{_NS_R}/officeDocument", "xl/workbook.xml")])
    parts.update(part_xml or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return path


_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy\\ hh:mm"/></numFmts>\
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>\
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>"""
_DATE_STYLE, _DATETIME_STYLE, _TEXT_STYLE = 1, 2, 3


def _sheet_xml(
    rows: Rows,
    strings: dict[str, int] | None,
    *,
    merged: Sequence[str],
    dimension: str | None,
    prefix: str,
    epoch: dt.datetime,
) -> str:
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{_NS}"' if prefix else f'xmlns="{_NS}"'
    lines = []
    width = max((len(row) for row in rows), default=1)
    for number, row in enumerate(rows, start=1):
        cells = "".join(
            _cell_xml(f"{column_letters(index)}{number}", value, strings, p, epoch)
            for index, value in enumerate(row)
            if value is not None
        )
        if cells:
            lines.append(f'<{p}row r="{number}">{cells}</{p}row>')
    ref = dimension or f"A1:{column_letters(width - 1)}{max(len(rows), 1)}"
    merge = (
        f'<{p}mergeCells count="{len(merged)}">'
        + "".join(f'<{p}mergeCell ref="{ref}"/>' for ref in merged)
        + f"</{p}mergeCells>"
        if merged
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {xmlns} xmlns:r="{_NS_R}">'
        f'<{p}dimension ref="{ref}"/><{p}sheetData>{"".join(lines)}</{p}sheetData>{merge}</{p}worksheet>'
    )


def _cell_xml(ref: str, value: Any, strings: dict[str, int] | None, p: str, epoch: dt.datetime) -> str:
    if isinstance(value, Formula):
        formula = f"<{p}f>{escape(value.formula.lstrip('='))}</{p}f>"
        cached = value.cached
        if cached is None:
            return f'<{p}c r="{ref}">{formula}</{p}c>'
        if isinstance(cached, str):
            return f'<{p}c r="{ref}" t="str">{formula}<{p}v>{escape(cached)}</{p}v></{p}c>'
        if isinstance(cached, bool):
            return f'<{p}c r="{ref}" t="b">{formula}<{p}v>{int(cached)}</{p}v></{p}c>'
        return f'<{p}c r="{ref}">{formula}<{p}v>{cached}</{p}v></{p}c>'
    if isinstance(value, InlineString) or (isinstance(value, str) and strings is None):
        text = value.text if isinstance(value, InlineString) else value
        return f'<{p}c r="{ref}" t="inlineStr"><{p}is><{p}t>{escape(text)}</{p}t></{p}is></{p}c>'
    if isinstance(value, str):
        assert strings is not None
        index = strings.setdefault(value, len(strings))
        return f'<{p}c r="{ref}" t="s"><{p}v>{index}</{p}v></{p}c>'
    if isinstance(value, bool):
        return f'<{p}c r="{ref}" t="b"><{p}v>{int(value)}</{p}v></{p}c>'
    if isinstance(value, dt.datetime):
        serial = (value - epoch).total_seconds() / 86400
        return f'<{p}c r="{ref}" s="{_DATETIME_STYLE}"><{p}v>{serial!r}</{p}v></{p}c>'
    if isinstance(value, dt.date):
        serial = (value - epoch.date()).days
        return f'<{p}c r="{ref}" s="{_DATE_STYLE}"><{p}v>{serial}</{p}v></{p}c>'
    return f'<{p}c r="{ref}"><{p}v>{value!r}</{p}v></{p}c>'


def _relationships(entries: Iterable[tuple[str, str, str]]) -> str:
    body = "".join(f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>' for rid, kind, target in entries)
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return f'{declaration}<Relationships xmlns="{_NS_PKG}">{body}</Relationships>'


def _content_types(sheet_count: int, shared_strings: bool) -> str:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = [f'<Override PartName="/xl/workbook.xml" ContentType="{main}.sheet.main+xml"/>']
    overrides += [
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{main}.worksheet+xml"/>'
        for n in range(1, sheet_count + 1)
    ]
    overrides.append(f'<Override PartName="/xl/styles.xml" ContentType="{main}.styles+xml"/>')
    if shared_strings:
        overrides.append(f'<Override PartName="/xl/sharedStrings.xml" ContentType="{main}.sharedStrings+xml"/>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>' + "".join(overrides) + "</Types>"
    )


def write_xlsx_openpyxl(path: Path, rows: Rows, *, sheet_title: str = "Customers") -> Path:
    """The same rows saved by openpyxl, a second real writer with its own habits."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def write_csv(
    path: Path,
    rows: Rows,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    line_ending: str = "\r\n",
    sep_line: bool = False,
) -> Path:
    """CSV as Excel writes it: every field quoted when needed. `encoding="utf-8-sig"` adds the BOM."""
    import csv

    with path.open("w", encoding=encoding, newline="") as handle:
        if sep_line:
            handle.write(f"sep={delimiter}{line_ending}")
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=line_ending)
        writer.writerows([["" if value is None else value for value in row] for row in rows])
    return path


def write_xls(
    path: Path, rows: Rows, *, sheet_title: str = "Customers", hidden_sheets: Mapping[str, Rows] | None = None
) -> Path:
    """An Excel 97–2003 .xls written by xlwt; dates get a date format, as Excel would show them."""
    import xlwt

    workbook = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    sheets = [(name, data, True) for name, data in (hidden_sheets or {}).items()] + [(sheet_title, rows, False)]
    for name, data, hidden in sheets:
        sheet = workbook.add_sheet(name)
        if hidden:
            sheet.visibility = 1
        for r, row in enumerate(data):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write(r, c, value, date_style)
                else:
                    sheet.write(r, c, value)
    workbook.active_sheet = len(sheets) - 1
    workbook.save(str(path))
    return path


def write_ods(
    path: Path, rows: Rows, *, sheet_title: str = "Customers", hidden_sheets: Mapping[str, Rows] | None = None,
    trailing_empty_rows: int = 0,
) -> Path:  # fmt: skip
    """An OpenDocument spreadsheet laid out as LibreOffice saves it (mimetype first, stored).

    `trailing_empty_rows` adds styled empty rows with number-rows-repeated, the
    ODS form of the "dimension bug".
    """
    tables = [(name, data, True) for name, data in (hidden_sheets or {}).items()] + [(sheet_title, rows, False)]
    body = "".join(_ods_table(name, data, hidden, trailing_empty_rows) for name, data, hidden in tables)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.3">'
        '<office:automatic-styles><style:style style:name="ta1" style:family="table">'
        '<style:table-properties table:display="true"/></style:style>'
        '<style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/>'
        "</style:style></office:automatic-styles>"
        f"<office:body><office:spreadsheet>{body}</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


def _ods_table(name: str, rows: Rows, hidden: bool, trailing_empty_rows: int) -> str:
    lines = []
    for row in rows:
        cells = "".join(_ods_cell(value) for value in row)
        lines.append(f"<table:table-row>{cells}</table:table-row>")
    if trailing_empty_rows:
        lines.append(
            f'<table:table-row table:number-rows-repeated="{trailing_empty_rows}">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
    style = "ta2" if hidden else "ta1"
    return f"<table:table table:name={quoteattr(name)} table:style-name=\"{style}\">{''.join(lines)}</table:table>"


def _ods_cell(value: Any) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        return (
            f'<table:table-cell office:value-type="boolean" office:boolean-value="{str(value).lower()}">'
            f"<text:p>{str(value).upper()}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
            f"<text:p>{value.isoformat()}</text:p></table:table-cell>"
        )
    return f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p></table:table-cell>'


def make_zip_bomb(path: Path, *, expanded_bytes: int = 300 * MB) -> Path:
    """A valid-looking xlsx whose sheet part is `expanded_bytes` of spaces deflated about 1000:1.

    Built with zlib directly in 1 MB steps, so making it costs no memory.
    """
    write_xlsx(path, [HEADER, *CUSTOMERS])
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    bomb_part = "xl/worksheets/sheet1.xml"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = parts[bomb_part][: parts[bomb_part].index(b"<sheetData>")] + b"<sheetData>"
    crc = zlib.crc32(head)
    compressed = [compressor.compress(head)]
    block = b" " * MB
    remaining = expanded_bytes - len(head)
    while remaining > 0:
        piece = block[: min(MB, remaining)]
        crc = zlib.crc32(piece, crc)
        compressed.append(compressor.compress(piece))
        remaining -= len(piece)
    compressed.append(compressor.flush())
    data = b"".join(compressed)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            if name != bomb_part:
                archive.writestr(name, content)
        info = zipfile.ZipInfo(bomb_part, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        _write_raw_member(archive, info, data, crc=crc, size=expanded_bytes)
    return path


def _write_raw_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes, *, crc: int, size: int) -> None:
    """Add an already-deflated member (zipfile has no public API for that)."""
    info.CRC, info.compress_size, info.file_size = crc, len(data), size
    info.header_offset = archive.fp.tell()
    archive.fp.write(info.FileHeader(zip64=size > 0xFFFFFFFF))
    archive.fp.write(data)
    archive.start_dir = archive.fp.tell()
    archive.filelist.append(info)
    archive.NameToInfo[info.filename] = info


_BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10))
    + "]>"
)


def make_entity_expansion_xlsx(path: Path, *, part: str = "sheet", external: bool = False) -> Path:
    """An xlsx whose `part` ("sheet", "sharedStrings" or "workbook") declares entities.

    Default: billion laughs (nine nested levels, 10^9 "lol"s if expanded). With
    `external=True`: an external entity pointing at /etc/passwd.
    """
    doctype = (
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' if external else _BILLION_LAUGHS
    )
    reference = "&xxe;" if external else "&lol9;"
    write_xlsx(path, [HEADER, *CUSTOMERS])
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name).decode() for name in original.namelist()}
    name = {
        "sheet": "xl/worksheets/sheet1.xml",
        "sharedStrings": "xl/sharedStrings.xml",
        "workbook": "xl/workbook.xml",
    }[part]
    declaration, _, rest = parts[name].partition("\n")
    if part == "sheet":
        rest = rest.replace('<row r="2">', f'<row r="2"><c r="G2" t="inlineStr"><is><t>{reference}</t></is></c>', 1)
    elif part == "sharedStrings":
        rest = rest.replace("<t>PM1 KWAME</t>", f"<t>{reference}</t>", 1)
    else:
        rest = rest.replace('name="Customers"', f'name="{reference}"', 1)
    parts[name] = f"{declaration}\n{doctype}{rest}"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, content in parts.items():
            archive.writestr(member, content)
    return path


def make_dimension_bug_xlsx(path: Path, rows: Rows, *, last_row: int = 1_048_576) -> Path:
    """An xlsx whose dimension claims A1:XFD{last_row} and whose sheet is padded with styled empty rows to it.

    What Excel saves after someone formats whole columns: the real rows, then
    hundreds of thousands of `<row r=".." s="1" customFormat="1"/>` and a few
    styled empty cells, all of which a reader must skip quickly.
    """
    write_xlsx(path, rows, dimension=f"A1:XFD{last_row}")
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    end = sheet.index(b"</sheetData>")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            if name != "xl/worksheets/sheet1.xml":
                archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            member.write(sheet[:end])
            batch = []
            for number in range(len(rows) + 1, last_row + 1):
                if number % 1000 == 0:
                    batch.append(f'<row r="{number}" s="1" customFormat="1"><c r="A{number}" s="1"/>'
                                 f'<c r="XFD{number}" s="1"/></row>')  # fmt: skip
                else:
                    batch.append(f'<row r="{number}" s="1" customFormat="1"/>')
                if len(batch) >= 10_000:
                    member.write("".join(batch).encode())
                    batch.clear()
            member.write("".join(batch).encode())
            member.write(sheet[end:])
    return path


def make_encrypted_xlsx(path: Path, rows: Rows = (HEADER, *CUSTOMERS), *, password: str = "secret") -> Path:  # noqa: S107
    """A password-protected xlsx as Excel makes it: an OLE container with EncryptedPackage (msoffcrypto-tool)."""
    import msoffcrypto.format.ooxml

    plain = path.with_suffix(".plain.xlsx")
    write_xlsx(plain, rows)
    with plain.open("rb") as source, path.open("wb") as target:
        msoffcrypto.format.ooxml.OOXMLFile(source).encrypt(password, target)
    plain.unlink()
    return path



# --- OLE2 compound files (MS-CFB): the container of .xls and of password-protected .xlsx -------------------------

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OLE_FREE, OLE_END_OF_CHAIN, OLE_FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_OLE_HEADER = struct.Struct("<8s16sHHHHH6sLLLLLLLLL")
# The header fields a hostile builder may override, by name, in the order of _OLE_HEADER after the reserved bytes.
_OLE_FIELDS = ("directory_sectors", "fat_sectors", "first_directory", "transaction", "mini_cutoff",
               "first_mini_fat", "mini_fat_sectors", "first_difat", "difat_sectors")  # fmt: skip


def _ole_entry(name: str, kind: int, *, right: int = OLE_FREE, child: int = OLE_FREE, start: int, size: int) -> bytes:
    """One 128-byte directory entry (MS-CFB 2.6): kind 5 root, 2 stream; siblings chained to the right, all black."""
    encoded = (name + "\0").encode("utf-16-le")
    return struct.pack(
        "<64sHBBLLL16sLQQLQ", encoded, len(encoded), kind, 1, OLE_FREE, right, child, bytes(16), 0, 0, 0, start, size
    )


def write_compound_file(
    path: Path,
    streams: Mapping[str, bytes] = MappingProxyType({"Workbook": b""}),
    *,
    sector_shift: int = 9,
    header: Mapping[str, int] | None = None,
    fat_ids: Sequence[int] | None = None,
    fat: Mapping[int, int] | None = None,
    appended: Sequence[Sequence[int]] = (),
    padding: int = 0,
) -> Path:
    """A compound file laid out as sector 0 the FAT, sector 1 the directory, then each stream, then `appended`.

    Streams are stored in whole sectors (non-empty ones padded to 4,096 bytes so
    none belongs in the mini stream); an empty stream has no sectors. Hostile
    files come from the overrides: `header` fields by name (`fat_sectors`,
    `first_difat`, `difat_sectors`, `first_directory`, `major_version`,
    `sector_shift` …), `fat_ids` for the header's list of FAT sectors, `fat`
    entries by sector id, and `appended` sectors given as their 32-bit words
    (a DIFAT sector, a second directory sector), numbered after the streams;
    `padding` empty sectors at the end make the file as big as its counts need.
    """
    size = 1 << sector_shift
    words = size // 4
    names = list(streams)
    assert len(names) < size // 128, "one directory sector"
    data = [payload.ljust(4096, b"\0") if payload else b"" for payload in streams.values()]
    entries = [_ole_entry("Root Entry", 5, child=1 if names else OLE_FREE, start=OLE_END_OF_CHAIN, size=0)]
    table = [OLE_FAT_SECTOR, OLE_END_OF_CHAIN]
    for number, (name, payload) in enumerate(zip(names, data, strict=True), start=1):
        count = -(-len(payload) // size)
        start = len(table) if count else OLE_END_OF_CHAIN
        table += [*range(len(table) + 1, len(table) + count), OLE_END_OF_CHAIN][:count]
        right = number + 1 if number < len(names) else OLE_FREE
        entries.append(_ole_entry(name, 2, right=right, start=start, size=len(payload)))
    table += [OLE_FREE] * len(appended)
    assert len(table) <= words, "one FAT sector"
    table += [OLE_FREE] * (words - len(table))
    for sid, value in (fat or {}).items():
        table[sid] = value
    fields = {"directory_sectors": 0, "fat_sectors": 1, "first_directory": 1, "transaction": 0, "mini_cutoff": 4096,
              "first_mini_fat": OLE_END_OF_CHAIN, "mini_fat_sectors": 0, "first_difat": OLE_END_OF_CHAIN,
              "difat_sectors": 0}  # fmt: skip
    overrides = dict(header or {})
    major = overrides.pop("major_version", 3 if sector_shift == 9 else 4)
    shift = overrides.pop("sector_shift", sector_shift)
    fields.update(overrides)
    listed = list(fat_ids if fat_ids is not None else [0])
    head = _OLE_HEADER.pack(
        OLE_MAGIC, bytes(16), 0x3E, major, 0xFFFE, shift, 6, bytes(6), *(fields[f] for f in _OLE_FIELDS)
    )
    head += struct.pack("<109L", *(listed + [OLE_FREE] * (109 - len(listed))))
    sectors = [
        head.ljust(size, b"\0"),
        struct.pack(f"<{words}L", *table),
        b"".join(entries).ljust(size, b"\0"),
        *(payload for payload in data if payload),
        *(struct.pack(f"<{len(sector)}L", *sector).ljust(size, b"\0") for sector in appended),
        bytes(size * padding),
    ]
    path.write_bytes(b"".join(sectors))
    return path


# A DIFAT chain of 2^25 sectors lists 109 + 127 × 2^25 FAT sectors: counts that agree, so only a bound on the
# file's size can tell them for lies (the FAT of a 2 KB file fits in one sector).
_LOOPING_DIFAT = {"first_difat": 2, "difat_sectors": 1 << 25, "fat_sectors": 109 + 127 * (1 << 25)}


def _difat_loop(listing: int) -> Callable[[Path], Path]:
    """A DIFAT sector (sector 2) whose next-sector pointer is itself, listing `listing` 127 times, in a 2 KB file."""
    return lambda path: write_compound_file(path, header=_LOOPING_DIFAT, appended=[[listing] * 127 + [2]])


# Hand-made compound files of 1.5–2.5 KB whose header or chains lie, each a way to make a naive reader of the
# directory loop for minutes or allocate without bound. Each must be refused as damaged, quickly.
HOSTILE_COMPOUND_FILES: dict[str, Callable[[Path], Path]] = {
    "a DIFAT chain pointing at itself, listing no FAT sector": _difat_loop(OLE_FREE),
    "a DIFAT chain pointing at itself, listing the FAT again and again": _difat_loop(0),
    "two DIFAT sectors pointing at each other": lambda path: write_compound_file(
        path, header=_LOOPING_DIFAT, appended=[[0] * 127 + [3], [0] * 127 + [2]]
    ),
    "a header claiming 2^32-1 FAT sectors": lambda path: write_compound_file(path, header={"fat_sectors": 0xFFFFFFFF}),
    "a header claiming 2^32-1 DIFAT sectors": lambda path: write_compound_file(
        path, header={"first_difat": 0, "difat_sectors": 0xFFFFFFFF}
    ),
    # Counts that fit a 125 KB file, and a DIFAT chain that loops: only the revisit gives it away.
    "a DIFAT chain pointing at itself, its counts fitting the file": lambda path: write_compound_file(
        path, header={"first_difat": 2, "difat_sectors": 2, "fat_sectors": 240}, appended=[[0] * 127 + [2]], padding=240
    ),
    "a FAT sector beyond the end of the file": lambda path: write_compound_file(
        path, header={"fat_sectors": 2}, fat_ids=[0, 4000]
    ),
    "the FAT listed twice": lambda path: write_compound_file(path, header={"fat_sectors": 2}, fat_ids=[0, 0]),
    "a directory chain looping on itself": lambda path: write_compound_file(path, fat={1: 1}),
    "a directory chain looping through two sectors": lambda path: write_compound_file(
        path, fat={1: 2, 2: 1}, appended=[[0] * 128]
    ),
    "a directory chain longer than the file": lambda path: write_compound_file(path, fat={1: 4000}),
    "a directory starting beyond the end of the file": lambda path: write_compound_file(
        path, header={"first_directory": 0x7FFFFFFF}
    ),
    "sector shift 12 in a 1.5 KB file": lambda path: write_compound_file(
        path, header={"sector_shift": 12, "major_version": 4}
    ),
    "sector shift 65535": lambda path: write_compound_file(path, header={"sector_shift": 0xFFFF}),
}


def truncate(path: Path, *, keep: float = 0.5, target: Path | None = None) -> Path:
    """A copy of `path` cut to `keep` of its bytes (an interrupted upload), at `target` or in place."""
    data = path.read_bytes()
    target = target or path
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def make_png(path: Path) -> Path:
    """A real 1×1 PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def make_pdf(path: Path) -> Path:
    """A minimal one-page PDF."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path.write_bytes(out.getvalue())
    return path


def copy_as(path: Path, target: Path) -> Path:
    """The same bytes under another name (a PNG renamed .xlsx, say)."""
    shutil.copyfile(path, target)
    return target
