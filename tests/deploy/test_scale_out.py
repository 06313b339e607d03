"""Web and task workers as separate processes on separate "machines", sharing nothing but the database.

Each web process (`primepre.supervisor --no-worker`, gunicorn as Render runs it)
and each task worker (`manage.py run_worker`) gets its own MEDIA_ROOT and its own
TMPDIR, so nothing one process writes to its disk can be read by another: a job
completes only if its file went to durable storage. The workers' `[IMPORT-CLAIM]`
and `[IMPORT-RELEASE]` lines record which lease ran which job, so a job run by
two workers at once would show as two claims.
"""

import concurrent.futures
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from django.db import connection

from tests.deploy.stack import Stack, Template, prepare_template, running_stack
from tests.workers import LiveWorker, wait_for_job, worker_database_url
from users.models import Customer, ImportRowError, ImportStatus, RowOutcome

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CSV_HEADER = "Shipping Mark,First Name,Last Name,Email,Phone Number,Region\n"
CLAIM = re.compile(r"\[IMPORT-CLAIM\] job=(?P<job>[0-9a-f-]+) lease=(?P<lease>\S+)")
RELEASE = re.compile(r"\[IMPORT-RELEASE\] job=(?P<job>[0-9a-f-]+) lease=(?P<lease>\S+)")
INVALID_PHONE = "12"


def write_customers(path: Path, numbers: range, *, invalid_every: int = 0) -> Path:
    """A CSV of customers numbered `numbers` (unique phone and mark each); every `invalid_every`-th phone is bad."""
    with path.open("w", encoding="utf-8") as out:
        out.write(CSV_HEADER)
        for n in numbers:
            phone = INVALID_PHONE if invalid_every and n % invalid_every == 0 else f"024{n:07d}"
            out.write(f"PM {n:07d},First{n},Last{n},c{n}@example.com,{phone},Ashanti\n")
    return path


@pytest.fixture
def template(tmp_path: Path) -> Template:
    """The test database, migrated, with a superuser whose token every web process accepts."""
    return prepare_template(tmp_path / "template", database_url=worker_database_url())


def machine(root: Path, name: str) -> dict[str, str]:
    """An instance's own disk: MEDIA_ROOT and TMPDIR nobody else sees."""
    media, scratch = root / name / "media", root / name / "tmp"
    scratch.mkdir(parents=True)
    return {"MEDIA_ROOT": str(media), "TMPDIR": str(scratch)}


@pytest.fixture
def start_web(template: Template, tmp_path: Path) -> Iterator:
    with ExitStack() as stack:

        def start(name: str) -> tuple[Stack, dict[str, str]]:
            disk = machine(tmp_path, name)
            web = stack.enter_context(
                running_stack(
                    template,
                    tmp_path / name / "run",
                    args=("--no-worker",),
                    IMPORT_MAX_ACTIVE_JOBS_PER_USER="0",
                    **disk,
                )
            )
            return web, disk

        yield start


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator:
    workers: list[LiveWorker] = []

    def start(name: str) -> LiveWorker:
        worker = LiveWorker(extra_env=machine(tmp_path, name))
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()


def upload(web: Stack, path: Path, **fields: str) -> str:
    status, body = web.post_file("/api/imports/", path, token=web.token, fields=fields, timeout=300)
    assert status == 202, body[:1000]
    return json.loads(body)["id"]


def files_in(directory: str) -> list[Path]:
    return [path for path in Path(directory).rglob("*") if path.is_file()]


