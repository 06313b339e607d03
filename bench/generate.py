"""Make big customer spreadsheets the way Excel saves them, fast, without holding them in memory.

The benchmark imports 7,000, 100,000 and 1,048,575-row files; the reader's memory
bound only means something if the file looks like Excel's own output: an xlsx
whose text lives in a shared-strings table (`t="s"` cells pointing into
xl/sharedStrings.xml), `spans` and `x14ac:dyDescent` on every row, phone numbers
partly stored as numbers with the leading zero gone. openpyxl would build the
workbook in memory and take minutes, so the XML is written here by hand and
streamed into the zip a batch of rows at a time.

Usage: `python bench/generate.py out.xlsx 100000 [--seed 0] [--error-rate 0.02] [--title]`
(a `.csv` path writes CSV instead).
"""

import argparse
import csv
import random
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

EXCEL_MAX_ROWS = 1_048_576
HEADER = ("Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region")
TITLE = "PRIMEPRE LOGISTICS - CUSTOMER LIST"

FIRST_NAMES = (
    "Kwame", "Ama", "Kofi", "Akua", "Yaw", "Abena", "Kwabena", "Adwoa", "Kojo", "Efua", "Kwaku", "Akosua",
    "Kwasi", "Esi", "Yaa", "Fiifi", "Nana", "Afua", "Ekow", "Araba", "Kwadwo", "Adjoa", "Kobina", "Ewurabena",
    "Selorm", "Dzifa", "Elikem", "Mawuli", "Fatima", "Abdul", "Ibrahim", "Mariam", "Samuel", "Grace", "Emmanuel",
    "Mercy", "Daniel", "Joyce", "Michael", "Patience", "Ɛfua", "Nii", "Naa", "Dede", "Tetteh",
)  # fmt: skip
LAST_NAMES = (
    "Mensah", "Owusu", "Boateng", "Asante", "Osei", "Agyeman", "Appiah", "Darko", "Addo", "Ofori", "Amoah",
    "Badu", "Quaye", "Tetteh", "Nkrumah", "Acheampong", "Sarpong", "Frimpong", "Opoku", "Antwi", "Ansah",
    "Amponsah", "Danso", "Adjei", "Kuffour", "Gyamfi", "Bonsu", "Lamptey", "Quartey", "Aryee", "Annan",
    "Yeboah", "Mohammed", "Abubakar", "Issah", "Agbeko", "Kpodo", "Dzokoto", "Ɔpoku Ware", "Van-Dyck",
)  # fmt: skip
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "primepre.com", "icloud.com")
REGIONS = (
    "Greater Accra", "Ashanti", "Central", "Eastern", "Western", "Volta", "Northern", "Upper East",
    "Upper West", "Bono", "Bono East", "Ahafo", "Oti", "Savannah", "North East", "Western North",
    "greater accra", "ASHANTI", "",
)  # fmt: skip
MARK_PREFIXES = ("PM", "PMG", "PMK", "PM4", "PMA", "PMT")
# Mobile prefixes every 7-digit subscriber number is valid under (libphonenumber's GH metadata).
MOBILE_PREFIXES = ("20", "23", "24", "26", "27", "28", "50", "53", "54", "55", "56", "57")
# Multiplying by a number coprime with 10**7 permutes the subscriber numbers: unique, yet not sequential.
_SUBSCRIBER_STEP = 7_919_393
_SUBSCRIBERS = 10_000_000
# Twi letters in names become their nearest ASCII letter in addresses, as people type them.
_ASCII_EMAIL = str.maketrans({"ɔ": "o", "ɛ": "e"})
# Rows handed to zlib at a time: large enough to amortise, small enough to stay a few MB.
_BATCH = 5_000

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
<Override PartName="/xl/sharedStrings.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>\
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>\
<Override PartName="/docProps/app.xml" \
ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_NS_PKG_REL}">\
<Relationship Id="rId3" Type="{_NS_R}/extended-properties" Target="docProps/app.xml"/>\
<Relationship Id="rId2" \
Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" \
Target="docProps/core.xml"/>\
<Relationship Id="rId1" Type="{_NS_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">\
<Application>Microsoft Excel</Application><AppVersion>16.0300</AppVersion></Properties>"""
_CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" \
xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Primepre</dc:creator>\
<dcterms:created xsi:type="dcterms:W3CDTF">2024-01-15T09:00:00Z</dcterms:created></cp:coreProperties>"""
_WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{_NS}" xmlns:r="{_NS_R}"><fileVersion appName="xl" lastEdited="7" lowestEdited="7" \
rupBuild="27328"/><workbookPr defaultThemeVersion="166925"/><bookViews><workbookView xWindow="-120" \
yWindow="-120" windowWidth="29040" windowHeight="15840"/></bookViews><sheets>\
<sheet name="Customers" sheetId="1" r:id="rId1"/></sheets><calcPr calcId="191029"/></workbook>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_NS_PKG_REL}">\
<Relationship Id="rId3" Type="{_NS_R}/styles" Target="styles.xml"/>\
<Relationship Id="rId4" Type="{_NS_R}/sharedStrings" Target="sharedStrings.xml"/>\
<Relationship Id="rId1" Type="{_NS_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"""
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_NS}"><fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>\
</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""
_SHEET_HEAD = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="{_NS}" xmlns:r="{_NS_R}" \
xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac xr xr2 xr3" \
xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" \
xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" \
xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2" \
xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3" \
xr:uid="{{00000000-0001-0000-0000-000000000000}}"><dimension ref="A1:F@LAST_ROW@"/><sheetViews>\
<sheetView tabSelected="1" workbookViewId="0"/></sheetViews>\
<sheetFormatPr defaultRowHeight="15" x14ac:dyDescent="0.25"/><cols><col min="1" max="1" width="16" \
customWidth="1"/><col min="4" max="4" width="32" customWidth="1"/><col min="5" max="5" width="16" \
customWidth="1"/></cols><sheetData>"""
_SHEET_TAIL = """</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" \
footer="0.3"/></worksheet>"""
_COLUMN_LETTERS = "ABCDEF"


