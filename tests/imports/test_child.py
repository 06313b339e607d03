"""Forked children for import work: items arrive in order, failures arrive as failures, nothing is left behind."""

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from users.imports.child import ChildFailed, ChildKilled, iterate_in_child, run_in_child
from users.imports.errors import ImportRefused
from users.models import FileErrorCode

DAMAGED = "The file is damaged from row 4,001 on."


def no_children_left() -> bool:
    return not psutil.Process().children(recursive=True)


def test_items_made_in_a_child_arrive_in_order_from_another_process() -> None:
    def produce() -> Iterator[tuple[int, list[int]]]:
        for n in range(300):
            yield os.getpid(), list(range(n, n + 2_000))  # a chunk's worth each: the pipe fills and drains

    received = list(iterate_in_child(produce))
    assert [numbers[0] for _pid, numbers in received] == list(range(300))
    assert {pid for pid, _numbers in received} != {os.getpid()}, "the items were made in this process"
    assert no_children_left()


def test_a_refusal_in_the_child_is_raised_here_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ImportRefused(FileErrorCode.DAMAGED, DAMAGED)

    received = []
    with pytest.raises(ImportRefused) as refused:
        for item in iterate_in_child(produce):
            received.append(item)
    assert received == [1, 2]
    assert (refused.value.code, refused.value.message) == (FileErrorCode.DAMAGED, DAMAGED)
    assert no_children_left()


def test_an_error_in_the_child_is_a_failure_here_not_a_hang() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("a bug")

    with pytest.raises(ChildFailed, match="ValueError") as failed:
        list(iterate_in_child(produce))
    assert not isinstance(failed.value, ChildKilled), "a bug fails the job; only a killed child means resume"
    assert no_children_left()


def test_a_child_killed_midway_is_a_failure_here_not_a_short_file() -> None:
    def produce() -> Iterator[int]:
        yield 1
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        yield 2

    with pytest.raises(ChildKilled, match="stopped before its end"):
        list(iterate_in_child(produce))
    assert no_children_left()


def test_closing_early_stops_the_child() -> None:
    def produce() -> Iterator[int]:
        n = 0
        while True:  # never ends by itself
            n += 1
            yield n

    items = iterate_in_child(produce)
    assert next(items) == 1
    items.close()  # what a cancel or a failed write does
    assert no_children_left(), "the reading process outlived the pass that needed it"


def test_a_job_in_a_child_returns_when_it_ends_and_fails_when_it_fails(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run_in_child(lambda: marker.write_text(str(os.getpid())))
    assert marker.read_text() != str(os.getpid()), "the job ran in a process of its own"
    with pytest.raises(ChildFailed, match="exited 1"):
        run_in_child(lambda: 1 / 0)  # noqa: B018 - the error is the point
    assert no_children_left()


# ---------------------------------------------------------------- the pipeline's read stage in a child


def sheet_file(path: Path, rows: int) -> Path:
    from tests.imports.factories import customer_rows
    from tests.imports.spreadsheets import HEADER, write_xlsx

    table = [HEADER]
    for n, r in enumerate(customer_rows(rows), start=1):
        phone = "not a phone" if n % 97 == 0 else r["phone"]
        mark = "PM 00003" if n % 101 == 0 else r["shipping_mark"]  # in-file duplicates of an early row
        table.append((mark, r["first_name"], r["last_name"], r["email"], phone, ""))
    return write_xlsx(path, table)


def chunks_of(path: Path, *, overlap: bool) -> tuple[list[tuple], set[int]]:
    """Each chunk's rows, candidates, duplicates and invalid rows, and the processes that made them."""
    from users.imports import pipeline
    from users.imports.read import open_import_sheet

    seen, pids = [], set()
    with open_import_sheet(path) as sheet:
        for chunk in pipeline._chunks(sheet, chunk_rows=1_000, overlap=overlap):
            pids.update(child.pid for child in psutil.Process().children())
            seen.append(
                (
                    chunk.first_row,
                    chunk.last_row,
                    chunk.rows,
                    [c.row_number for c in chunk.candidates],
                    [(p.row_number, p.duplicate_of_row, p.reason) for p in chunk.duplicates],
                    [(p.row_number, p.code) for p in chunk.invalid],
                )
            )
    return seen, pids


@pytest.mark.django_db(transaction=True)
def test_chunks_read_in_a_child_are_the_ones_read_in_one_process(tmp_path: Path) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite reads in one process")
    path = sheet_file(tmp_path / "five-chunks.xlsx", 5_000)
    single, single_pids = chunks_of(path, overlap=False)
    overlapped, overlapped_pids = chunks_of(path, overlap=True)
    assert overlapped == single, "the child made other chunks than one process makes"
    assert not single_pids and overlapped_pids, "only the overlapped pass had a second process"
    assert no_children_left()


@pytest.mark.django_db(transaction=True)
def test_a_file_of_one_chunk_is_read_without_a_second_process(tmp_path: Path) -> None:
    path = sheet_file(tmp_path / "one-chunk.xlsx", 900)
    chunks, pids = chunks_of(path, overlap=True)
    assert len(chunks) == 1 and not pids, "a small upload paid for a fork"


def children_seen_while(work: Callable[[], None]) -> bool:
    """Whether this process had a child at any moment while `work` ran (sampled every few milliseconds)."""
    import threading

    seen, done = [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            if psutil.Process().children():
                seen.append(True)
                return
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return bool(seen)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("read_ahead", [True, False])
def test_import_read_ahead_decides_whether_a_job_reads_in_a_second_process(
    read_ahead: bool, admin_user, settings
) -> None:
    from django.db import connection

    from tests.imports.factories import customer_rows
    from users.imports.jobs import import_job_run
    from users.imports.services import import_job_create_from_payload
    from users.models import ImportStatus

    if connection.vendor != "postgresql":
        pytest.skip("SQLite reads in one process whatever the setting")
    settings.IMPORT_READ_AHEAD = read_ahead
    settings.IMPORT_TRANSACTION_ROWS = 500
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(3_000))

    forked = children_seen_while(lambda: import_job_run(job_id=job.id))

    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 3_000)
    assert forked is read_ahead, f"IMPORT_READ_AHEAD={read_ahead}: a second process {'never ' * read_ahead}ran"
    assert no_children_left()
