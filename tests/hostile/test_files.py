"""Hostile and awkward files, each imported by the real command in a child process, timed and watched.

Every file is built by the test (tests/imports/spreadsheets.py has the builders)
and imported as ops would: `manage.py import_customers PATH --json`, its resident
memory sampled with psutil and its peak taken from the kernel when it exits. A
refused file gets a sentence and a stable code within the time limit, and writes
no customer and no row error; an awkward but honest file is imported with every
row accounted for. The last test feeds the worst of them to a live gunicorn (the
upload preview runs inside the web worker) and checks that the server stays
healthy: same worker, bounded memory, /health answering throughout.
"""

import datetime as dt
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_frontend_http import start_server, stop_server
from tests.hostile.conftest import sheet_row
from tests.hostile.processes import IMPORT_RSS_LIMIT_MB, IMPORT_SECONDS_LIMIT, RssSampler, run_import
from tests.imports.spreadsheets import (
    CUSTOMERS,
    HEADER,
    HOSTILE_COMPOUND_FILES,
    MB,
    Formula,
    _write_raw_member,
    copy_as,
    make_dimension_bug_xlsx,
    make_encrypted_xlsx,
    make_entity_expansion_xlsx,
    make_pdf,
    make_png,
    make_zip_bomb,
    truncate,
    write_csv,
    write_xlsx,
)
from tests.workers import worker_database_url
from users.models import Customer, FileErrorCode, ImportJob, ImportRowError, ImportStatus, User

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GOOD = [HEADER, *CUSTOMERS]
BOMB_BYTES = 2 * 1024 * MB  # "a sheet inflating to gigabytes"


@pytest.fixture(scope="session")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 MB xlsx whose sheet really inflates to 2 GiB (built once: deflating 2 GiB takes ~20 s)."""
    return make_zip_bomb(tmp_path_factory.mktemp("bomb") / "customers.xlsx", expanded_bytes=BOMB_BYTES)


def understated_bomb(path: Path, *, real_bytes: int = 1024 * MB, declared_bytes: int = 64 * 1024) -> Path:
    """An xlsx whose zip directory says the sheet is 64 KB while its data inflates to 1 GiB.

    The size checks read the declared sizes; this is the file that lies to them.
    """
    write_xlsx(path, GOOD)
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    head = parts[member][: parts[member].index(b"<sheetData>") + len(b"<sheetData>")]
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    data = [compressor.compress(head)]
    block = b" " * MB
    for _ in range(real_bytes // MB):
        data.append(compressor.compress(block))
    data.append(compressor.flush())
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            if name != member:
                archive.writestr(name, content)
        info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        _write_raw_member(archive, info, b"".join(data), crc=zlib.crc32(head), size=declared_bytes)
    return path


def runaway_quote_csv(path: Path) -> Path:
    """A CSV whose second line opens a quote that never closes, followed by 20 MB: one field swallowing the file."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(HEADER) + "\n")
        handle.write('"PM1 KWAME,Kwame,Mensah,kwame@example.com,0241234567,Volta\n')
        for n in range(200_000):
            handle.write(f"PM{n},First{n},Last{n},c{n}@example.com,024{n:07d},Volta\n")
    return path


