"""DuplicateIndex: the first row with a phone, mark or email wins; later ones are duplicates of it."""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence

import pytest
from django.conf import settings as django_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from users.imports.dedupe import DuplicateIndex
from users.imports.rows import TEMPLATE_COLUMNS, Candidate, Field, HeaderMap, RowProblem, SourceRow
from users.imports.validate import RowValidator
from users.models import RowErrorCode


def candidate(row: int, phone: str, mark: str, email: str = "") -> Candidate:
    return Candidate(
        row_number=row,
        shipping_mark=mark,
        first_name="Ama",
        last_name="Mensah",
        email=email,
        phone=phone,
        region="GREATER_ACCRA",
        raw={"Shipping Mark": mark.lower(), "Email": email, "Phone Number": "0" + phone[4:]},
    )


def admitted_rows(result: tuple[list[Candidate], list[RowProblem]]) -> list[int]:
    return [c.row_number for c in result[0]]


def duplicate(result: tuple[list[Candidate], list[RowProblem]]) -> RowProblem:
    assert len(result[1]) == 1, result[1]
    return result[1][0]


@pytest.fixture(params=["memory", "disk"])
def index(request: pytest.FixtureRequest) -> Iterator[DuplicateIndex]:
    """Every behaviour holds whether the keys are still in memory or already on disk."""
    with DuplicateIndex(memory_keys=0 if request.param == "disk" else 1_000_000) as duplicate_index:
        yield duplicate_index


def test_a_later_batch_row_with_an_earlier_phone_is_a_duplicate(index: DuplicateIndex) -> None:
    index.admit([candidate(2, "+233241234567", "PM1")])
    problem = duplicate(index.admit([candidate(3, "+233241234567", "PM2")]))
    assert (problem.code, problem.row_number, problem.duplicate_of_row) == (RowErrorCode.DUPLICATE_IN_FILE, 3, 2)
    assert (problem.column, problem.value, problem.reason) == (
        "Phone Number",
        "0241234567",
        "Same phone number as row 2.",
    )


def test_two_rows_of_one_batch_with_one_mark_keep_the_first(index: DuplicateIndex) -> None:
    result = index.admit([candidate(2, "+233241234567", "PM1"), candidate(3, "+233241234568", "PM1")])
    assert admitted_rows(result) == [2]
    assert duplicate(result).reason == "Same shipping mark as row 2."


def test_a_duplicate_problem_keeps_the_raw_row(index: DuplicateIndex) -> None:
    first, second = candidate(2, "+233241234567", "PM1"), candidate(3, "+233241234567", "PM2")
    assert duplicate(index.admit([first, second])).raw == second.raw


def test_emails_match_regardless_of_case(index: DuplicateIndex) -> None:
    index.admit([candidate(2, "+233241234567", "PM1", "Ama@example.com")])
    problem = duplicate(index.admit([candidate(9, "+233241234568", "PM2", "ama@example.com")]))
    assert (problem.column, problem.reason) == ("Email", "Same email address as row 2.")


def test_empty_emails_never_make_rows_duplicates(index: DuplicateIndex) -> None:
    rows = [candidate(n, f"+23324123456{n}", f"PM{n}", "") for n in range(2, 8)]
    assert admitted_rows(index.admit(rows)) == [2, 3, 4, 5, 6, 7]


def test_a_row_matching_several_earlier_rows_names_them_all(index: DuplicateIndex) -> None:
    index.admit([candidate(2, "+233241234567", "PM1"), candidate(3, "+233241234568", "PM2")])
    problem = duplicate(index.admit([candidate(4, "+233241234567", "PM2")]))
    assert (problem.duplicate_of_row, problem.reason) == (
        2,
        "Same phone number as row 2 and same shipping mark as row 3.",
    )


def test_later_rows_compare_against_the_first_occurrence_only(index: DuplicateIndex) -> None:
    # Row 3 repeats row 2's phone and is not admitted, so row 4, sharing only row 3's mark, is new.
    result = index.admit(
        [
            candidate(2, "+233241234567", "PM1"),
            candidate(3, "+233241234567", "PM2"),
            candidate(4, "+233241234569", "PM2"),
        ]
    )
    assert admitted_rows(result) == [2, 4]


def test_rows_that_failed_validation_do_not_make_later_rows_duplicates(index: DuplicateIndex) -> None:
    header = HeaderMap(header_row=1, columns={f: i for i, (f, _label) in enumerate(TEMPLATE_COLUMNS)}, labels={})
    validator = RowValidator(header)
    failed = validator.validate(SourceRow(number=2, cells=("PM1", "Ama", "Mensah", "not an email", "0241234567", "")))
    good = validator.validate(SourceRow(number=3, cells=("PM2", "Kofi", "Owusu", "", "0241234567", "")))
    assert isinstance(failed, list) and isinstance(good, Candidate)
    assert admitted_rows(index.admit([good])) == [3]


def test_the_column_is_named_as_the_sheets_header_names_it() -> None:
    header = HeaderMap(header_row=1, columns={Field.PHONE: 0}, labels={Field.PHONE: "Tel"})
    with DuplicateIndex(header=header) as index:
        index.admit([candidate(2, "+233241234567", "PM1")])
        assert duplicate(index.admit([candidate(3, "+233241234567", "PM2")])).column == "Tel"


