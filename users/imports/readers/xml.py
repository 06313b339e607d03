"""Safe XML plumbing shared by the zip-based readers: small parts through defusedxml, big ones as checked bytes.

Small parts (workbook.xml, rels, styles) are parsed by defusedxml, which
refuses DTDs, so entity expansion and external entities never happen; each
element is freed once read and nesting is capped, so a part's size bounds the
time, never the memory, and the size itself is capped. The big parts (a sheet,
the shared strings) are scanned as bytes for speed; for them `xml_chunks`
checks the prolog: a DOCTYPE can only appear before the root element, so a
document whose prolog has none can't define or pull in entities.
"""

import codecs
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from users.imports.errors import ImportRefused
from users.imports.formats import MB, ZIP_READ_ERRORS
from users.models.choices import FileErrorCode

CHUNK_BYTES = 1024 * 1024
# The prolog (declaration, comments) of any real part is tiny; reading further for a root tag is a waste.
MAX_PROLOG_BYTES = 64 * 1024
# Spreadsheet XML nests a dozen levels at most (a rich-text run's properties inside an extension list);
# a deeper document is an attack on the parser's stack and the tree it builds, refused as damaged.
MAX_XML_DEPTH = 64
# The parts parsed element by element (workbook.xml, the .rels, styles.xml): Excel's own are kilobytes, and
# even Excel's ceiling of 64,000 cell formats is under 20 MB of styles. Measured: 54 MB of small elements
# parsed in 8.7 s on the 2-core dev box under load, so 32 MB caps a part near 5 s; memory stays flat anyway.
MAX_PARSED_PART_BYTES = 32 * MB
# A character reference is at most U+10FFFF: 7 decimal or 6 hex digits (more only with leading zeros).
_MAX_REFERENCE_DIGITS = 10

_ENTITY = re.compile(rb"&(#[xX][0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_PREDEFINED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}
# OOXML writes control characters as _xHHHH_ (ECMA-376 Part 1, §22.9.2.19 ST_Xstring).
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)\b[^>]*>")
_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def unsafe_xml(part: str) -> ImportRefused:
    return ImportRefused(
        FileErrorCode.UNSAFE,
        f"The file was not opened: its part {part} declares XML entities (a DOCTYPE), which spreadsheets never "
        "need and attackers use to exhaust memory or read server files.",
    )


def damaged_xml(part: str) -> ImportRefused:
    return ImportRefused(
        FileErrorCode.DAMAGED,
        f"The file is damaged: its part {part} is not readable. Open it in Excel, save it again and upload the copy.",
    )


def decode_text(raw: bytes) -> str:
    """XML character data as text: entity and character references resolved, OOXML _xHHHH_ escapes undone."""
    if b"&" in raw:
        raw = _ENTITY.sub(_entity, raw)
    return undo_ooxml_escapes(raw.decode("utf-8", errors="replace"))


def undo_ooxml_escapes(text: str) -> str:
    if "_x" in text:
        text = _OOXML_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
    return text