Builder = Callable[[Path], Path]
REFUSED: dict[str, tuple[Builder, FileErrorCode, str]] = {
    "zero bytes": (lambda d: _touch(d / "customers.xlsx"), FileErrorCode.EMPTY, "empty"),
    "header only (xlsx)": (lambda d: write_xlsx(d / "c.xlsx", [HEADER]), FileErrorCode.NO_ROWS, "no customer rows"),
    "header only (csv)": (lambda d: write_csv(d / "c.csv", [HEADER]), FileErrorCode.NO_ROWS, "no customer rows"),
    "a PNG renamed .xlsx": (
        lambda d: copy_as(make_png(d / "photo.png"), d / "customers.xlsx"),
        FileErrorCode.UNSUPPORTED_TYPE,
        "PNG image",
    ),
    "a PDF renamed .xlsx": (
        lambda d: copy_as(make_pdf(d / "scan.pdf"), d / "customers.xlsx"),
        FileErrorCode.UNSUPPORTED_TYPE,
        "PDF document",
    ),
    "a truncated zip": (
        lambda d: truncate(write_xlsx(d / "c.xlsx", GOOD), keep=0.6),
        FileErrorCode.DAMAGED,
        "damaged",
    ),
    "a password-protected xlsx": (
        lambda d: make_encrypted_xlsx(d / "c.xlsx"),
        FileErrorCode.ENCRYPTED,
        "password-protected",
    ),
    "a sheet understating its size (inflates to 1 GiB)": (
        lambda d: understated_bomb(d / "c.xlsx"),
        FileErrorCode.DAMAGED,
        "damaged",
    ),
    "billion laughs in the sheet": (
        lambda d: make_entity_expansion_xlsx(d / "c.xlsx", part="sheet"),
        FileErrorCode.UNSAFE,
        "",
    ),
    "billion laughs in the shared strings": (
        lambda d: make_entity_expansion_xlsx(d / "c.xlsx", part="sharedStrings"),
        FileErrorCode.UNSAFE,
        "",
    ),
    "billion laughs in the workbook": (
        lambda d: make_entity_expansion_xlsx(d / "c.xlsx", part="workbook"),
        FileErrorCode.UNSAFE,
        "",
    ),
    "an external entity (file:///etc/passwd)": (
        lambda d: make_entity_expansion_xlsx(d / "c.xlsx", external=True),
        FileErrorCode.UNSAFE,
        "",
    ),
    "a CSV quote that never closes": (
        lambda d: runaway_quote_csv(d / "c.csv"),
        FileErrorCode.DAMAGED,
        "quote",
    ),
}


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def assert_bounded(run: Any) -> None:
    assert run.seconds < IMPORT_SECONDS_LIMIT, f"took too long: {run.describe()}"
    assert run.peak_rss_mb < IMPORT_RSS_LIMIT_MB, f"used too much memory: {run.describe()}"
    assert "Traceback" not in run.stderr, f"crashed instead of answering: {run.describe()}"


