"""What kind of file an upload really is, and whether it is safe to open.

The type comes from the bytes, never the name: admins rename files, browsers
send any content type. Every check here reads a few KB, the zip's central
directory or the compound file's directory, and every count or size a file
declares is checked against the file's own size before it is used, so a
hostile file is refused before any parser or calamine sees it.
"""

import logging
import struct
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from users.imports.errors import ImportRefused
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

MB = 1024 * 1024
SNIFF_BYTES = 64 * 1024
# Real workbooks hold a few dozen parts; a central directory of thousands is an attack on zipfile's memory.
MAX_ZIP_MEMBERS = 5_000
# The ratio test only means something for members big enough to hurt: a 50 KB styles.xml may compress 300:1.
RATIO_CHECK_MIN_BYTES = 1 * MB

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# What reading a damaged zip can raise: bad CRCs and headers, corrupt deflate data, truncation, and
# NotImplementedError for compression methods or flags no spreadsheet writer uses.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError)
SAVE_AS_XLSX = "Save it from Excel as an Excel Workbook (.xlsx) or CSV and upload that."


class SpreadsheetFormat(StrEnum):
    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"
    CSV = "csv"


@dataclass(frozen=True)
class DetectedFile:
    """A file that passed the checks: its format, size and (for zips) its member names."""

    path: Path
    format: SpreadsheetFormat
    size: int
    members: frozenset[str] = frozenset()


# Leading bytes of files people upload by mistake, and how to name them in a sentence.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"{\\rtf", "an RTF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PK\x05\x06", "an empty ZIP archive"),
)
# Zip parts that give away what an OOXML/ODF package is when it is not a spreadsheet we read.
_ZIP_KINDS: tuple[tuple[str, str], ...] = (
    ("word/document.xml", "a Word document (.docx)"),
    ("ppt/presentation.xml", "a PowerPoint presentation (.pptx)"),
    ("xl/workbook.bin", f"an Excel Binary Workbook (.xlsb). {SAVE_AS_XLSX}"),
)


def detect_format(path: Path) -> DetectedFile:
    """Sniff `path` and run the safety checks; the detected format, or ImportRefused.

    Refuses EMPTY, TOO_LARGE, UNSUPPORTED_TYPE (saying what the file looks like),
    DAMAGED, ENCRYPTED and UNSAFE (decompression bombs, absurd zip directories).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportRefused(
            FileErrorCode.FILE_MISSING, "The uploaded file is no longer stored on the server."
        ) from None
    if size == 0:
        raise ImportRefused(FileErrorCode.EMPTY, "The file is empty (0 bytes).")
    if size > settings.IMPORT_MAX_UPLOAD_SIZE:
        raise ImportRefused(
            FileErrorCode.TOO_LARGE,
            f"The file is {size / MB:.1f} MB; the largest accepted is {settings.IMPORT_MAX_UPLOAD_SIZE / MB:.0f} MB.",
        )
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        if head.startswith(ZIP_MAGIC):
            members = _check_zip(handle, size)
            return DetectedFile(path, _zip_format(path, members), size, members)
        if head.startswith(OLE_MAGIC):
            _check_ole(handle, size)
            return DetectedFile(path, SpreadsheetFormat.XLS, size)
    for magic, description in _MAGIC:
        if head.startswith(magic):
            raise _unsupported(description)
    if head[4:8] == b"ftyp":
        raise _unsupported("a video or HEIC photo")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise _unsupported("a WebP image")
    if description := _describe_text(head):
        raise _unsupported(description)
    return DetectedFile(path, SpreadsheetFormat.CSV, size)


def _unsupported(description: str) -> ImportRefused:
    return ImportRefused(
        FileErrorCode.UNSUPPORTED_TYPE,
        f"This file is not a spreadsheet: it looks like {description}. "
        "Upload an Excel workbook (.xlsx, .xls), an OpenDocument spreadsheet (.ods) or a CSV file.",
    )


def _describe_text(head: bytes) -> str | None:
    """None when the head reads as delimited text; else what the file looks like instead."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 text with a BOM: Excel's "Unicode Text" export.
    if b"\x00" in head:
        return "a binary file of a kind we can't read"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start[:1024]:
        return f"a web page (HTML), which Excel sometimes saves as .xls. {SAVE_AS_XLSX}"
    if start.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in start:
            return f"an Excel 2003 XML Spreadsheet. {SAVE_AS_XLSX}"
        return "an XML document"
    if start.startswith((b'{"', b"[{", b"[[", b'["')):
        return "a JSON document"
    text = head.decode("utf-8", errors="ignore") if _is_utf8(head) else head.decode("cp1252", errors="replace")
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\t\r\n\f")
    if controls > len(text) // 100:
        return "a binary file of a kind we can't read"
    return None


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sniff window is still UTF-8.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _zip_format(path: Path, members: frozenset[str]) -> SpreadsheetFormat:
    try:
        return _zip_kind(path, members)
    except ZIP_READ_ERRORS as exc:
        raise _damaged() from exc


