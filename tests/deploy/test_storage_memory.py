"""Storing and reading a 50 MB upload keeps within the 512 MB budget: at most 10 MB more peak RSS per process.

Measured in the real stack (the supervisor's gunicorn web worker and task
worker) by the kernel's own high-water mark: each process's peak is reset
(`/proc/PID/clear_refs`, 5) once both are warm, then a 50 MB upload is sent.
The web worker stores it in chunks; the task worker copies it back to its disk
in chunks and reads only its header, which names no known column, so the job
fails there and the figure is storage's alone, not the import's. The figures
go to .run/storage-memory-<storage>.json for docs/deploy.md. Both backends:
the database, and an S3 bucket on moto's server.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.stack import ROOT, prepare_template, running_stack
from tests.s3 import create_bucket, moto_s3_server, s3_environment
from tests.workers import wait_for_job, worker_database_url
from users.models import ImportStatus
from users.monitoring.processes import ProcessRole, stack_memory_get

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024
UPLOAD_BYTES = 50 * MB - 4096  # the largest upload allowed, less room for the form around it
BUDGET_MB = 10
CSV_HEADER = "Shipping Mark,First Name,Last Name,Email,Phone Number,Region\n"


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def write_upload(path: Path, size: int) -> Path:
    """A CSV of `size` bytes whose header names no column the import knows."""
    line = "unknown-a,unknown-b,unknown-c,unknown-d\n"
    with path.open("w", encoding="utf-8") as out:
        out.write("Colour,Weight,Height,Notes\n")
        written = len("Colour,Weight,Height,Notes\n")
        block = line * 4096
        while written + len(block) <= size:
            out.write(block)
            written += len(block)
        out.write(line * ((size - written) // len(line)))
    return path


@pytest.fixture(params=["database", "s3"])
def storage_environment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Where the stack stores uploads: its database, or a bucket on moto's S3 server."""
    if request.param == "database":
        yield {"IMPORT_STORAGE": "database"}
        return
    with moto_s3_server(tmp_path / "moto") as endpoint:
        create_bucket(endpoint)
        yield s3_environment(endpoint)


def test_storing_and_reading_a_50_mb_upload_adds_at_most_10_mb_to_either_worker(
    tmp_path: Path, storage_environment: dict[str, str]
) -> None:
    template = prepare_template(tmp_path / "template", database_url=worker_database_url())
    warm = tmp_path / "warm.csv"
    warm.write_text(CSV_HEADER + "PM 1,Ama,Mensah,,0241234567,Ashanti\n")
    big = write_upload(tmp_path / "big.csv", UPLOAD_BYTES)

    with running_stack(
        template, tmp_path / "stack", IMPORT_MAX_ACTIVE_JOBS_PER_USER="0", **storage_environment
    ) as stack:
        stack.wait_until(lambda: "Starting worker" in stack.log(), timeout=60, what="the task worker to start")
        for _ in range(2):  # both processes have stored, copied and read an upload before the measurement
            status, body = stack.post_file("/api/imports/", warm, token=stack.token)
            assert status == 202, body[:500]
            assert wait_for_job(json.loads(body)["id"], timeout=120).status == ImportStatus.COMPLETE
        memory = stack_memory_get(root_pid=stack.pid)
        pids = {role: memory.one(role).pid for role in (ProcessRole.WEB_WORKER, ProcessRole.TASK_WORKER)}
        before = {}
        for role, pid in pids.items():
            reset_peak(pid)
            before[role] = status_kb(pid, "VmRSS")

        status, body = stack.post_file("/api/imports/", big, token=stack.token, timeout=300)
        assert status == 202, body[:500]
        job = wait_for_job(json.loads(body)["id"], timeout=300)
        assert (job.status, job.error_code) == (ImportStatus.FAILED, "missing_columns"), job.error_message

        extra = {role: round((status_kb(pid, "VmHWM") - before[role]) / 1024, 1) for role, pid in pids.items()}
    (ROOT / ".run").mkdir(exist_ok=True)
    storage = storage_environment["IMPORT_STORAGE"]
    (ROOT / ".run" / f"storage-memory-{storage}.json").write_text(
        json.dumps({"storage": storage, "upload_mb": round(UPLOAD_BYTES / MB, 1), "extra_peak_rss_mb": extra}, indent=2)
    )
    over = {role: mb for role, mb in extra.items() if mb > BUDGET_MB}
    assert not over, f"storing or reading a 50 MB upload took more than {BUDGET_MB} MB more: {extra}"