_EMAIL_LOCAL: dict[tuple[str, str], str] = {}


def _email_local(first: str, last: str) -> str:
    local = f"{first}.{last}".lower().replace(" ", "").translate(_ASCII_EMAIL)
    _EMAIL_LOCAL[(first, last)] = local
    return local


def customer_rows(rows: int, *, seed: int = 0, error_rate: float = 0.0) -> Iterator[tuple[str | int, ...]]:
    """`rows` customers as spreadsheet cells, deterministic for a seed, unique marks/phones/emails.

    About a third of the phones are numbers with the leading zero dropped (what
    Excel does to 0241234567 typed into a General cell); the rest are text in the
    ways people write them. With `error_rate` > 0 that share of rows carries one
    mistake the validator must catch (bad phone, missing mark, bad email, unknown
    region, a mark repeated from the row before, a missing first name).
    """
    rng = random.Random(seed)
    random_ = rng.random

    def choice(pool: tuple[str, ...]) -> str:
        # random.choice is three Python calls deep; this is one, and the generator's budget is per row.
        return pool[int(random_() * len(pool))]

    prefixes = MOBILE_PREFIXES
    n_prefixes = len(prefixes)
    offset = rng.randrange(_SUBSCRIBERS)
    previous_mark = "PM0"
    for i in range(rows):
        first, last = choice(FIRST_NAMES), choice(LAST_NAMES)
        mark = f"{choice(MARK_PREFIXES)} {first.upper()}{i + 1}"
        # Unique per row: the subscriber number is a permutation of i (and the prefix cycles on top).
        prefix = prefixes[i % n_prefixes]
        subscriber = (i * _SUBSCRIBER_STEP + offset) % _SUBSCRIBERS
        style = random_()
        phone: str | int
        if style < 0.35:
            phone = int(f"{prefix}{subscriber:07d}")
        elif style < 0.7:
            phone = f"0{prefix}{subscriber:07d}"
        elif style < 0.85:
            digits = f"{subscriber:07d}"
            phone = f"0{prefix} {digits[:3]} {digits[3:]}"
        else:
            phone = f"+233 {prefix} {subscriber:07d}"
        local = _EMAIL_LOCAL.get((first, last)) or _email_local(first, last)
        email = "" if style > 0.93 else f"{local}{i + 1}@{choice(DOMAINS)}"
        region = choice(REGIONS)
        if error_rate and random_() < error_rate:
            kind = rng.randrange(6)
            if kind == 0:
                phone = "12345"
            elif kind == 1:
                mark = ""
            elif kind == 2:
                email = f"{first.lower()}@"
            elif kind == 3:
                region = "Lagos"
            elif kind == 4:
                mark = previous_mark
            else:
                first = ""
        previous_mark = mark
        yield (mark, first, last, email, phone, region)


class _SharedStringsWriter:
    """Assigns shared-string indexes as Excel does, keeping only the repeated texts in memory.

    Names, regions and the header repeat and share one entry; marks, emails and
    phone texts are unique by construction, so they just append, and the
    million-row file needs no dictionary of millions of strings.
    """

    def __init__(self) -> None:
        self.repeated: dict[str, int] = {}
        self.unique = 0  # the sst's uniqueCount
        self.cells = 0  # the sst's count: string cells in the sheet
        self.pending: list[str] = []

    def index(self, text: str, *, repeated: bool) -> int:
        self.cells += 1
        if repeated and (known := self.repeated.get(text)) is not None:
            return known
        index = self.unique
        self.unique += 1
        if repeated:
            self.repeated[text] = index
        # Only names can hold markup characters (none do today); marks, emails and phones never do.
        self.pending.append(f"<si><t>{escape(text) if repeated else text}</t></si>")
        return index

    def take_pending(self) -> bytes:
        """The <si> items added since the last call, as UTF-8."""
        data = "".join(self.pending).encode()
        self.pending.clear()
        return data


