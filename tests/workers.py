"""Real task-worker processes for tests, against the test database.

Two ways to run the queue, both the production command (`manage.py run_worker`)
in a child process, so tests see what Render sees:

- `run_worker_until_idle(timeout=...)` runs every queued task, then returns once
  the queue is empty (`--batch`). Deterministic: enqueue, run, assert.
- the `live_worker` fixture keeps a worker polling in the background for the
  whole test (`--interval 0.2`), for tests that watch a job progress, cancel it,
  or talk to a live server while it runs. `wait_for_job(...)` polls until a job
  reaches a status.

Both need a database the child can see, so use them with `transactional_db`
(the `live_worker` fixture asks for it itself): the test's writes must be
committed, not held in the test's wrapping transaction. On SQLite the test
database is a file (see settings), on PostgreSQL a real database; either way
the child gets its URL through DATABASE_URL, and MEDIA_ROOT follows the test's
settings so uploaded files are found.

Use the fixture from any test module with `pytest_plugins = ["tests.workers"]`
at its top, or import the helpers directly.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "manage.py"
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0
OUTPUT_TAIL_CHARS = 4000


class WorkerError(AssertionError):
    """The worker process did not do what the test needed: it timed out or crashed. Carries its output."""


def worker_database_url() -> str:
    """DATABASE_URL for the database this test process is using right now (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "127.0.0.1"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(f"No worker support for {db['ENGINE']}")


def worker_environment(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, pointed at the test database and this test's MEDIA_ROOT."""
    if connection.settings_dict["NAME"] == ":memory:" or "mode=memory" in str(connection.settings_dict["NAME"]):
        raise RuntimeError("A worker process can't share an in-memory SQLite database; use the file-backed test DB.")
    return {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
        # Connections that outlive a test would block the test database's flush and final DROP.
        "CONN_MAX_AGE": "0",
        **(extra_env or {}),
    }


def _worker_command(*args: str) -> list[str]:
    return [sys.executable, str(MANAGE), "run_worker", "--no-startup-delay", *args]


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_TAIL_CHARS else "…" + text[-OUTPUT_TAIL_CHARS:]


@dataclass(frozen=True)
class WorkerRun:
    """What one `run_worker --batch` did: its exit code, its log output and how long it took."""

    returncode: int
    output: str
    seconds: float


def run_worker_until_idle(
    *, timeout: float = 60.0, extra_env: dict[str, str] | None = None, check: bool = True
) -> WorkerRun:
    """Run queued tasks in a real worker process until none is ready, then return.

    Raises WorkerError (with the worker's log) if it takes longer than `timeout`
    seconds or, with `check`, exits non-zero. Tasks enqueued by tasks (an import's
    SMS, say) run in the same call.
    """
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        process = subprocess.Popen(
            _worker_command("--batch", "--interval", "0"),
            cwd=ROOT,
            env=worker_environment(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise WorkerError(
                f"run_worker --batch still busy after {timeout:.0f} s; its output:\n{_tail(_read(log))}"
            ) from None
        output = _read(log)
    run = WorkerRun(returncode=returncode, output=output, seconds=time.monotonic() - started)
    if check and returncode != 0:
        raise WorkerError(f"run_worker --batch exited {returncode}; its output:\n{_tail(output)}")
    return run


def _read(log: IO[str]) -> str:
    log.flush()
    log.seek(0)
    return log.read()


class LiveWorker:
    """A `run_worker` process polling the queue in the background until stopped."""

    def __init__(self, *, interval: float = 0.2, extra_env: dict[str, str] | None = None, nice: int = 0) -> None:
        # The child appends to a file of its own; reading it by path never moves the child's write offset.
        fd, log_path = tempfile.mkstemp(prefix="worker-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_path)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                _worker_command("--interval", str(interval)),
                cwd=ROOT,
                env=worker_environment(extra_env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if nice:
            # A lower CPU priority, as a deployment that puts web requests before background imports would.
            os.setpriority(os.PRIO_PROCESS, self.process.pid, nice)
        self._final_output: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """Everything the worker has logged so far."""
        if self._final_output is not None:
            return self._final_output
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a Render redeploy would: no cleanup, no goodbye."""
        self.process.kill()
        self.process.wait()

    def stop(self, *, grace: float = STOP_GRACE_SECONDS) -> int:
        """SIGTERM (the worker finishes its current task), then SIGKILL after `grace` seconds."""
        if self.is_running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._final_output is None:
            self._final_output = self.output()
            self.log_path.unlink(missing_ok=True)
        return self.process.returncode


def wait_for_job(
    job_id: Any,
    *,
    statuses: Iterable[str] | None = None,
    until: Callable[[Any], bool] | None = None,
    timeout: float = 60.0,
    worker: LiveWorker | None = None,
) -> Any:
    """Poll an ImportJob until it reaches one of `statuses` (default: finished) or `until(job)` holds.

    Returns the fresh job. Fails with the job's last state (and the worker's log,
    when given) after `timeout` seconds, or at once if the worker has died.
    """
    from users.models import ImportJob
    from users.models.imports import FINISHED_STATUSES

    wanted = set(statuses or FINISHED_STATUSES)
    deadline = time.monotonic() + timeout
    while True:
        job = ImportJob.objects.get(id=job_id)
        if until(job) if until else job.status in wanted:
            return job
        if worker is not None and not worker.is_running():
            raise WorkerError(
                f"The worker died while job {job_id} was {job.status}; its output:\n{_tail(worker.output())}"
            )
        if time.monotonic() > deadline:
            log = f"\nWorker output:\n{_tail(worker.output())}" if worker else ""
            raise WorkerError(
                f"Job {job_id} still {job.status} after {timeout:.0f} s "
                f"(processed {job.processed_rows}/{job.total_rows}, error {job.error_code!r}).{log}"
            )
        time.sleep(POLL_SECONDS)


@pytest.fixture
def live_worker(transactional_db: None) -> Iterator[LiveWorker]:
    """A real background worker for the length of one test, stopped (SIGTERM, then SIGKILL) afterwards."""
    worker = LiveWorker()
    try:
        yield worker
    finally:
        worker.stop()
