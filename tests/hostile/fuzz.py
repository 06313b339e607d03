"""Mutation fuzzing of the file readers: small valid spreadsheets, damaged thousands of ways, each read in a child.

Each case takes a seed file (tests/imports/spreadsheets.py builds them: xlsx
three ways, xls, ods, csv three ways), applies a few byte-level mutations (bit
flips, byte sets, 32-bit integers such as 0xFFFFFFFE written over a word,
chunks deleted or duplicated, a truncation), or, for a zip, inflates one of its
XML parts, damages that (the same operations plus XML tokens and huge
numbers) and zips it again with good CRCs, so the parsers are reached and not
just the CRC check. Then it runs what the web request and the worker run:
`open_import_sheet` (type sniffing and safety checks, the format's reader,
sheet choice, header detection) and `validated_chunks` (every row through the
validator and the in-file duplicate index; nothing is written).

Each case runs in a child forked from the warmed-up test process, so a case
costs a fork and its own work (milliseconds), not an interpreter and Django's
start-up. The child's memory is capped with RLIMIT_AS at its address space
when forked plus MEMORY_LIMIT_BYTES: a hard cap, checked by the kernel on
every allocation, so a runaway allocation fails at once inside the child (a
MemoryError, or calamine's abort) instead of growing until a watcher notices,
which on a shared machine would push everyone else's processes out of memory
first. The child also reports its resident high-water mark over its resident
size at the fork, for the record. The parent kills a child still running after
CASE_SECONDS.

A case passes when the file is read, or refused with an ImportRefused carrying
a sentence; anything else (another exception, a crash, a timeout, the memory
cap) fails it, and its input is saved under a name made of its content's hash
in SAVED_CASES, where the regression test replays it for ever after.
"""

import hashlib
import io
import json
import logging
import os
import random
import resource
import select
import signal
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.imports.spreadsheets import (
    CUSTOMERS,
    HEADER,
    Formula,
    InlineString,
    write_csv,
    write_ods,
    write_xls,
    write_xlsx,
    write_xlsx_openpyxl,
)

MB = 1024 * 1024
CASE_SECONDS = 10.0
MEMORY_LIMIT_BYTES = 200 * MB
SAVED_CASES = Path(__file__).resolve().parent / "fuzz_cases"

# A few rows with every kind of cell the readers convert: text, numbers, a date, a boolean, a formula with its
# cached value, an inline string, a blank, a title row above the header.
SEED_ROWS = [
    ("Customer list",),
    HEADER,
    *CUSTOMERS,
    ("PM4 YAW", "Yaw", "Asante", "yaw@example.com", 241234599, "Volta"),
    ("PM5 ESI", Formula('=PROPER("esi")', cached="Esi"), "Ofori", None, "0271234567", "Ashanti"),
    ("PM6 ABA", InlineString("Aba"), True, "", 3.5, "Central"),
]
CSV_ROWS = [HEADER, *CUSTOMERS, ("PM4 YAW", "Yàw", "Asante", "yaw@example.com", "241234599", "Volta")]

# XML fragments that reach the parsers' edges once spliced into a part.
XML_TOKENS = (
    b"<", b">", b"/>", b'"', b"&", b"&#0;", b"&#x110000;", b"&#99999999999;", b"&lt", b"]]>", b"<![CDATA[",
    b"<!--", b"<!DOCTYPE x>", b"<?xml?>", b' r="', b' t="s"', b' t="inlineStr"', b' t="d"', b' s="99"', b"<v>",
    b"</v>", b"<is>", b"<rPh>", b"<row>", b"</row>", b'<row r="0">', b"<c>", b'<c r="XFD1048576">', b"_x0000_",
    b"\xff\xfe", b"\xc3", b"\x00", b"E+308", b"NaN", b"-1", b"9" * 40, b'r="' + b"9" * 20 + b'"',
    b'ref="A1:XFD1048576"', b'count="4294967295"', b'table:number-columns-repeated="16384"',
    b'table:number-rows-repeated="1048576"', b'office:value-type="float" office:value="1e308"',
)  # fmt: skip
# 32-bit values that mean something to a compound file's header and chains: free, end of chain, FAT sector, huge.
INTERESTING_WORDS = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x1000, 0x7FFFFFFF, 0xFFFFFFFA, 0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFE,
                     0xFFFFFFFF)  # fmt: skip