def test_a_checked_upload_is_committed_after_the_web_instances_disk_is_wiped(
    start_web, start_worker, tmp_path: Path
) -> None:
    """A deploy or spin-down between the check and the admin's "Import" click loses nothing."""
    web, web_disk = start_web("web")
    worker = start_worker("worker")
    source = write_customers(tmp_path / "customers.csv", range(1, 301), invalid_every=50)

    job_id = upload(web, source, dry_run="true")
    checked = wait_for_job(job_id, statuses={ImportStatus.VALIDATED, ImportStatus.FAILED}, timeout=120, worker=worker)
    assert checked.status == ImportStatus.VALIDATED, checked.error_message
    assert files_in(web_disk["MEDIA_ROOT"]) == [], "the upload is not kept on the web instance's disk"

    web.stop()
    shutil.rmtree(Path(web_disk["MEDIA_ROOT"]).parent)  # the instance and its disk are gone
    restarted, _ = start_web("web-after-restart")
    status, body = restarted.post_json(
        f"/api/imports/{job_id}/commit/", {}, headers={"Authorization": f"Bearer {restarted.token}"}
    )
    assert status == 202, body[:1000]

    job = wait_for_job(job_id, timeout=180, worker=worker)
    assert job.status == ImportStatus.COMPLETE, f"{job.error_code}: {job.error_message}"
    assert (job.total_rows, job.created_count, job.failed_count, job.skipped_count) == (300, 294, 6, 0)
    assert Customer.objects.filter(import_job_id=job_id).count() == 294
    assert sorted(ImportRowError.objects.filter(job_id=job_id).values_list("row_number", flat=True)) == [
        n + 1 for n in range(50, 301, 50)
    ], "exactly the rows with a bad phone are rejected (row numbers count the header)"


FILES = 5
ROWS_PER_FILE = 50_000
OVERLAP = 1_000  # each file repeats the last rows of the one before: the same customers, imported at once
INVALID_EVERY = 997


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="five writers at once need PostgreSQL: SQLite serialises every write behind one lock, which is what "
    "this deployment (several web instances and workers) must not run on",
)
def test_two_web_instances_and_three_workers_run_five_overlapping_imports_each_once(
    start_web, start_worker, tmp_path: Path
) -> None:
    webs = [start_web(f"web-{n}")[0] for n in range(2)]
    workers = [start_worker(f"worker-{n}") for n in range(3)]
    starts = [n * (ROWS_PER_FILE - OVERLAP) + 1 for n in range(FILES)]
    sources = [
        write_customers(tmp_path / f"file-{n}.csv", range(start, start + ROWS_PER_FILE), invalid_every=INVALID_EVERY)
        for n, start in enumerate(starts)
    ]

    with concurrent.futures.ThreadPoolExecutor(FILES) as pool:
        job_ids = list(pool.map(lambda n: upload(webs[n % 2], sources[n]), range(FILES)))
    jobs = [wait_for_job(job_id, timeout=900) for job_id in job_ids]
    for worker in workers:
        worker.stop()

    assert [job.status for job in jobs] == [ImportStatus.COMPLETE] * FILES, [
        (job.status, job.error_code, job.error_message) for job in jobs
    ]
    numbers = {n for start in starts for n in range(start, start + ROWS_PER_FILE)}
    valid = {n for n in numbers if n % INVALID_EVERY}
    assert Customer.objects.count() == len(valid), "each valid customer once, however many files carried it"
    assert sum(job.created_count for job in jobs) == len(valid)
    for job in jobs:
        assert job.total_rows == ROWS_PER_FILE
        outcomes = (job.created_count, job.updated_count, job.skipped_count, job.failed_count)
        assert sum(outcomes) == ROWS_PER_FILE, f"every row accounted for: {outcomes}"
        assert Customer.objects.filter(import_job=job).count() == job.created_count
        recorded = Counter(ImportRowError.objects.filter(job=job).values_list("outcome", flat=True))
        assert (recorded[RowOutcome.SKIPPED], recorded[RowOutcome.FAILED]) == (job.skipped_count, job.failed_count)

    claims: dict[str, list[str]] = defaultdict(list)
    releases: dict[str, list[str]] = defaultdict(list)
    runners: dict[str, set[int]] = defaultdict(set)
    for index, worker in enumerate(workers):
        log = worker.output()
        for match in CLAIM.finditer(log):
            claims[match["job"]].append(match["lease"])
            runners[match["job"]].add(index)
        for match in RELEASE.finditer(log):
            releases[match["job"]].append(match["lease"])
    assert sorted(claims) == sorted(job_ids), "every job was claimed by a worker"
    doubles = {job_id: leases for job_id, leases in claims.items() if len(leases) != 1}
    assert not doubles, f"a job run by more than one lease: {doubles}"
    assert all(releases[job_id] == claims[job_id] for job_id in job_ids), "each claim ended by its own worker"
    assert len({index for used in runners.values() for index in used}) >= 2, "the imports ran on several workers"