def _entity(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name.startswith(b"#"):
        if len(name) > _MAX_REFERENCE_DIGITS + 2:
            return b"\xef\xbf\xbd"  # int() of thousands of digits raises; no character is that far anyway
        code = int(name[2:], 16) if name[1:2] in b"xX" else int(name[1:])
        try:
            return chr(code).encode("utf-8", errors="replace")
        except (ValueError, OverflowError):
            return b"\xef\xbf\xbd"
    return _PREDEFINED[name].encode()


def iter_elements(
    archive: zipfile.ZipFile, part: str, *, events: tuple[str, ...] = ("end",)
) -> Iterator[tuple[str, Element]]:
    """defusedxml's iterparse over one zip part; tags without their namespace. DTDs → UNSAFE, bad XML → DAMAGED.

    Each element is freed after its "end" event (read its attributes and text
    then, not its children), so memory stays flat whatever the part's size;
    parts over MAX_PARSED_PART_BYTES are refused before parsing.
    """
    if archive.getinfo(part).file_size > MAX_PARSED_PART_BYTES:
        raise ImportRefused(
            FileErrorCode.TOO_LARGE,
            f"The file's part {part} is over {MAX_PARSED_PART_BYTES // MB} MB, far more than any workbook needs. "
            "Open the file in Excel, save it again and upload the copy.",
        )
    try:
        with archive.open(part) as stream:
            for event, element in bounded_iterparse(stream, part=part):
                tag = element.tag
                if "}" in tag:
                    element.tag = tag.rsplit("}", 1)[1]
                if event in events:
                    yield event, element
    except DefusedXmlException as exc:
        raise unsafe_xml(part) from exc
    except (ParseError, LookupError, UnicodeError, *ZIP_READ_ERRORS) as exc:  # LookupError: unknown encoding
        raise damaged_xml(part) from exc


def bounded_iterparse(stream: BinaryIO, *, part: str) -> Iterator[tuple[str, Element]]:
    """defusedxml's iterparse ("start" and "end" events) with nesting capped and each element freed after its end.

    ElementTree builds the whole tree as it goes; here an element is cut from
    its parent once the consumer is done with its "end" event, so only the
    open elements (at most MAX_XML_DEPTH) and one 16 KB batch are alive.
    DefusedXmlException and ParseError propagate for the caller to word.
    """
    open_elements: list[Element] = []
    for event, element in iterparse(stream, events=("start", "end"), forbid_dtd=True):
        if event == "start":
            open_elements.append(element)
            if len(open_elements) > MAX_XML_DEPTH:
                raise damaged_xml(part)
            yield event, element
            continue
        open_elements.pop()
        yield event, element
        element.clear()
        # Earlier siblings were cut at their own end, so this one is its parent's first child (not the last:
        # iterparse hands events over in batches, after the elements of the next 16 KB are already built).
        if open_elements and len(parent := open_elements[-1]) and parent[0] is element:
            del parent[0]


def attribute(element: Element, name: str) -> str:
    """An attribute by local name, whatever namespace (transitional or strict OOXML) qualifies it."""
    value = element.get(name)
    if value is not None:
        return value
    suffix = "}" + name
    for key, candidate in element.attrib.items():
        if key.endswith(suffix):
            return candidate
    return ""


def parse_relationships(archive: zipfile.ZipFile, part: str, *, base: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (target part inside the zip, type) for one .rels part; {} when it is missing."""
    if part not in archive.NameToInfo:
        return {}
    relationships: dict[str, tuple[str, str]] = {}
    for _, element in iter_elements(archive, part):
        if element.tag != "Relationship" or element.get("TargetMode") == "External":
            continue
        target = element.get("Target", "")
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        relationships[element.get("Id", "")] = (posixpath.normpath(resolved), element.get("Type", ""))
    return relationships


def xml_chunks(archive: zipfile.ZipFile, part: str) -> tuple[bytes, bytes, Iterator[bytes]]:
    """(root start tag, namespace prefix like b"x:" or b"", the part as UTF-8 chunks from its first byte).

    Refuses a DOCTYPE in the prolog (UNSAFE). Parts saved in another encoding
    (UTF-16 from some exporters) are transcoded, so callers always scan UTF-8.
    """
    try:
        stream = archive.open(part)
    except (KeyError, *ZIP_READ_ERRORS) as exc:
        raise damaged_xml(part) from exc
    try:
        head = stream.read(CHUNK_BYTES)
        encoding = _encoding(head)
        decoder = None
        if encoding != "utf-8":
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            head = decoder.decode(head).encode("utf-8")
        root_tag, prefix = _check_prolog(head, part)
    except ZIP_READ_ERRORS as exc:
        stream.close()
        raise damaged_xml(part) from exc
    except BaseException:
        stream.close()
        raise

    def chunks() -> Iterator[bytes]:
        with stream:
            chunk = head
            try:
                while chunk:
                    yield chunk
                    chunk = stream.read(CHUNK_BYTES)
                    if decoder is not None:
                        chunk = decoder.decode(chunk, final=not chunk).encode("utf-8")
            except ZIP_READ_ERRORS as exc:
                # A bad CRC or corrupt deflate data found mid-stream: the part is damaged past what was read.
                raise damaged_xml(part) from exc

    return root_tag, prefix, chunks()


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if match := _ENCODING.match(head):
        name = match.group(1).decode("ascii").lower()
        try:
            return codecs.lookup(name).name.replace("utf_8", "utf-8")
        except LookupError:
            return "utf-8"
    return "utf-8"


def _check_prolog(head: bytes, part: str) -> tuple[bytes, bytes]:
    position = 0
    if head.startswith(codecs.BOM_UTF8):
        position = 3
    limit = min(len(head), MAX_PROLOG_BYTES)
    while position < limit:
        start = head.find(b"<", position, limit)
        if start < 0:
            break
        if head.startswith(b"<?", start):
            end = head.find(b"?>", start + 2)
            position = end + 2
        elif head.startswith(b"<!--", start):
            end = head.find(b"-->", start + 4)
            position = end + 3
        elif head.startswith(b"<!", start):
            raise unsafe_xml(part)
        else:
            match = _ROOT_TAG.match(head, start)
            if not match:
                raise damaged_xml(part)
            return match.group(0), match.group(1) or b""
        if end < 0:
            break  # a declaration or comment never closed: without this, the next turn would find it again
    raise damaged_xml(part)
