"""What the Check step costs on the largest file a sheet can hold: `make bench-corrections`.

On a generated file (bench/generate.py, 2% of rows invalid) in a scratch
database of its own, in one process:

1. `RowKeyRecorder` (what lets a correction be checked against every other
   row) alone on 100,000 made-up rows; then the dry run's check twice,
   without and with it, each on a fresh job: wall and CPU seconds, and the
   keys' size in the database (both checks run in this one process, so the
   second one's peak RSS also carries the first one's leftovers);
2. the rows to correct, through the job API (JWT, the full middleware stack):
   the first page and the last, `page_size=25`;
3. corrections through the job API: `CORRECTIONS` rejected rows given a new,
   valid phone, then as many given another row's phone (refused as duplicates):
   each request's time, p50, p95 and max;
4. the seam the commit reads corrections through: streaming every row of the
   sheet as read, then through `CorrectedSheet` with those corrections.

    python bench/corrections.py                                    # 1,048,575 rows, SQLite
    python bench/corrections.py --rows 100000 --engine postgres    # needs the machine's PostgreSQL
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "primepre_bench_corrections"
CORRECTIONS = 200


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scratch_database(engine: str, folder: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{folder / 'bench.sqlite3'}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}"


def timed(call: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_048_575)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-corrections-"))
    sheet_path = folder / f"customers-{args.rows}.xlsx"
    print(f"Generating {args.rows:,} rows in {sheet_path} …", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            str(sheet_path),
            str(args.rows),
            "--seed",
            "7",
            "--error-rate",
            "0.02",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.environ.update(
        DEBUG="true",
        DATABASE_URL=scratch_database(args.engine, folder),
        MEDIA_ROOT=str(folder / "media"),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="primepre.settings",
    )
    import django

    django.setup()
    from django.contrib.auth.models import Permission
    from django.core.files import File
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    from users.imports import lifecycle
    from users.imports.corrections import CorrectedSheet
    from users.imports.jobs import open_job_sheet
    from users.imports.pipeline import validate_sheet
    from users.imports.rowkeys import RowKeyRecorder
    from users.imports.rows import Candidate, Field
    from users.models import ImportJob, ImportKeyBlock, ImportRowError, ImportSource, ImportStatus, RowErrorCode, User

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("0241000001", str(uuid.uuid4()), first_name="Bench", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_customer", "view_customer"]))
    print(f"{connection.vendor}, {args.rows:,} rows, {sheet_path.stat().st_size / 2**20:.1f} MB", flush=True)

    def checked_job(*, record: bool) -> tuple[ImportJob, float, float]:
        job = ImportJob(created_by=user, source=ImportSource.FILE, dry_run=True, original_filename=sheet_path.name)
        with sheet_path.open("rb") as source:
            job.file.save(sheet_path.name, File(source), save=False)
        lease = lifecycle.hold_for_request(job, status=ImportStatus.VALIDATING)
        job.save()
        with open_job_sheet(job) as sheet:
            collect = RowKeyRecorder(job_id=job.id) if record else None
            wall, cpu, _ = timed(lambda: validate_sheet(job, sheet, lease=lease, collect=collect))
        reset_queries()
        return lifecycle.finish(lease, status=ImportStatus.VALIDATED), wall, cpu

    # The recorder alone, on 100,000 made-up rows in 2,000-row chunks: its cost without the check's noise around it.
    scratch = ImportJob.objects.create(created_by=user)
    made_up = [
        Candidate(i + 2, f"PM{i:07d}", "Ama", "Mensah", f"ama{i}@example.com", f"+23324{i:07d}", "ASHANTI")
        for i in range(100_000)
    ]
    recorder = RowKeyRecorder(job_id=scratch.id)
    _wall, alone_cpu, _ = timed(lambda: [recorder.record(made_up[at : at + 2000]) for at in range(0, 100_000, 2000)])
    reset_queries()
    print(f"keys of 100,000 rows recorded alone: {alone_cpu:.2f} s CPU ({10 * alone_cpu:.1f} µs a row)")

    plain, plain_wall, plain_cpu = checked_job(record=False)
    print(f"check without keys: {plain_wall:.1f} s wall, {plain_cpu:.1f} s CPU, peak RSS {peak_rss_mb():.0f} MB")
    job, keyed_wall, keyed_cpu = checked_job(record=True)
    blocks = ImportKeyBlock.objects.filter(job=job)
    stored = sum(len(data) for data in blocks.values_list("data", flat=True).iterator())
    print(
        f"check with keys:    {keyed_wall:.1f} s wall, {keyed_cpu:.1f} s CPU, peak RSS {peak_rss_mb():.0f} MB; "
        f"+{keyed_cpu - plain_cpu:.1f} s CPU ({100 * (keyed_cpu - plain_cpu) / plain_cpu:.0f}%); "
        f"{blocks.count():,} blocks, {stored / 2**20:.1f} MB of keys"
    )
    print(f"job: {job.total_rows:,} rows, {job.valid_rows:,} valid, {job.failed_count:,} rejected")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    rows_url = f"/api/imports/{job.id}/rows/"
    first_page = [timed(lambda: client.get(rows_url, {"page_size": 25}))[0] for _ in range(5)]
    pages = -(-(job.failed_count + job.skipped_count) // 25)
    last_page = [timed(lambda: client.get(rows_url, {"page_size": 25, "page": pages}))[0] for _ in range(5)]
    print(
        f"rows to correct, page 1 of {pages:,}: {1000 * statistics.median(first_page):.0f} ms; "
        f"last page: {1000 * statistics.median(last_page):.0f} ms (median of 5)"
    )

    phone_rows = list(
        ImportRowError.objects.filter(job=job, code=RowErrorCode.PHONE_INVALID)
        .exclude(
            row_number__in=ImportRowError.objects.filter(job=job)
            .exclude(code=RowErrorCode.PHONE_INVALID)
            .values("row_number")
        )
        .values_list("row_number", flat=True)
        .order_by("row_number")[: 2 * CORRECTIONS]
    )
    # Half the refusals take another corrected row's phone, half a phone the file already has on a valid row.
    rejected = set(ImportRowError.objects.filter(job=job).values_list("row_number", flat=True)[: 100 * CORRECTIONS])
    file_phones = []
    with open_job_sheet(job) as sheet:
        phone_column = sheet.header.columns[Field.PHONE]
        for row in sheet.data_rows():
            if row.number not in rejected and len(file_phones) < CORRECTIONS // 2:
                file_phones.append(str(row.cells[phone_column]))
            if len(file_phones) >= CORRECTIONS // 2:
                break
    taken = [f"0299{n:06d}" for n in range(CORRECTIONS // 2)] + file_phones

    def correct(row: int, phone: str) -> tuple[int, float]:
        wall, _cpu, answer = timed(
            lambda: client.patch(f"{rows_url}{row}/", {"values": {"phone": phone}}, format="json")
        )
        return answer.status_code, wall  # type: ignore[attr-defined]

    # A row with a bad phone may also share its mark with a later row (the generator's repeated marks): refused too.
    first = [correct(row, f"0299{n:06d}") for n, row in enumerate(phone_rows[:CORRECTIONS])]
    accepted = [wall for status, wall in first if status == 200]
    refused = [wall for status, wall in first if status == 422]
    refused += [correct(row, phone)[1] for row, phone in zip(phone_rows[CORRECTIONS:], taken, strict=False)]
    for name, times in (("corrections stored", accepted), ("corrections refused", refused)):
        if times:
            print(
                f"{name} ({len(times)}): p50 {1000 * statistics.median(times):.0f} ms, "
                f"p95 {1000 * percentile(times, 0.95):.0f} ms, max {1000 * max(times):.0f} ms"
            )

    job.refresh_from_db()
    with open_job_sheet(job) as sheet:
        plain_sheet = sheet._sheet if isinstance(sheet, CorrectedSheet) else sheet
        read_wall, read_cpu, count = timed(lambda: sum(1 for _ in plain_sheet.data_rows()))
        seam_wall, seam_cpu, _ = timed(lambda: sum(1 for _ in CorrectedSheet(plain_sheet, job_id=job.id).data_rows()))
    print(
        f"streaming {count:,} rows: {read_cpu:.1f} s CPU as read, {seam_cpu:.1f} s CPU through CorrectedSheet "
        f"with {job.corrected_rows} corrections (wall {read_wall:.1f} s, {seam_wall:.1f} s)"
    )
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
