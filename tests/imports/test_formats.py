"""File-type sniffing and the safety checks that run before any parser sees a file."""

import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from tests.imports.spreadsheets import (
    CUSTOMERS,
    HEADER,
    HOSTILE_COMPOUND_FILES,
    copy_as,
    make_encrypted_xlsx,
    make_pdf,
    make_png,
    make_zip_bomb,
    truncate,
    write_compound_file,
    write_csv,
    write_ods,
    write_xls,
    write_xlsx,
)
from users.imports.errors import ImportRefused
from users.imports.formats import SpreadsheetFormat, detect_format, ole_stream_names
from users.models.choices import FileErrorCode

ROWS = [HEADER, *CUSTOMERS]


def refusal(path: Path) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        detect_format(path)
    return caught.value


@pytest.mark.parametrize(
    ("writer", "name", "expected"),
    [
        (write_xlsx, "customers.xlsx", SpreadsheetFormat.XLSX),
        (write_xls, "customers.xls", SpreadsheetFormat.XLS),
        (write_ods, "customers.ods", SpreadsheetFormat.ODS),
        (write_csv, "customers.csv", SpreadsheetFormat.CSV),
    ],
)
def test_each_format_is_recognised_from_its_bytes_whatever_its_name(tmp_path, writer, name, expected):
    path = writer(tmp_path / name, ROWS)
    renamed = copy_as(path, tmp_path / "upload.bin")

    assert detect_format(renamed).format == expected, f"{name} renamed to .bin should still be {expected}"


def test_a_png_renamed_xlsx_is_refused_as_a_png_image(tmp_path):
    path = copy_as(make_png(tmp_path / "photo.png"), tmp_path / "customers.xlsx")

    error = refusal(path)

    assert (error.code, "a PNG image" in error.message) == (FileErrorCode.UNSUPPORTED_TYPE, True), error.message


def test_a_pdf_renamed_xlsx_is_refused_as_a_pdf_document(tmp_path):
    path = copy_as(make_pdf(tmp_path / "invoice.pdf"), tmp_path / "customers.xlsx")

    error = refusal(path)

    assert (error.code, "a PDF document" in error.message) == (FileErrorCode.UNSUPPORTED_TYPE, True), error.message


def test_a_word_document_is_named_as_such(tmp_path):
    path = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")

    error = refusal(path)

    assert "Word document" in error.message, error.message


def test_an_html_page_saved_as_xls_is_refused_with_advice(tmp_path):
    path = tmp_path / "export.xls"
    path.write_text("<html><body><table><tr><td>PM1</td></tr></table></body></html>")

    error = refusal(path)

    assert (error.code, "web page" in error.message) == (FileErrorCode.UNSUPPORTED_TYPE, True), error.message


def test_a_zero_byte_file_is_empty(tmp_path):
    path = tmp_path / "customers.xlsx"
    path.write_bytes(b"")

    assert refusal(path).code == FileErrorCode.EMPTY


def test_a_file_over_the_upload_limit_is_too_large(tmp_path, settings):
    settings.IMPORT_MAX_UPLOAD_SIZE = 1024
    path = write_csv(tmp_path / "big.csv", [HEADER, *CUSTOMERS * 20])

    assert refusal(path).code == FileErrorCode.TOO_LARGE


def test_a_truncated_xlsx_is_damaged(tmp_path):
    path = truncate(write_xlsx(tmp_path / "customers.xlsx", ROWS), keep=0.6)

    assert refusal(path).code == FileErrorCode.DAMAGED


def test_a_decompression_bomb_is_refused_quickly_without_inflating_it(tmp_path):
    path = make_zip_bomb(tmp_path / "bomb.xlsx", expanded_bytes=64 * 1024 * 1024)
    started = time.perf_counter()

    error = refusal(path)

    assert error.code == FileErrorCode.UNSAFE, error.message
    assert time.perf_counter() - started < 1, "the refusal must come from the zip directory, not from inflating"


def test_a_member_declaring_more_than_the_uncompressed_limit_is_unsafe(tmp_path, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 10_000
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *CUSTOMERS * 100])

    error = refusal(path)

    assert error.code == FileErrorCode.UNSAFE, error.message


def test_a_zip_with_thousands_of_members_is_unsafe(tmp_path):
    path = tmp_path / "many.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        for number in range(6000):
            archive.writestr(f"junk/{number}", b"")

    assert refusal(path).code == FileErrorCode.UNSAFE


def test_a_password_protected_xlsx_is_encrypted(tmp_path):
    path = make_encrypted_xlsx(tmp_path / "locked.xlsx")

    error = refusal(path)

    assert (error.code, "password" in error.message) == (FileErrorCode.ENCRYPTED, True), error.message