def _zip_kind(path: Path, members: frozenset[str]) -> SpreadsheetFormat:
    if "xl/workbook.xml" in members or _root_document(path, members).startswith("xl/"):
        return SpreadsheetFormat.XLSX
    if "mimetype" in members:
        # Only the start: the member may declare (and inflate to) a gigabyte, which the zip checks allow.
        with zipfile.ZipFile(path) as archive, archive.open("mimetype") as member:
            mimetype = member.read(200).strip()
        if mimetype == ODS_MIMETYPE:
            return SpreadsheetFormat.ODS
        kind = mimetype.decode("ascii", errors="replace").rsplit(".", 1)[-1]
        raise _unsupported(f"an OpenDocument {kind} file, not a spreadsheet")
    for member, description in _ZIP_KINDS:
        if member in members:
            raise _unsupported(description)
    raise _unsupported("a ZIP archive")


def _root_document(path: Path, members: frozenset[str]) -> str:
    """The officeDocument part _rels/.rels points at ("" if none): some writers don't use xl/workbook.xml."""
    if "_rels/.rels" not in members:
        return ""
    from users.imports.readers.xml import parse_relationships

    with zipfile.ZipFile(path) as archive:
        for target, rel_type in parse_relationships(archive, "_rels/.rels", base="").values():
            if rel_type.endswith("/officeDocument"):
                return target
    return ""