def assert_refused(run: Any, code: FileErrorCode, fragment: str) -> ImportJob:
    assert_bounded(run)
    assert run.returncode == 1 and run.outcome is not None, f"expected a refusal (exit 1, JSON): {run.describe()}"
    job = ImportJob.objects.get(id=run.outcome["job_id"])
    assert (job.status, job.error_code) == (ImportStatus.FAILED, code), f"{job.error_code}: {job.error_message}"
    message = run.outcome["error"]
    assert message == job.error_message and message.endswith(".") and len(message) < 400, f"a sentence: {message!r}"
    assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    assert not Customer.objects.exists(), "a refused file writes no customer"
    assert not ImportRowError.objects.filter(job=job).exists(), "a refused file writes no row error"
    return job


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_hostile_file_is_refused_with_a_sentence_in_bounded_time_and_memory(
    case: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    build, code, fragment = REFUSED[case]
    run = run_import(build(tmp_path))
    record_property("measured", {"seconds": round(run.seconds, 1), "peak_rss_mb": round(run.peak_rss_mb)})
    assert_refused(run, code, fragment)


def test_a_sheet_inflating_to_gigabytes_is_refused_without_being_inflated(
    bomb: Path, record_property: Callable[[str, object], None]
) -> None:
    run = run_import(bomb)
    record_property("measured", {"seconds": round(run.seconds, 1), "peak_rss_mb": round(run.peak_rss_mb)})
    assert_refused(run, FileErrorCode.UNSAFE, "not opened")
    assert run.peak_rss_mb < 100, f"the bomb was refused before inflating anything: {run.describe()}"


# --- awkward but honest files: imported, every row accounted for --------------------------------------------------


def imported(run: Any, *, rows: int) -> dict[str, Any]:
    assert_bounded(run)
    assert run.returncode == 0 and run.outcome is not None, run.describe()
    outcome = run.outcome
    assert outcome["status"] == "COMPLETE", run.describe()
    accounted = outcome["created"] + outcome["updated"] + outcome["skipped"] + outcome["failed"]
    assert accounted == outcome["total_rows"] == rows, f"every row accounted for: {outcome}"
    return outcome


def stored(field: str = "first_name") -> dict[str, str]:
    return dict(Customer.objects.values_list("shipping_mark", field))


def test_a_dimension_claiming_a_million_styled_rows_imports_only_the_real_ones(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    run = run_import(make_dimension_bug_xlsx(tmp_path / "c.xlsx", GOOD))
    record_property("measured", {"seconds": round(run.seconds, 1), "peak_rss_mb": round(run.peak_rss_mb)})
    outcome = imported(run, rows=3)
    assert outcome["created"] == 3
    assert run.seconds < 30, f"a million empty rows are skipped quickly: {run.describe()}"


def test_32767_character_cells_fail_their_row_with_a_short_message_and_spare_the_rest(tmp_path: Path) -> None:
    longest = "A" * 32_767  # Excel's limit for one cell
    rows = [
        (*HEADER, "Notes"),
        ("PM1 KWAME", longest, "Mensah", "kwame@example.com", "0241234567", "Volta", ""),
        (longest, "Ama", "Owusu", "ama@example.com", "0201234567", "Ashanti", ""),
        ("PM3 KOFI", "Kofi", "Boateng", "", "0551234567", "Volta", longest),  # an ignored column
    ]
    outcome = imported(run_import(write_xlsx(tmp_path / "c.xlsx", rows)), rows=3)

    assert (outcome["created"], outcome["failed"]) == (1, 2)
    assert {e["code"] for e in outcome["errors"]} == {"name_too_long", "mark_invalid"}
    for error in outcome["errors"]:
        assert "32,767" in error["reason"] and len(error["reason"]) < 200, error["reason"]
        assert len(error["value"]) < 600, "the error repeats the start of the cell, not all of it"
    assert stored() == {"PM3 KOFI": "Kofi"}


def test_16384_columns_are_read_to_the_last_one(tmp_path: Path) -> None:
    width = 16_384
    header = [*HEADER[:5], *(f"Note {n}" for n in range(5, width - 1)), "Region"]
    rows = [header]
    for customer in CUSTOMERS:
        rows.append([*customer[:5], *(["x"] * (width - 6)), customer[5]])
    outcome = imported(run_import(write_xlsx(tmp_path / "wide.xlsx", rows)), rows=3)

    assert outcome["created"] == 3
    assert stored("region") == {"PM1 KWAME": "GREATER_ACCRA", "PM2 AMA": "ASHANTI", "PM3 KOFI": "VOLTA"}, (
        "the Region column at XFD was read"
    )


def test_formula_cells_give_their_cached_values_and_are_never_evaluated(tmp_path: Path) -> None:
    proper = Formula('=PROPER("kwame")', cached="Kwame")
    # Evaluated, this would call a server; the cached value is what the admin saw in Excel.
    webservice = Formula('=WEBSERVICE("http://127.0.0.1:9/steal")', cached="Ama")
    rows = [
        HEADER,
        ("PM1 KWAME", proper, "Mensah", "", Formula("=0241234567", cached="0241234567"), "Volta"),
        ("PM2 AMA", webservice, "Owusu", "", "0201234567", "Volta"),
    ]
    imported(run_import(write_xlsx(tmp_path / "c.xlsx", rows)), rows=2)

    assert stored() == {"PM1 KWAME": "Kwame", "PM2 AMA": "Ama"}
    assert Customer.objects.get(shipping_mark="PM1 KWAME").phone == "+233241234567"


def test_a_formula_saved_without_its_value_is_explained_not_called_empty(tmp_path: Path) -> None:
    """openpyxl saves formulas without results; Excel shows a value there, so "empty" would be a wrong answer."""
    rows = [HEADER, sheet_row(1), ("PM3 KOFI", Formula("=A2&B2"), "Boateng", "", "0551234567", "Volta")]
    outcome = imported(run_import(write_xlsx(tmp_path / "c.xlsx", rows)), rows=2)

    (error,) = outcome["errors"]
    assert error["row"] == 3
    assert "formula" in error["reason"] and "not saved" in error["reason"], error["reason"]


def test_merged_header_cells_are_read_as_one_header(tmp_path: Path) -> None:
    rows = [
        ("Primepre customers, March", None, None, None, None, None),
        ("Shipping Mark", "Name", None, "Email", "Phone Number", "Region"),
        (None, "First Name", "Last Name", None, None, None),
        *CUSTOMERS,
    ]
    merged = ["A1:F1", "A2:A3", "B2:C2", "D2:D3", "E2:E3", "F2:F3"]
    outcome = imported(run_import(write_xlsx(tmp_path / "c.xlsx", rows, merged_cells=merged)), rows=3)

    assert outcome["created"] == 3
    assert stored("last_name") == {"PM1 KWAME": "Mensah", "PM2 AMA": "Owusu", "PM3 KOFI": "Boateng"}


def test_dates_and_booleans_in_text_columns_fail_their_row_with_a_reason(tmp_path: Path) -> None:
    rows = [
        HEADER,
        ("PM1 KWAME", True, "Mensah", "", "0241234567", "Volta"),
        ("PM2 AMA", "Ama", dt.date(2024, 3, 1), "", "0201234567", "Volta"),
        (dt.date(2024, 1, 5), "Kofi", "Boateng", "", "0551234567", "Volta"),
        ("PM4 YAW", "Yaw", "Asante", "", dt.datetime(2024, 1, 5, 9, 30), "Volta"),  # noqa: DTZ001 - a sheet's datetime
        ("PM5 ESI", "Esi", "Ofori", "", "0271234567", False),
        sheet_row(6),
    ]
    outcome = imported(run_import(write_xlsx(tmp_path / "c.xlsx", rows)), rows=6)

    assert (outcome["created"], outcome["failed"]) == (1, 5)
    reasons = {error["row"]: error["reason"] for error in outcome["errors"]}
    assert "yes/no value TRUE" in reasons[2]
    assert "date or time (2024-03-01)" in reasons[3]
    assert "date or time (2024-01-05)" in reasons[4]
    assert "2024-01-05 09:30" in reasons[5]
    assert "FALSE" in reasons[6]


NAMES = [("PM1 KWAME", "Kwamé", "Mensah"), ("PM2 AMA", "Ámà", "Owusu-Ansah"), ("PM3 KOFI", "Kofi", "Bɔateng")]
PHONES = ["0241234567", "0201234567", "0551234567"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_a_csv_in_each_encoding_excel_writes_keeps_accented_names(encoding: str, tmp_path: Path) -> None:
    names = [(mark, first, last if encoding != "cp1252" else "Boateng") for mark, first, last in NAMES]
    rows = [
        HEADER,
        *[(mark, first, last, "", phone, "Volta") for (mark, first, last), phone in zip(names, PHONES, strict=True)],
    ]
    outcome = imported(run_import(write_csv(tmp_path / "c.csv", rows, encoding=encoding)), rows=3)

    assert outcome["created"] == 3, outcome["errors"]
    assert set(Customer.objects.values_list("shipping_mark", "first_name", "last_name")) == set(names)


def test_a_csv_mixing_utf8_and_windows_1252_lines_keeps_every_name(tmp_path: Path) -> None:
    """Rows pasted together from two exports: most lines UTF-8, one line Windows-1252 (Excel's "CSV" on Windows)."""
    lines = [
        ",".join(HEADER).encode(),
        "PM1 KWAME,Kwamé,Mensah,,0241234567,Volta".encode(),
        "PM2 AMA,Ámà,Owusu,,0201234567,Volta".encode("cp1252"),
        "PM3 KOFI,Kofi,Bɔateng,,0551234567,Volta".encode(),
    ]
    path = tmp_path / "merged.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    imported(run_import(path), rows=3)

    assert stored() == {"PM1 KWAME": "Kwamé", "PM2 AMA": "Ámà", "PM3 KOFI": "Kofi"}
    assert stored("last_name")["PM3 KOFI"] == "Bɔateng"


# --- the server stays healthy ------------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLS = "application/vnd.ms-excel"


def test_the_web_server_stays_healthy_while_previewing_hostile_files(
    admin_user: User, bomb: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The upload preview reads the file inside the gunicorn worker: the worst files must not hurt it."""
    files: list[tuple[Path, int, str]] = [
        (bomb, 400, FileErrorCode.UNSAFE),
        (understated_bomb(tmp_path / "lying.xlsx"), 400, FileErrorCode.DAMAGED),
        (make_entity_expansion_xlsx(tmp_path / "laughs.xlsx", part="sharedStrings"), 400, FileErrorCode.UNSAFE),
        (make_entity_expansion_xlsx(tmp_path / "xxe.xlsx", external=True), 400, FileErrorCode.UNSAFE),
        (make_encrypted_xlsx(tmp_path / "locked.xlsx"), 400, FileErrorCode.ENCRYPTED),
        (copy_as(make_png(tmp_path / "p.png"), tmp_path / "photo.xlsx"), 400, FileErrorCode.UNSUPPORTED_TYPE),
        (truncate(write_xlsx(tmp_path / "cut.xlsx", GOOD), keep=0.6), 400, FileErrorCode.DAMAGED),
        (runaway_quote_csv(tmp_path / "quote.csv"), 400, FileErrorCode.DAMAGED),
        (make_dimension_bug_xlsx(tmp_path / "styled.xlsx", GOOD), 200, ""),
    ]
    server = start_server(database_url=worker_database_url(), media_root=tmp_path / "media")
    try:
        worker_pid = only_child(server.process.pid)
        sampler = RssSampler(worker_pid).start()
        client = server.client()
        client.login()
        answers = []
        for path, expected_status, expected_code in files:
            response = client.upload("/api/auth/customers/excel/upload/", path.name, path.read_bytes(), XLSX)
            body = response.json()
            answers.append((path.name, response.status, body.get("code", "")))
            assert (response.status, body.get("code", "")) == (expected_status, expected_code), (path.name, body)
            assert client.get("/health").status == 200, f"unhealthy after {path.name}"
        peak = sampler.stop()
        record_property("measured", {"web_worker_peak_rss_mb": round(peak)})
        assert only_child(server.process.pid) == worker_pid, f"the web worker died or was recycled: {answers}"
    finally:
        stop_server(server)
    assert peak < IMPORT_RSS_LIMIT_MB, f"the web worker peaked at {peak:.0f} MB"
    assert not Customer.objects.exists(), "a preview writes no customer"


def only_child(pid: int) -> int:
    import psutil

    children = psutil.Process(pid).children()
    assert len(children) == 1, children
    return children[0].pid


def test_compound_files_whose_chains_lie_are_refused_over_http_within_a_second_and_the_server_stays_healthy(
    admin_user: User, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The .xls directory is read inside the web worker: a 2 KB file that loops must cost it nothing."""
    server = start_server(database_url=worker_database_url(), media_root=tmp_path / "media")
    try:
        worker_pid = only_child(server.process.pid)
        sampler = RssSampler(worker_pid).start()
        client = server.client()
        client.login()
        slowest = 0.0
        for number, (case, build) in enumerate(HOSTILE_COMPOUND_FILES.items()):
            content = build(tmp_path / f"{number}.xls").read_bytes()
            started = time.monotonic()
            response = client.upload("/api/auth/customers/excel/upload/", "customers.xls", content, XLS)
            seconds = time.monotonic() - started
            slowest = max(slowest, seconds)
            body = response.json()
            assert (response.status, body.get("code")) == (400, FileErrorCode.DAMAGED), (case, body)
            assert body["message"].startswith("The file is damaged"), (case, body)
            assert seconds < 1, f"{case}: answered after {seconds:.2f} s"
            assert client.get("/health").status == 200, f"unhealthy after {case}"
        peak = sampler.stop()
        record_property("measured", {"slowest_answer_s": round(slowest, 3), "web_worker_peak_rss_mb": round(peak)})
        assert only_child(server.process.pid) == worker_pid, "the web worker died or was recycled"
    finally:
        stop_server(server)
    assert peak < IMPORT_RSS_LIMIT_MB, f"the web worker peaked at {peak:.0f} MB"
