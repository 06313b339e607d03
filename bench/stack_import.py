"""A full sheet through the job API on the production stack: upload, validate, commit, and the stack's memory.

The service runs as on Render (`python -m primepre.supervisor`: gunicorn with one
sync worker, and one task worker) on a free 127.0.0.1 port, against a PostgreSQL
database made for the run and dropped after it. One staff client uploads the
file with `dry_run=true`, polls until VALIDATED, commits it, and polls until
COMPLETE, as the import page does. Meanwhile the stack's PSS (pages shared
between processes counted once: what the box really uses) is sampled every
0.25 s. Reported: seconds to VALIDATED after the upload's answer, seconds from
the commit to COMPLETE, the total from the upload's start, and the peak PSS.

    python bench/stack_import.py                    # 1,048,575 rows
    python bench/stack_import.py --rows 100000
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "primepre.settings")

from bench.run import PG_ADMIN_URL, PG_BENCH_URL, bench_file, load_average  # noqa: E402
from tests.deploy.stack import prepare_template, running_stack  # noqa: E402


@dataclass(frozen=True)
class StackRun:
    rows: int
    upload_seconds: float
    validate_seconds: float
    commit_seconds: float
    total_seconds: float
    peak_pss_mb: float
    peak_processes: str  # each process's PSS at the peak, MB
    created: int
    failed: int
    load_before: float
    load_after: float


def _database(action: str) -> str:
    import psycopg

    url = PG_BENCH_URL + "_stack"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


def _sample(stack_pid: int, stop: threading.Event, peak: list[float], breakdown: list[str]) -> None:
    import psutil

    from users.monitoring.processes import ProcessRole, stack_memory_get

    while not stop.is_set():
        try:
            memory = stack_memory_get(root_pid=stack_pid)
        except psutil.Error:
            stop.wait(0.25)
            continue
        service = [p for p in memory.processes if p.role != ProcessRole.OTHER]
        total = sum(p.pss_mb or p.rss_mb for p in service)
        if total > peak[0]:
            peak[0] = total
            breakdown[:] = [f"{ProcessRole(p.role).label} {p.pss_mb or p.rss_mb:.0f}" for p in service]
        stop.wait(0.25)


def _wait(stack, job_id: str, token: str, statuses: set[str], timeout: float = 1800) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        status, body = stack.get(f"/api/imports/{job_id}/", token=token, timeout=60)
        job = json.loads(body) if status == 200 else {}
        if job.get("status") in statuses:
            return job
        if job.get("status") in {"FAILED", "CANCELLED"} or time.monotonic() > deadline:
            raise SystemExit(f"job {job_id}: {job.get('status')} {job.get('error_message')}")
        time.sleep(0.25)


def run(rows: int) -> StackRun:
    sheet = bench_file(rows)
    work = Path(tempfile.mkdtemp(prefix="primepre-speed-stack-"))
    database_url = _database("create")
    try:
        template = prepare_template(work / "template", database_url=database_url)
        with running_stack(template, work / "stack", CONN_MAX_AGE="60", LOG_LEVEL="WARNING") as stack:
            stack.wait_until(lambda: "Starting worker" in stack.log(), timeout=60, what="the task worker")
            token = template.token
            stop, peak, breakdown = threading.Event(), [0.0], []
            sampler = threading.Thread(target=_sample, args=(stack.pid, stop, peak, breakdown), daemon=True)
            sampler.start()
            load_before = load_average()
            started = time.monotonic()
            status, body = stack.post_file(
                "/api/imports/", sheet, token=token, fields={"dry_run": "true", "on_duplicate": "skip"}, timeout=300
            )
            if status != 202:
                raise SystemExit(f"upload answered {status}: {body[:300]!r}")
            uploaded = time.monotonic()
            job_id = json.loads(body)["id"]
            _wait(stack, job_id, token, {"VALIDATED"})
            validated = time.monotonic()
            status, body = stack.post_json(
                f"/api/imports/{job_id}/commit/", {}, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            if status not in (200, 202):
                raise SystemExit(f"commit answered {status}: {body[:300]!r}")
            job = _wait(stack, job_id, token, {"COMPLETE"})
            finished = time.monotonic()
            stop.set()
            sampler.join(timeout=5)
        return StackRun(
            rows=rows,
            upload_seconds=round(uploaded - started, 2),
            validate_seconds=round(validated - uploaded, 2),
            commit_seconds=round(finished - validated, 2),
            total_seconds=round(finished - started, 2),
            peak_pss_mb=round(peak[0], 1),
            peak_processes=", ".join(breakdown),
            created=job.get("created_count", 0),
            failed=job.get("failed_count", 0),
            load_before=round(load_before, 2),
            load_after=round(load_average(), 2),
        )
    finally:
        _database("drop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_048_575)
    args = parser.parse_args()
    result = run(args.rows)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