def _check_zip(handle: BinaryIO, size: int) -> frozenset[str]:
    """Refuse damaged, encrypted and bomb-like zips, reading only the central directory.

    zipfile trusts the declared sizes only as an upper bound (it stops at the
    declared size and then checks the CRC), so bounding the declared sizes here
    bounds what any later read can inflate to.
    """
    directory_bytes, entries = _zip_directory_size(handle, size)
    if entries > MAX_ZIP_MEMBERS or directory_bytes > MAX_ZIP_MEMBERS * 1024:
        raise ImportRefused(
            FileErrorCode.UNSAFE,
            f"The file is a package of {entries:,} parts; a spreadsheet has a few dozen. It was not opened.",
        )
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
    except (*ZIP_READ_ERRORS, ValueError) as exc:
        raise _damaged() from exc
    limit = settings.IMPORT_MAX_UNCOMPRESSED_BYTES
    ratio_limit = settings.IMPORT_MAX_COMPRESSION_RATIO
    total = 0
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _damaged()
        if info.flag_bits & 0x1:
            raise ImportRefused(
                FileErrorCode.ENCRYPTED,
                "The file is password-protected. Remove the password in Excel (File → Info → Protect Workbook) "
                "and upload it again.",
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limit or total > limit:
            raise _bomb(f"it would expand to more than {limit / MB:,.0f} MB")
        if info.file_size >= RATIO_CHECK_MIN_BYTES and ratio > ratio_limit:
            raise _bomb(f"one part expands {ratio:,.0f} times (at most {ratio_limit} is allowed)")
    return frozenset(info.filename for info in infos)


def _bomb(why: str) -> ImportRefused:
    logger.warning("Refused a zip that looks like a decompression bomb: %s", why)
    return ImportRefused(FileErrorCode.UNSAFE, f"The file was not opened because {why}, which spreadsheets never do.")


def _damaged() -> ImportRefused:
    return ImportRefused(
        FileErrorCode.DAMAGED,
        "The file is damaged or incomplete (perhaps the upload was cut short). Open it in Excel, save it again "
        "and upload the new copy.",
    )


def _zip_directory_size(handle: BinaryIO, size: int) -> tuple[int, int]:
    """(central directory bytes, entries) from the end-of-central-directory record, before zipfile reads it all."""
    tail_size = min(size, 22 + 65_535)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _damaged()
    _, _, _, _, entries, directory_bytes, _, _ = struct.unpack("<4s4H2LH", tail[at : at + 22])
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        # Zip64: the real counts are in the zip64 end record, located just before.
        locator = tail[at - 20 : at] if at >= 20 else b""
        if not locator.startswith(b"PK\x06\x07"):
            raise _damaged()
        (record_offset,) = struct.unpack("<Q", locator[8:16])
        if record_offset > size - 56:
            raise _damaged()
        handle.seek(record_offset)
        record = handle.read(56)
        if not record.startswith(b"PK\x06\x06"):
            raise _damaged()
        entries, directory_bytes = struct.unpack("<QQ", record[32:48])
    return directory_bytes, entries


def _check_ole(handle: BinaryIO, size: int) -> None:
    """Refuse OLE files that aren't Excel 97–2003 workbooks; an EncryptedPackage is a password-protected xlsx."""
    try:
        names = ole_stream_names(handle, size=size)
    except ValueError as exc:
        logger.info("Refused a damaged compound file: %s", exc)
        raise _damaged() from exc
    if "encryptedpackage" in names:
        raise ImportRefused(
            FileErrorCode.ENCRYPTED,
            "The file is password-protected. Remove the password in Excel (File → Info → Protect Workbook → "
            "Encrypt with Password, clear it) and upload it again.",
        )
    if "workbook" in names or "book" in names:
        return
    if "worddocument" in names:
        raise _unsupported("a Word 97–2003 document (.doc)")
    if "powerpoint document" in names:
        raise _unsupported("a PowerPoint 97–2003 presentation (.ppt)")
    raise _unsupported("an Office file that is not a spreadsheet")


# Sector ids at and above this are markers (MS-CFB 2.1): free, end of chain, FAT or DIFAT sector.
_MAX_REGULAR_SECTOR = 0xFFFFFFFA
_FREE, _END_OF_CHAIN, _NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF
_ENTRY_BYTES = 128
# An Excel workbook's directory holds a handful of entries (a few dozen with macros or embedded objects); 1 MB
# of directory is 8,192 entries, far beyond any workbook, and bounds the work a looping tree can ask for.
_MAX_DIRECTORY_BYTES = 1 * MB


def ole_stream_names(handle: BinaryIO, *, size: int) -> set[str]:
    """The lower-cased names at the top of an OLE2 compound file's directory (MS-CFB), or ValueError.

    Just enough of the format to tell a workbook from an encrypted package or a
    Word file. Nothing the header declares is trusted before it is checked
    against the file's `size`: the number of sectors the file can hold bounds
    every count and every chain (FAT sector list, DIFAT chain, directory chain,
    directory tree), and a chain or tree that visits a sector or an entry twice
    is refused, so a 2 KB file can cost at most a few reads. olefile was
    measured against the same hostile files and loops on a self-referencing
    DIFAT whose counts agree (docs/architecture.md, "Reading spreadsheets").
    """
    return _CompoundFile(handle, size).top_level_names()


class _CompoundFile:
    """The header, FAT sector list and directory of a compound file, each checked against the file's size."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        handle.seek(0)
        header = handle.read(512)
        if len(header) < 512 or not header.startswith(OLE_MAGIC):
            raise ValueError("short OLE header")
        sector_shift = struct.unpack_from("<H", header, 0x1E)[0]
        if sector_shift not in (9, 12):
            raise ValueError(f"sector shift {sector_shift}")
        self.handle = handle
        self.sector_size = 1 << sector_shift
        self.words = self.sector_size // 4
        # Sector 0 starts after the header's sector; a short last sector is read padded (some writers cut it).
        self.sectors = -(-size // self.sector_size) - 1
        if self.sectors < 2:
            raise ValueError("no room for a FAT and a directory")
        fat_count, self.first_directory = struct.unpack_from("<LL", header, 0x2C)
        first_difat, difat_count = struct.unpack_from("<LL", header, 0x44)
        if not 0 < fat_count <= self.sectors or difat_count > self.sectors:
            raise ValueError(f"{fat_count} FAT and {difat_count} DIFAT sectors declared in {self.sectors} sectors")
        listed = list(struct.unpack_from("<109L", header, 0x4C))
        next_difat, visited = first_difat, set()
        while len(listed) < fat_count and next_difat not in (_END_OF_CHAIN, _FREE):
            self._check_new(next_difat, visited, "DIFAT")
            if len(visited) > difat_count:
                raise ValueError("DIFAT chain longer than declared")
            ids = struct.unpack(f"<{self.words}L", self.sector(next_difat))
            listed.extend(ids[:-1])
            next_difat = ids[-1]
        self.fat_sectors = listed[:fat_count]
        if len(self.fat_sectors) < fat_count:
            raise ValueError("DIFAT chain shorter than declared")
        seen: set[int] = set()
        for sid in self.fat_sectors:
            self._check_new(sid, seen, "FAT sector list")

    def _check_new(self, sid: int, visited: set[int], what: str) -> None:
        """Refuse a sector id outside the file, or one this chain has visited already."""
        if sid >= self.sectors:
            raise ValueError(f"{what} points at sector {sid:#x}, outside the file's {self.sectors}")
        if sid in visited:
            raise ValueError(f"{what} visits sector {sid:#x} twice")
        visited.add(sid)

    def sector(self, sid: int) -> bytes:
        self.handle.seek((sid + 1) * self.sector_size)
        block = self.handle.read(self.sector_size)
        if len(block) < self.sector_size and sid == self.sectors - 1:
            block = block.ljust(self.sector_size, b"\0")
        return block

    def next_sector(self, sid: int) -> int:
        """The FAT's entry for `sid`: the sector after it in its chain. Read on demand, so the FAT is never held."""
        index, word = divmod(sid, self.words)
        if index >= len(self.fat_sectors):
            raise ValueError(f"sector {sid:#x} is past the FAT")
        self.handle.seek((self.fat_sectors[index] + 1) * self.sector_size + word * 4)
        return struct.unpack("<L", self.handle.read(4))[0]

    def directory_sectors(self) -> list[int]:
        """The directory's chain of sectors, each visited once, within the file and the directory's size cap."""
        chain: list[int] = []
        visited: set[int] = set()
        sid = self.first_directory
        limit = _MAX_DIRECTORY_BYTES // self.sector_size
        while sid not in (_END_OF_CHAIN, _FREE):
            self._check_new(sid, visited, "directory chain")
            if len(chain) >= limit:
                raise ValueError("directory over 1 MB")
            chain.append(sid)
            sid = self.next_sector(sid)
        if not chain:
            raise ValueError("no directory")
        return chain

    def top_level_names(self) -> set[str]:
        """Names of the root storage's children, walking its red-black tree with every entry visited once."""
        chain = self.directory_sectors()
        per_sector = self.sector_size // _ENTRY_BYTES
        entries = len(chain) * per_sector

        def entry(sid: int) -> bytes:
            sector, slot = divmod(sid, per_sector)
            self.handle.seek((chain[sector] + 1) * self.sector_size + slot * _ENTRY_BYTES)
            return self.handle.read(_ENTRY_BYTES).ljust(_ENTRY_BYTES, b"\0")

        root = entry(0)
        if root[66] != 5:
            raise ValueError("the first directory entry is not the root")
        names: set[str] = set()
        visited: set[int] = set()
        pending = [struct.unpack_from("<L", root, 76)[0]]
        while pending:
            sid = pending.pop()
            if sid == _NO_STREAM:
                continue
            if sid >= entries or sid in visited:
                raise ValueError(f"directory tree visits entry {sid:#x} twice or outside its {entries}")
            visited.add(sid)
            block = entry(sid)
            name_length = struct.unpack_from("<H", block, 64)[0]
            if block[66] in (1, 2) and 2 <= name_length <= 64:
                names.add(block[: name_length - 2].decode("utf-16-le", errors="replace").lower())
            pending.extend(struct.unpack_from("<LL", block, 68))
        return names