def generate_customers_xlsx(
    path: Path | str,
    rows: int,
    *,
    seed: int = 0,
    error_rate: float = 0.0,
    title: bool = False,
    compresslevel: int = 6,
) -> Path:
    """Write an Excel-style xlsx of `rows` customers (plus a header, and a title block if asked).

    Streams: memory stays a few MB whatever `rows` is. The shared-strings table
    goes to a temporary file while the sheet is written, then is copied into the
    zip, because a zip can only be written one member at a time.
    """
    path = Path(path)
    first_data_row = 4 if title else 2
    last_row = first_data_row + rows - 1
    if last_row > EXCEL_MAX_ROWS:
        raise ValueError(f"An Excel sheet holds at most {EXCEL_MAX_ROWS:,} rows; {last_row:,} asked for.")

    with tempfile.TemporaryFile(dir=path.parent) as sst_body:
        strings = _SharedStringsWriter()

        def row_xml(number: int, cells: tuple[str | int, ...], repeated: tuple[bool, ...], style: str = "") -> str:
            parts = [f'<row r="{number}" spans="1:6"{style} x14ac:dyDescent="0.25">']
            for column, value in enumerate(cells):
                ref = f"{_COLUMN_LETTERS[column]}{number}"
                if isinstance(value, int):
                    parts.append(f'<c r="{ref}"><v>{value}</v></c>')
                elif value:
                    parts.append(f'<c r="{ref}" t="s"><v>{strings.index(value, repeated=repeated[column])}</v></c>')
            parts.append("</row>")
            return "".join(parts)

        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
            archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
            archive.writestr("_rels/.rels", _ROOT_RELS)
            archive.writestr("docProps/app.xml", _APP)
            archive.writestr("docProps/core.xml", _CORE)
            archive.writestr("xl/workbook.xml", _WORKBOOK)
            archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            archive.writestr("xl/styles.xml", _STYLES)
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                sheet.write(_SHEET_HEAD.replace("@LAST_ROW@", str(last_row)).encode())
                lines: list[str] = []
                if title:
                    lines.append(
                        f'<row r="1" spans="1:6" x14ac:dyDescent="0.25"><c r="A1" t="s">'
                        f"<v>{strings.index(TITLE, repeated=True)}</v></c></row>"
                    )
                header_row = first_data_row - 1
                lines.append(row_xml(header_row, HEADER, (True,) * 6, style=' s="1" customFormat="1"'))
                names_repeat = (False, True, True, False, False, True)
                for offset, cells in enumerate(customer_rows(rows, seed=seed, error_rate=error_rate)):
                    lines.append(row_xml(first_data_row + offset, cells, names_repeat))
                    if len(lines) >= _BATCH:
                        sheet.write("".join(lines).encode())
                        sst_body.write(strings.take_pending())
                        lines.clear()
                sheet.write("".join(lines).encode())
                sheet.write(_SHEET_TAIL.encode())
                sst_body.write(strings.take_pending())
            sst_body.seek(0)
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as sst:
                sst.write(
                    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_NS}" '
                    f'count="{strings.cells}" uniqueCount="{strings.unique}">'.encode()
                )
                shutil.copyfileobj(sst_body, sst, 1 << 20)
                sst.write(b"</sst>")
    return path


def generate_customers_csv(
    path: Path | str,
    rows: int,
    *,
    seed: int = 0,
    error_rate: float = 0.0,
    title: bool = False,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
) -> Path:
    """Write the same customers as CSV, as Excel's "CSV UTF-8" does (BOM, CRLF) unless told otherwise."""
    path = Path(path)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if title:
            writer.writerows([(TITLE,), ()])
        writer.writerow(HEADER)
        writer.writerows(customer_rows(rows, seed=seed, error_rate=error_rate))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("rows", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--title", action="store_true", help="a title row and a blank row above the header")
    args = parser.parse_args()
    started = time.perf_counter()
    generate = generate_customers_csv if args.path.suffix.lower() == ".csv" else generate_customers_xlsx
    generate(args.path, args.rows, seed=args.seed, error_rate=args.error_rate, title=args.title)
    size_mb = args.path.stat().st_size / 1024 / 1024
    print(f"{args.path}: {args.rows:,} rows, {size_mb:.1f} MB in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
