"""Mutation fuzzing: thousands of damaged spreadsheets, each read or refused with a sentence, in bounded time, memory.

`make fuzz FUZZ_CASES=20000 FUZZ_SEED=…` runs it longer; the suite runs a
bounded, seeded count once per database engine (the readers touch no
database, so both runs fuzz the same way; a second seed costs nothing extra).
How a case runs, and why RLIMIT_AS: tests/hostile/fuzz.py.
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.fuzz import CASE_SECONDS, MB, MEMORY_LIMIT_BYTES, SAVED_CASES, fuzz, run_case
from tests.imports.spreadsheets import CUSTOMERS, HEADER, write_csv

pytestmark = pytest.mark.slow

# Measured on the 2-core dev box: 1,000 cases took 22 s when it was quiet and 40 s under the load of five
# engineers' test runs (the .xls and .ods cases that pass the checks start calamine's trial parse, an
# interpreter each), so the suite runs 800: 18-32 s.
SUITE_CASES = 800
SUITE_SEED = 20_260_101


def test_mutated_spreadsheets_are_read_or_refused_with_a_sentence_within_10_s_and_200_mb(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    cases = int(os.environ.get("FUZZ_CASES", SUITE_CASES))
    seed = int(os.environ.get("FUZZ_SEED", SUITE_SEED))

    report = fuzz(tmp_path, cases=cases, seed=seed)

    sys.stderr.write(
        f"\nfuzz: {report.cases} cases from seed {seed} in {report.seconds:.0f} s: {report.read} read, "
        f"{report.refused} refused, {len(report.failures or [])} failed; slowest {report.slowest:.2f} s, "
        f"most memory {report.most_memory / MB:.1f} MB\n"
    )
    record_property(
        "measured",
        {
            "cases": report.cases,
            "seed": seed,
            "read": report.read,
            "refused": report.refused,
            "seconds": round(report.seconds, 1),
            "slowest_case_s": round(report.slowest, 2),
            "most_memory_mb": round(report.most_memory / MB, 1),
        },
    )
    failures = "\n\n".join(
        f"{name}: {outcome.kind} after {outcome.seconds:.1f} s: {outcome.detail}\n  saved as {saved}"
        for name, outcome, saved in report.failures or []
    )
    assert not report.failures, (
        f"{len(report.failures)} of {report.cases} cases were neither read nor refused with a sentence within "
        f"{CASE_SECONDS:.0f} s and {MEMORY_LIMIT_BYTES // MB} MB (seed {seed}); each input is saved for the "
        f"regression test below, commit it with the fix:\n\n{failures}"
    )


@pytest.mark.parametrize("path", sorted(SAVED_CASES.glob("*.*")), ids=lambda path: path.name)
def test_every_input_the_fuzzer_once_broke_is_now_read_or_refused_with_a_sentence(path: Path) -> None:
    outcome = run_case(path)

    assert outcome.passed, f"{path.name}: {outcome.kind} after {outcome.seconds:.1f} s: {outcome.detail}"


# --- the harness itself: each way a case can fail is noticed ---------------------------------------------------------


def test_the_harness_fails_a_case_that_allocates_past_the_memory_cap(tmp_path: Path, monkeypatch) -> None:
    """With the CSV record bound undone, a 40 MB line of commas asks for ~320 MB: the kernel says no at once."""
    monkeypatch.setattr("users.imports.readers.delimited.MAX_RECORD_CHARS", 10**9)
    path = tmp_path / "commas.csv"
    path.write_bytes(b"Shipping Mark,Phone Number\n" + b"," * (40 * MB))

    outcome = run_case(path)

    assert (outcome.kind, outcome.detail.startswith("MemoryError")) == ("error", True), outcome


def test_the_harness_fails_a_case_that_runs_past_its_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("users.imports.readers.delimited.sniff_delimiter", lambda sample: time.sleep(30))

    outcome = run_case(write_csv(tmp_path / "c.csv", [HEADER, *CUSTOMERS]), seconds=1)

    assert (outcome.kind, outcome.seconds < 5) == ("timeout", True), outcome


def test_the_harness_fails_a_case_whose_process_dies(tmp_path: Path, monkeypatch) -> None:
    """What calamine's abort would do inside the process that reads the file."""
    monkeypatch.setattr("users.imports.readers.delimited.sniff_delimiter", lambda sample: os.abort())

    outcome = run_case(write_csv(tmp_path / "c.csv", [HEADER, *CUSTOMERS]))

    assert outcome.kind == "crashed", outcome