SEEDS: dict[str, Callable[[Path], Path]] = {
    "xlsx": lambda folder: write_xlsx(folder / "seed.xlsx", SEED_ROWS, dimension="A1:F9"),
    "xlsx-inline": lambda folder: write_xlsx(folder / "seed-inline.xlsx", SEED_ROWS, shared_strings=False),
    "xlsx-openpyxl": lambda folder: write_xlsx_openpyxl(
        folder / "seed-openpyxl.xlsx", [[getattr(v, "cached", getattr(v, "text", v)) for v in row] for row in SEED_ROWS]
    ),
    "xls": lambda folder: write_xls(folder / "seed.xls", [[getattr(v, "cached", getattr(v, "text", v)) for v in row]
                                                           for row in SEED_ROWS]),  # fmt: skip
    "ods": lambda folder: write_ods(folder / "seed.ods", [[getattr(v, "cached", getattr(v, "text", v)) for v in row]
                                                          for row in SEED_ROWS]),  # fmt: skip
    "csv": lambda folder: write_csv(folder / "seed.csv", CSV_ROWS),
    "csv-cp1252": lambda folder: write_csv(folder / "seed-1252.csv", CSV_ROWS, encoding="cp1252", delimiter=";",
                                           sep_line=True),  # fmt: skip
    "csv-utf16": lambda folder: write_csv(folder / "seed-16.csv", CSV_ROWS, encoding="utf-16", delimiter="\t"),
}


@dataclass(frozen=True)
class Outcome:
    """What one case did: "read" (with its row count), "refused" (with code and sentence), or a failure."""

    kind: str  # read | refused | error | crashed | timeout
    detail: str
    seconds: float
    memory_bytes: int  # the child's resident high-water mark over its resident size when forked

    @property
    def passed(self) -> bool:
        return self.kind in ("read", "refused")