def stream_names(path: Path) -> set[str]:
    with path.open("rb") as handle:
        return ole_stream_names(handle, size=path.stat().st_size)


def test_the_ole_directory_of_an_xls_lists_its_workbook_stream(tmp_path):
    path = write_xls(tmp_path / "customers.xls", ROWS)

    assert stream_names(path) == {"workbook"}


def test_an_encrypted_xlsx_container_holds_an_encrypted_package(tmp_path):
    path = make_encrypted_xlsx(tmp_path / "locked.xlsx")

    assert {"encryptedpackage", "encryptioninfo"} <= stream_names(path)


COMPOUND_FILES = {
    "xls (xlwt)": lambda d: write_xls(d / "c.xls", ROWS),
    "encrypted xlsx (msoffcrypto-tool)": lambda d: make_encrypted_xlsx(d / "c.xlsx"),
    "512-byte sectors, three streams": lambda d: write_compound_file(
        d / "c.xls", {"Workbook": b"x" * 5000, "\x05SummaryInformation": b"", "Ümlaut": b"y"}
    ),
    "4096-byte sectors": lambda d: write_compound_file(d / "c.xls", {"Workbook": b"x" * 9000}, sector_shift=12),
}


@pytest.mark.parametrize("kind", COMPOUND_FILES)
def test_the_directory_reader_agrees_with_olefile_on_real_compound_files(tmp_path, kind):
    """olefile (a dev dependency, via msoffcrypto-tool) is the reference: the same top-level names."""
    import olefile

    path = COMPOUND_FILES[kind](tmp_path)
    with olefile.OleFileIO(str(path)) as reference:
        expected = {entry.name.lower() for entry in reference.root.kids}

    assert stream_names(path) == expected


def test_streams_inside_a_storage_are_not_top_level_names(tmp_path):
    """A Word document with an embedded Excel chart holds a Workbook stream, one storage down: it is still Word."""
    path = write_compound_file(tmp_path / "letter.doc", {"WordDocument": b"w" * 5000, "1Table": b""})
    data = bytearray(path.read_bytes())
    # Turn "1Table" (entry 2, the last sibling) into a storage whose child is a third entry named Workbook.
    directory = 1024
    data[directory + 2 * 128 + 66] = 1
    data[directory + 2 * 128 + 76 : directory + 2 * 128 + 80] = (3).to_bytes(4, "little")
    name = "Workbook\0".encode("utf-16-le")
    entry = name.ljust(64, b"\0") + len(name).to_bytes(2, "little") + bytes([2, 1]) + b"\xff" * 12
    data[directory + 3 * 128 : directory + 3 * 128 + len(entry)] = entry
    path.write_bytes(bytes(data))

    assert stream_names(path) == {"worddocument", "1table"}
    assert "Word 97–2003 document" in refusal(path).message


@pytest.mark.parametrize("case", HOSTILE_COMPOUND_FILES)
def test_a_compound_file_whose_header_or_chains_lie_is_damaged_within_a_second_and_a_few_mb(tmp_path, case):
    path = HOSTILE_COMPOUND_FILES[case](tmp_path / "customers.xls")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refusal(path)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (error.code, error.message.startswith("The file is damaged")) == (FileErrorCode.DAMAGED, True), error
    assert seconds < 1, f"{case}: refused after {seconds:.2f} s"
    assert peak < 4 * 1024 * 1024, f"{case}: allocated {peak / 1024 / 1024:.1f} MB before refusing"


def test_binary_junk_is_not_mistaken_for_csv(tmp_path):
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(range(256)) * 64)

    assert refusal(path).code == FileErrorCode.UNSUPPORTED_TYPE


def test_a_zip_that_is_not_an_office_file_is_called_a_zip_archive(tmp_path):
    path = tmp_path / "photos.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8\xff")

    assert "ZIP archive" in refusal(path).message


def test_a_json_export_is_not_mistaken_for_csv(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text('[{"shipping_mark": "PM1", "phone": "0241234567"}]')

    assert "JSON" in refusal(path).message


def test_only_the_start_of_a_huge_mimetype_member_is_read(tmp_path, settings):
    """The member may inflate to the zip limits (1 GB at ratio 200); its first 200 bytes say what the package is."""
    settings.IMPORT_MAX_COMPRESSION_RATIO = 1_000_000  # spaces compress 1000:1; the bomb check would refuse it first
    path = tmp_path / "c.ods"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", b"application/vnd.oasis.opendocument.text" + b" " * (64 * 1024 * 1024))
    tracemalloc.start()
    try:
        error = refusal(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "OpenDocument text file" in error.message, error.message
    assert peak < 4 * 1024 * 1024, f"detecting the type allocated {peak / 1024 / 1024:.0f} MB"