def test_keys_move_to_disk_past_the_memory_limit_and_are_still_found() -> None:
    with DuplicateIndex(memory_keys=10) as index:
        index.admit([candidate(n, f"+2332412345{n:02d}", f"PM{n}") for n in range(2, 12)])
        assert index.on_disk
        assert duplicate(index.admit([candidate(20, "+233241234502", "PMX")])).duplicate_of_row == 2


def test_a_closed_index_refuses_more_rows() -> None:
    index = DuplicateIndex(memory_keys=0)
    index.admit([candidate(2, "+233241234567", "PM1")])
    index.close()
    index.close()  # closing twice is harmless
    with pytest.raises(RuntimeError):
        index.admit([candidate(3, "+233241234568", "PM2")])


# ---------------------------------------------------------------- against a plain reference

PHONES = st.sampled_from([f"+23324123456{n}" for n in range(5)])
MARKS = st.sampled_from(["PM1", "PM2", "PM3", "PM4", "PM5"])
EMAILS = st.sampled_from(["", "", "ama@example.com", "Ama@example.com", "kofi@example.com"])


def reference(candidates: Sequence[Candidate]) -> tuple[list[int], list[tuple[int, int]]]:
    """The rule, written the obvious way: admitted rows, and (row, duplicate_of_row) for the rest."""
    first_row: dict[tuple[str, str], int] = {}
    admitted, duplicates = [], []
    for c in candidates:
        keys = [("p", c.phone), ("m", c.shipping_mark)] + ([("e", c.email.lower())] if c.email else [])
        earlier = [first_row[k] for k in keys if k in first_row]
        if earlier:
            duplicates.append((c.row_number, earlier[0]))
        else:
            admitted.append(c.row_number)
            first_row.update(dict.fromkeys(keys, c.row_number))
    return admitted, duplicates


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(PHONES, MARKS, EMAILS), max_size=30),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10),
    st.sampled_from([0, 4, 1_000]),
)
def test_any_batching_and_memory_limit_gives_the_plain_rules_answer(
    rows: list[tuple[str, str, str]], batch_sizes: list[int], memory_keys: int
) -> None:
    candidates = [candidate(n, phone, mark, email) for n, (phone, mark, email) in enumerate(rows, start=2)]
    admitted, duplicates = [], []
    with DuplicateIndex(memory_keys=memory_keys) as index:
        start, turn = 0, 0
        while start < len(candidates):
            size = batch_sizes[turn % len(batch_sizes)]
            batch_admitted, batch_duplicates = index.admit(candidates[start : start + size])
            admitted += [c.row_number for c in batch_admitted]
            duplicates += [(p.row_number, p.duplicate_of_row) for p in batch_duplicates]
            start, turn = start + size, turn + 1
    assert (admitted, duplicates) == reference(candidates)


# ---------------------------------------------------------------- memory

MEMORY_PROBE = textwrap.dedent(
    """
    import json, os, time
    import django
    django.setup()
    import psutil
    from users.imports import dedupe
    from users.imports.rows import Candidate

    dedupe.CACHE_KIB = 4096
    process = psutil.Process()
    mb = lambda: process.memory_info().rss / 2**20
    total, batch_rows = 200_000, 2_000
    baseline = peak = mb()
    after_spill = None
    started = time.process_time()
    with dedupe.DuplicateIndex(memory_keys=30_000) as index:
        for start in range(0, total, batch_rows):
            batch = [
                Candidate(
                    row_number=n + 2,
                    shipping_mark=f"PM{n * 7919 % 10**9:09d}",
                    first_name="Ama",
                    last_name="Mensah",
                    email=f"ama.{n}@example.com" if n % 3 else "",
                    phone=f"+2332{n * 48271 % 10**8:08d}",
                    region="ASHANTI",
                )
                for n in range(start, start + batch_rows)
            ]
            admitted, duplicates = index.admit(batch)
            peak = max(peak, mb())
            if index.on_disk and after_spill is None and start >= 20_000:
                after_spill = mb()
        on_disk = index.on_disk
        admitted_total = index.admitted
    print(json.dumps({
        "baseline": baseline, "peak": peak, "after_spill": after_spill, "end": mb(), "on_disk": on_disk,
        "admitted": admitted_total, "cpu_seconds": time.process_time() - started,
    }))
    """
)


@pytest.mark.slow
def test_200k_candidates_are_checked_in_bounded_memory() -> None:
    """Once the keys are on disk, memory stays flat: a dict of 600k keys would add ~60 MB."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "primepre.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
        env=env,
        timeout=300,
    )
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe["on_disk"] and probe["admitted"] == 200_000
    growth_after_spill = probe["end"] - probe["after_spill"]
    assert growth_after_spill < 12, f"RSS grew {growth_after_spill:.1f} MB while the keys were on disk: {probe}"
    assert probe["peak"] - probe["baseline"] < 40, f"peak RSS {probe['peak'] - probe['baseline']:.1f} MB over: {probe}"