# --- mutations ----------------------------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to four byte-level mutations: bit flips, byte sets, words, deletions, duplications, a truncation."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            break
        operation = rng.randrange(7)
        at = rng.randrange(len(out))
        if operation == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif operation == 1:
            out[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x20, 0x0A, 0x22, 0x3C, rng.randrange(256)))
        elif operation == 2:
            word = at - at % 4  # compound files and zip headers keep their counts in aligned little-endian words
            out[word : word + 4] = rng.choice(INTERESTING_WORDS).to_bytes(4, "little")
        elif operation == 3:
            del out[at : at + rng.choice((1, 2, 4, 16, 512, rng.randint(1, 4096)))]
        elif operation == 4:
            chunk = out[at : at + rng.choice((1, 4, 64, 512, rng.randint(1, 4096)))]
            out[at:at] = chunk * rng.choice((1, 2, 16))
        elif operation == 5:
            del out[rng.randrange(len(out) + 1) :]
        else:
            out[at:at] = rng.choice(XML_TOKENS)
    return bytes(out)


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    """An XML part or a CSV line damaged as text: tokens spliced in, numbers made huge, lines doubled or cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(out) + 1)
        operation = rng.randrange(5)
        if operation == 0:
            out[at:at] = rng.choice(XML_TOKENS)
        elif operation == 1:
            del out[at : at + rng.randint(1, 40)]
        elif operation == 2:
            digit = next((i for i in range(at, min(at + 200, len(out))) if 48 <= out[i] <= 57), None)
            if digit is not None:
                out[digit:digit] = rng.choice((b"9" * 12, b"9" * 5000, b"-", b"0" * 3, b"."))
        elif operation == 3:
            end = out.find(b"\n", at)
            start = out.rfind(b"\n", 0, at) + 1
            line = out[start : end if end >= 0 else len(out)]
            copies = rng.choice((1, 2, 50))
            if len(line) * copies < MB:  # a few of these in a row must not multiply a part into gigabytes
                out[start:start] = line * copies
        else:
            out[at:at] = rng.choice((b'"', b",", b";", b"\t", b"\r", b"\n", b"\xe9", b"\xef\xbb\xbf", b"\x00"))
    return bytes(out)


def mutate_zip_member(data: bytes, rng: random.Random) -> bytes:
    """Inflate one part of a zip, damage it as text, and zip everything again with good CRCs."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = [(info, archive.read(info)) for info in archive.infolist()]
    candidates = [index for index, (info, _) in enumerate(parts) if info.filename.endswith((".xml", ".rels"))]
    index = rng.choice(candidates)
    info, content = parts[index]
    parts[index] = (info, mutate_text(content, rng))
    if rng.random() < 0.1:
        parts.append((zipfile.ZipInfo(rng.choice(("mimetype", "xl/workbook.xml", "content.xml"))), b"x"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a duplicated part name is one of the mutations
        for member, body in parts:
            out.writestr(member.filename, body, compress_type=member.compress_type)
    return buffer.getvalue()


def mutant(seed: bytes, kind: str, rng: random.Random) -> bytes:
    """A damaged copy of `seed`: zip parts re-zipped half the time, bytes otherwise; CSVs also damaged as text."""
    if kind.startswith(("xlsx", "ods")) and rng.random() < 0.5:
        return mutate_zip_member(seed, rng)
    if kind.startswith("csv") and rng.random() < 0.5:
        return mutate_text(seed, rng)
    return mutate_bytes(seed, rng)


# --- running a case in a forked child -------------------------------------------------------------------------------


def read_through_the_pipeline(path: Path) -> str:
    """What the web request and the worker do with an upload, short of writing: open, choose, map, validate."""
    from users.imports.pipeline import validated_chunks
    from users.imports.read import open_import_sheet

    rows = 0
    with open_import_sheet(path) as sheet:
        for chunk in validated_chunks(sheet, chunk_rows=250):
            rows += chunk.rows
    return f"{rows} rows"


def warm_up(folder: Path) -> None:
    """Read every seed here, in the parent, so each child inherits the imported readers and their lazy imports.

    The pipeline imports its heavy modules where they are used (calamine, phonenumbers' metadata, the
    readers): without this, every child imported them again, ~100 ms a case instead of a few.
    """
    for kind, build in SEEDS.items():
        outcome = read_through_the_pipeline(build(folder))
        assert outcome != "0 rows", f"the {kind} seed must be readable: {outcome}"


def run_case(path: Path, *, seconds: float = CASE_SECONDS, memory_bytes: int = MEMORY_LIMIT_BYTES) -> Outcome:
    """Read `path` in a child forked from this process, capped at `memory_bytes` more address space and `seconds`."""
    reader, writer = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reader)
        _child(path, writer, memory_bytes)
    os.close(writer)
    chunks: list[bytes] = []
    deadline = started + seconds
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([reader], [], [], remaining)[0]:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            break
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - started
    if timed_out:
        return Outcome("timeout", f"still running after {seconds:.0f} s", elapsed, 0)
    try:
        report = json.loads(b"".join(chunks))
    except ValueError:
        return Outcome("crashed", f"the child died without a report (wait status {status})", elapsed, 0)
    return Outcome(report["kind"], report["detail"], elapsed, report["memory"])


def _child(path: Path, writer: int, memory_bytes: int) -> None:
    report: dict[str, object]
    start_rss = _status_kib("VmRSS")
    try:
        logging.disable(logging.CRITICAL)
        resource.setrlimit(resource.RLIMIT_AS, (_status_kib("VmSize") * 1024 + memory_bytes,) * 2)
        report = {"kind": "read", "detail": read_through_the_pipeline(path)}
    except BaseException as exc:  # noqa: BLE001 - the child reports whatever happened; the parent judges it
        report = _judge(exc)
    try:
        report["memory"] = max(_status_kib("VmHWM") - start_rss, 0) * 1024
        os.write(writer, json.dumps(report).encode())
    finally:
        os._exit(0)


def _judge(exc: BaseException) -> dict[str, object]:
    from users.imports.errors import ImportRefused

    if isinstance(exc, ImportRefused):
        message = exc.message
        if message and message[0].isupper() and message.endswith(".") and len(message) < 600:
            return {"kind": "refused", "detail": f"{exc.code}: {message}"}
        return {"kind": "error", "detail": f"ImportRefused({exc.code}) without a sentence: {message!r}"}
    frames = traceback.format_exception(exc)
    return {"kind": "error", "detail": f"{type(exc).__name__}: {exc}"[:300] + "\n" + "".join(frames[-6:])[-2000:]}


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# --- a run ----------------------------------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    cases: int = 0
    read: int = 0
    refused: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    most_memory: int = 0
    failures: list[tuple[str, Outcome, Path]] | None = None


def fuzz(folder: Path, *, cases: int, seed: int) -> FuzzReport:
    """`cases` mutants of the seeds, round-robin, each from its own Random(seed, index) so any one can be replayed."""
    seeds = {kind: build(folder).read_bytes() for kind, build in SEEDS.items()}
    warm_up(folder)
    kinds = sorted(seeds)
    report = FuzzReport(failures=[])
    started = time.monotonic()
    for index in range(cases):
        kind = kinds[index % len(kinds)]
        rng = random.Random(f"{seed}:{index}")
        data = mutant(seeds[kind], kind, rng)
        path = folder / f"case{Path(SEEDS_SUFFIX[kind]).suffix}"
        path.write_bytes(data)
        outcome = run_case(path)
        report.cases += 1
        report.slowest = max(report.slowest, outcome.seconds)
        report.most_memory = max(report.most_memory, outcome.memory_bytes)
        if outcome.kind == "read":
            report.read += 1
        elif outcome.kind == "refused":
            report.refused += 1
        else:
            report.failures.append((f"{kind} #{index} (seed {seed})", outcome, save_case(data, kind)))
    report.seconds = time.monotonic() - started
    return report


SEEDS_SUFFIX = {kind: ".csv" if kind.startswith("csv") else "." + kind.split("-")[0] for kind in SEEDS}


def save_case(data: bytes, kind: str) -> Path:
    """Keep a failing input under a name made of its content's hash, so the regression test replays it."""
    SAVED_CASES.mkdir(exist_ok=True)
    path = SAVED_CASES / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}{SEEDS_SUFFIX[kind]}"
    path.write_bytes(data)
    return path
