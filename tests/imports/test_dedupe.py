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


def colliding_hash(key: str) -> int:
    """A hash under which many different keys share a tag: every hit must be settled by the exact check."""
    return (len(key) % 3) << 62 | 7


@pytest.fixture(params=["hashed", "colliding"])
def index(request: pytest.FixtureRequest) -> Iterator[DuplicateIndex]:
    """Every behaviour holds with the real hash and with one where different keys collide all the time."""
    key_hash = colliding_hash if request.param == "colliding" else None
    with DuplicateIndex(**({"key_hash": key_hash} if key_hash else {})) as duplicate_index:
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


def test_keys_sharing_a_hash_are_told_apart_by_their_values() -> None:
    with DuplicateIndex(key_hash=colliding_hash) as index:
        index.admit([candidate(n, f"+2332412345{n:02d}", f"PM{n:02d}") for n in range(2, 40)])
        result = index.admit([candidate(50, "+233241234599", "PM99"), candidate(51, "+233241234502", "PMX")])
        assert admitted_rows(result) == [50], "a key that only shares a hash with an earlier one is new"
        assert duplicate(result).duplicate_of_row == 2


def test_the_table_grows_past_its_first_size_and_still_finds_every_key() -> None:
    with DuplicateIndex() as index:
        rows = [candidate(n, f"+23324{n:07d}", f"PM{n}") for n in range(2, 20_002)]  # 40,000 keys: several growths
        assert len(index.admit(rows)[0]) == 20_000
        again = index.admit([candidate(30_000 + n, f"+23324{n:07d}", f"PMNEW{n}") for n in range(2, 20_002, 997)])
        assert [p.duplicate_of_row for p in again[1]] == list(range(2, 20_002, 997))


def test_a_closed_index_refuses_more_rows() -> None:
    index = DuplicateIndex()
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
    st.booleans(),
)
def test_any_batching_and_any_hash_gives_the_plain_rules_answer(
    rows: list[tuple[str, str, str]], batch_sizes: list[int], colliding: bool
) -> None:
    candidates = [candidate(n, phone, mark, email) for n, (phone, mark, email) in enumerate(rows, start=2)]
    admitted, duplicates = [], []
    with DuplicateIndex(**({"key_hash": colliding_hash} if colliding else {})) as index:
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

    process = psutil.Process()
    mb = lambda: process.memory_info().rss / 2**20
    total, batch_rows = 300_000, 2_000
    baseline = peak = mb()
    started = time.process_time()
    with dedupe.DuplicateIndex() as index:
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
        admitted_total = index.admitted
    print(json.dumps({
        "baseline": baseline, "peak": peak, "end": mb(), "admitted": admitted_total,
        "cpu_seconds": time.process_time() - started,
    }))
    """
)


@pytest.mark.slow
def test_300k_candidates_are_checked_in_bounded_memory() -> None:
    """800,000 keys as 8-byte slots: a dict of them (what the index once was) would add about 80 MB."""
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
    assert probe["admitted"] == 300_000
    assert probe["peak"] - probe["baseline"] < 30, f"peak RSS {probe['peak'] - probe['baseline']:.1f} MB over: {probe}"
