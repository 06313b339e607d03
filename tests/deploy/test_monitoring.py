"""users/monitoring: the [MEMORY] monitor, process discovery, and `manage.py check_memory`."""

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command

from users.logtags import LogTag
from users.models import ImportJob, ImportStatus
from users.monitoring.memory import MemoryMonitor, process_rss_mb
from users.monitoring.processes import ProcessRole, process_role, stack_memory_get


def test_process_rss_is_the_resident_size_in_mb() -> None:
    assert 5 < process_rss_mb() < 2000


def test_memory_monitor_logs_rss_and_peak_for_its_job(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="users.monitoring.memory")
    rss = MemoryMonitor(job_id="job-1", interval_seconds=0, warn_mb=100_000).tick()
    [record] = [r for r in caplog.records if r.getMessage().startswith(LogTag.MEMORY)]
    assert "job=job-1" in record.getMessage() and record.rss_mb == round(rss, 1)


def test_memory_monitor_logs_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="users.monitoring.memory")
    monitor = MemoryMonitor(job_id="job-1", interval_seconds=3600, warn_mb=100_000)
    for _ in range(50):
        monitor.tick()
    assert sum(r.getMessage().startswith(LogTag.MEMORY) for r in caplog.records) == 1, "batches are cheap"


def test_memory_monitor_warns_once_when_rss_crosses_the_threshold(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="users.monitoring.memory")
    monitor = MemoryMonitor(job_id="job-1", interval_seconds=0, warn_mb=1)
    for _ in range(3):
        monitor.tick()
    warnings = [r for r in caplog.records if r.getMessage().startswith(LogTag.MEMORY_HIGH)]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING, "one warning per crossing, not per batch"


@pytest.mark.parametrize(
    ("cmdline", "parent", "role"),
    [
        (["python", "-m", "primepre.supervisor"], [], ProcessRole.SUPERVISOR),
        (["/app/.venv/bin/python", "-m", "gunicorn", "-c", "gunicorn_config.py"], ["bash"], "web_master"),
        (["python", "-m", "gunicorn", "-c", "gunicorn_config.py"], ["python", "-m", "gunicorn"], "web_worker"),
        ([".venv/bin/gunicorn", "primepre.wsgi"], [".venv/bin/gunicorn", "primepre.wsgi"], "web_worker"),
        (["gunicorn: worker [primepre]"], ["gunicorn: master [primepre]"], "web_worker"),
        (["python", "/app/manage.py", "run_worker"], [], ProcessRole.TASK_WORKER),
        (["python", "manage.py", "db_worker", "--queue-name", "*"], [], ProcessRole.TASK_WORKER),
        (["python", "manage.py", "runserver"], [], ProcessRole.OTHER),
        (["vim", "gunicorn_config.py"], [], ProcessRole.OTHER),
    ],
)
def test_process_role_is_read_from_the_command_line(cmdline: list[str], parent: list[str], role: str) -> None:
    assert process_role(cmdline, parent) == role


@pytest.fixture
def stand_in_task_worker() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line says `manage.py run_worker`, as the real one's does."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "manage.py", "run_worker"])
    time.sleep(0.2)  # until its command line is readable
    yield process
    process.kill()
    process.wait()


def test_a_task_worker_outside_any_stack_is_found_by_its_command_line(
    stand_in_task_worker: subprocess.Popen[bytes],
) -> None:
    stack = stack_memory_get()
    workers = {process.pid: process for process in stack.by_role(ProcessRole.TASK_WORKER)}
    assert stand_in_task_worker.pid in workers and workers[stand_in_task_worker.pid].rss_mb > 0


def test_the_process_that_asks_is_always_in_the_snapshot_and_marked_current() -> None:
    stack = stack_memory_get()
    assert stack.current is not None and stack.current.pid == os.getpid() == stack.current_pid


@pytest.mark.django_db
def test_check_memory_prints_processes_running_imports_and_queue_depth(
    stand_in_task_worker: subprocess.Popen[bytes],
) -> None:
    from users.imports.tasks import run_import_job

    job = ImportJob.objects.create(status=ImportStatus.RUNNING, total_rows=1000, processed_rows=250)
    run_import_job.enqueue(str(job.id))
    out = StringIO()
    call_command("check_memory", stdout=out)
    text = out.getvalue()
    rows = [line.split() for line in text.splitlines() if line.startswith("Task worker")]
    assert [str(stand_in_task_worker.pid)] in [row[2:3] for row in rows], text
    assert "running imports: 1" in text and f"{job.id} RUNNING 250/1000 rows" in text
    assert "queue depth: 1 ready (default 1)" in text


@pytest.mark.django_db
def test_check_memory_json_carries_the_same_snapshot(stand_in_task_worker: subprocess.Popen[bytes]) -> None:
    out = StringIO()
    call_command("check_memory", "--json", stdout=out)
    payload = json.loads(out.getvalue())
    roles = {process["pid"]: process["role"] for process in payload["stack"]["processes"]}
    assert roles[stand_in_task_worker.pid] == "task_worker"
    assert payload["queue_depth"] == 0 and payload["running_jobs"] == [] and payload["total_rss_mb"] > 0
