"""Crashes mid-import, with real processes: nothing lost, nothing stuck.

- The task worker SIGKILLed mid-import is proven in tests/imports/test_worker_crash.py
  (a new worker resumes from the checkpoint; the table equals an uninterrupted run's).
- PostgreSQL restarted mid-import: the worker retries and the import completes exactly.
  The server restarted is a private, throwaway cluster started by the test on a free
  port; the machine's shared PostgreSQL on 5432 is never touched.
- The web worker killed during an upload: its job is resumed by the task worker or
  failed with a sentence, never left running or queued forever.
"""

import http.client
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.api.test_frontend_http import ApiServer, HttpApi, multipart, start_server, stop_server
from tests.deploy.stack import prepare_template, running_stack
from tests.hostile.conftest import sheet_row, stored_form
from tests.hostile.processes import PrivatePostgres
from tests.imports.factories import customer_rows
from tests.imports.spreadsheets import HEADER, write_csv, write_xlsx
from tests.workers import ROOT, LiveWorker, wait_for_job, worker_database_url, worker_environment
from users.models import Customer, ImportJob, ImportSource, ImportStatus, User

pytestmark = [pytest.mark.slow]

RESTART_ROWS = 30_000
INVALID_EVERY = 499  # a sprinkling of bad phone numbers, so the failure counts are checked too
JOB_COLUMNS = (
    "status",
    "processed_rows",
    "checkpoint",
    "total_rows",
    "created_count",
    "failed_count",
    "skipped_count",
    "attempts",
    "error_code",
    "error_message",
)
SEED_JOB = """
import os, sys
from django.core.files.uploadedfile import SimpleUploadedFile
from django.contrib.auth.models import Permission
from users.imports.services import import_job_create
from users.models import User, UserRole

user = User.objects.create_user("0241000001", "pw", user_role=UserRole.ADMIN, is_staff=True)
user.user_permissions.add(Permission.objects.get(codename="add_customer"))
path = os.environ["SEED_FILE"]
with open(path, "rb") as source:
    job = import_job_create(user=user, uploaded_file=SimpleUploadedFile(os.path.basename(path), source.read()))
sys.stdout.write(str(job.id))
"""


# --- PostgreSQL restarted mid-import ------------------------------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A migrated, empty database on a PostgreSQL server of this test's own, destroyed afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "By design: restarting a database server needs a server. SQLite is a file in this process, so the "
            "PostgreSQL half of the suite (DATABASE_URL=postgres://...) runs this test."
        )
    server = PrivatePostgres().start()
    try:
        server.createdb("primepre_restart")
        migrate = manage("migrate", "--noinput", database_url=server.url("primepre_restart"))
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        yield server
    finally:
        server.destroy()


def manage(*args: str, database_url: str, extra_env: dict[str, str] | None = None) -> Any:
    import subprocess
    import sys

    env = worker_environment({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **(extra_env or {})})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def read_job(url: str, job_id: str) -> dict[str, Any] | None:
    """The job's row, read straight from the private server; None while the server is restarting."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
            row = db.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM users_importjob WHERE id = %s", [job_id]).fetchone()  # noqa: S608 - our own column names
    except psycopg.OperationalError:
        return None
    return dict(zip(JOB_COLUMNS, row, strict=True)) if row else None


def wait_for(url: str, job_id: str, until: Any, *, timeout: float, worker: LiveWorker) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        job = read_job(url, job_id) or job
        if job is not None and until(job):
            return job
        assert worker.is_running(), f"the worker died; its output:\n{worker.output()[-4000:]}"
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is {job} after {timeout:.0f} s; worker output:\n{worker.output()[-4000:]}")


def test_postgresql_restarted_mid_import_the_job_retries_and_the_table_is_exact(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    numbers = range(1, RESTART_ROWS + 1)
    rows = [sheet_row(n) for n in numbers]
    invalid = set(range(0, RESTART_ROWS, INVALID_EVERY))
    for index in invalid:
        rows[index] = (*rows[index][:4], "not a phone", rows[index][5])
    path = write_csv(tmp_path / "customers.csv", [HEADER, *rows])
    url = private_postgres.url("primepre_restart")
    seeded = manage("shell", "-c", SEED_JOB, database_url=url, extra_env={"SEED_FILE": str(path)})
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    job_id = str(uuid.UUID(seeded.stdout.strip().splitlines()[-1]))

    worker = LiveWorker(
        extra_env={
            "DATABASE_URL": url,
            "IMPORT_TRANSACTION_ROWS": "500",
            # Long enough that the sweep doesn't take the job over: this test is about the worker's own retry.
            "IMPORT_HEARTBEAT_STALE_SECONDS": "60",
            "LOG_LEVEL": "INFO",
        }
    )
    try:
        before = wait_for(
            url, job_id, lambda job: job["processed_rows"] >= RESTART_ROWS // 4, timeout=180, worker=worker
        )
        assert before["status"] == "RUNNING", f"the import must still be running when the server restarts: {before}"
        private_postgres.restart()
        after = wait_for(
            url, job_id, lambda job: job["status"] in {"COMPLETE", "FAILED", "CANCELLED"}, timeout=240, worker=worker
        )
    finally:
        worker.stop()
    output = worker.output()

    assert after["status"] == "COMPLETE", f"{after['error_code']}: {after['error_message']}\n{output[-4000:]}"
    assert "lost the database; retrying" in output, "the worker noticed the restart and retried"
    assert before["checkpoint"] < RESTART_ROWS, "the restart landed before the end of the import"
    with psycopg.connect(url, autocommit=True) as db:
        stored = set(db.execute("SELECT shipping_mark, phone, email FROM users_customer").fetchall())
        count = db.execute("SELECT count(*) FROM users_customer").fetchone()[0]
        errors = db.execute("SELECT count(*), count(DISTINCT row_number) FROM users_importrowerror").fetchone()
    expected = {stored_form(n) for index, n in enumerate(numbers) if index not in invalid}
    assert stored == expected, "every valid row is a customer, and nothing else"
    assert count == len(expected), "no customer was written twice"
    assert (after["created_count"], after["failed_count"], after["total_rows"]) == (
        len(expected),
        len(invalid),
        RESTART_ROWS,
    )
    assert errors == (len(invalid), len(invalid)), "each bad row's error is recorded exactly once"


def test_postgresql_down_for_seconds_while_the_service_is_idle_the_whole_stack_recovers_by_itself(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """The service as Render runs it (supervisor, gunicorn, task worker) outlives a database outage unaided.

    The idle task worker exits on the lost connection (django-tasks-db's polling loop re-raises it)
    and the supervisor starts it again, with backoff, until the database is back; gunicorn answers
    /health 503 meanwhile. What matters is the outcome: the next upload is imported.
    """
    template = prepare_template(tmp_path / "template", database_url=private_postgres.url("primepre_restart"))
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *(sheet_row(n) for n in range(1, 501))])
    with running_stack(template, tmp_path / "stack", LOG_LEVEL="INFO") as stack:
        time.sleep(2)  # the task worker is polling an empty queue
        private_postgres.stop()
        time.sleep(4)  # long enough for the worker's next polls to find no database
        assert not stack.healthy(), "/health says so while the database is down"
        private_postgres.start()
        stack.wait_until(stack.healthy, timeout=60, what="/health to answer 200 after the outage")
        status, body = stack.post_file("/api/imports/", path, token=template.token)
        assert status == 202, body[:500]
        job_id = json.loads(body)["id"]

        def finished() -> bool:
            code, answer = stack.get(f"/api/imports/{job_id}/", token=template.token)
            return code == 200 and json.loads(answer)["is_finished"]

        stack.wait_until(finished, timeout=120, what="the import after the restart to finish")
        job = json.loads(stack.get(f"/api/imports/{job_id}/", token=template.token)[1])
        log = stack.log()
    assert re.search(r"\[SUPERVISOR\] worker pid=\d+ exited with code 1; restarting it", log), (
        "the worker died on the lost database and the supervisor started it again"
    )
    assert (job["status"], job["created_count"]) == ("COMPLETE", 500), job


# --- the web worker killed during an upload ----------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What the sweep needs to notice a dead owner quickly in a test (production waits 60 s).
SWEEP_ENV = {"IMPORT_HEARTBEAT_STALE_SECONDS": "2", "LOG_LEVEL": "INFO"}
INLINE_ROWS = 10_000  # IMPORT_INLINE_MAX_ROWS: the most a preview or a synchronous bulk-create takes


@pytest.fixture
def web(transactional_db: None, admin_user: User, settings: Any, tmp_path: Path) -> Iterator[ApiServer]:
    """gunicorn (one sync worker, the production config) on this test's database and its own media folder.

    Small transactions, so an inline preview commits its progress many times and a kill lands mid-way.
    """
    settings.MEDIA_ROOT = tmp_path / "media"  # the task workers started later follow it (tests.workers)
    server = start_server(
        database_url=worker_database_url(),
        media_root=settings.MEDIA_ROOT,
        extra_env={"IMPORT_TRANSACTION_ROWS": "100", "GUNICORN_MAX_REQUESTS": "0"},
    )
    try:
        yield server
    finally:
        stop_server(server)


def web_worker_pid(server: ApiServer) -> int:
    children = psutil.Process(server.process.pid).children()
    assert len(children) == 1, f"expected one gunicorn worker, found {children}"
    return children[0].pid


def in_background(call: Callable[[], Any]) -> threading.Thread:
    """Run a request on a thread; the worker serving it is about to die, so its outcome doesn't matter."""

    def run() -> None:
        try:
            call()
        except (OSError, http.client.HTTPException):
            pass  # the connection dies with the worker: what a browser sees too

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def kill_when(server: ApiServer, condition: Callable[[], ImportJob | None], *, timeout: float = 60) -> ImportJob:
    """SIGKILL the web worker as soon as `condition` finds the job it waits for; that job, as it was."""
    pid = web_worker_pid(server)
    deadline = time.monotonic() + timeout
    while (job := condition()) is None:
        assert time.monotonic() < deadline, f"the job never got there; server log:\n{server.output()[-3000:]}"
        time.sleep(0.01)
    psutil.Process(pid).send_signal(signal.SIGKILL)
    psutil.Process(pid).wait(timeout=10)
    return job


def wait_until_healthy(server: ApiServer, *, timeout: float = 30) -> None:
    """gunicorn's master starts a new worker; /health must answer 200 again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if server.client().get("/health").status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the server did not recover; log:\n{server.output()[-3000:]}"
        time.sleep(0.2)


def test_web_worker_killed_mid_preview_leaves_a_job_the_task_worker_finishes(web: ApiServer, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *(sheet_row(n) for n in range(1, INLINE_ROWS + 1))])
    client = web.client()
    client.login()
    in_background(lambda: client.upload("/api/auth/customers/excel/upload/", path.name, path.read_bytes(), XLSX))

    def validating_midway() -> ImportJob | None:
        return ImportJob.objects.filter(status=ImportStatus.VALIDATING, processed_rows__gte=1000).first()

    killed = kill_when(web, validating_midway)
    wait_until_healthy(web)
    killed.refresh_from_db()
    assert killed.status == ImportStatus.VALIDATING, "the kill landed mid-preview (else this proves nothing)"

    worker = LiveWorker(extra_env=SWEEP_ENV)
    try:
        job = wait_for_job(
            killed.id, statuses=[ImportStatus.VALIDATED, ImportStatus.FAILED], timeout=120, worker=worker
        )
    finally:
        worker.stop()
    # Resumed: the task worker validated the stored file to the end, as the preview would have.
    assert job.status == ImportStatus.VALIDATED, f"{job.error_code}: {job.error_message}"
    assert "[IMPORT-RESUME]" in worker.output()
    assert (job.total_rows, job.valid_rows, job.failed_count) == (INLINE_ROWS, INLINE_ROWS, 0)
    assert not Customer.objects.exists(), "a preview writes no customers, killed or not"


def test_web_worker_killed_mid_bulk_create_leaves_a_failed_job_with_a_sentence_and_its_committed_rows(
    web: ApiServer,
) -> None:
    customers = customer_rows(INLINE_ROWS)
    client = web.client()
    client.login()
    in_background(lambda: client.post("/api/auth/customers/excel/bulk-create/", json_body={"customers": customers}))

    def writing_midway() -> ImportJob | None:
        return ImportJob.objects.filter(
            source=ImportSource.PAYLOAD, status=ImportStatus.RUNNING, processed_rows__gte=1000
        ).first()

    killed = kill_when(web, writing_midway)
    wait_until_healthy(web)
    killed.refresh_from_db()
    assert killed.status == ImportStatus.RUNNING, "the kill landed mid-write (else this proves nothing)"

    worker = LiveWorker(extra_env=SWEEP_ENV)
    try:
        job = wait_for_job(killed.id, timeout=120, worker=worker)
    finally:
        worker.stop()
    # The request body died with the worker, so the rows past the checkpoint can't be resumed: the job says so.
    assert job.status == ImportStatus.FAILED
    assert job.error_message.endswith("rows already saved will be skipped."), job.error_message
    created = Customer.objects.filter(import_job=job).count()
    assert created == job.created_count == job.processed_rows > 0, "the committed chunks are kept and counted"
    assert created < INLINE_ROWS


def test_web_worker_killed_while_receiving_an_upload_stores_nothing(web: ApiServer, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *(sheet_row(n) for n in range(1, 2001))])
    client = web.client()
    client.login()
    body, content_type = multipart({}, {"file": (path.name, path.read_bytes(), XLSX)})
    pid = web_worker_pid(web)
    upload = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    upload.putrequest("POST", "/api/imports/")
    upload.putheader("Authorization", f"Bearer {client.token}")
    upload.putheader("Content-Type", content_type)
    upload.putheader("Content-Length", str(len(body)))
    upload.endheaders()
    upload.send(body[: len(body) // 2])  # the worker is now reading a body that stops halfway
    time.sleep(0.5)
    psutil.Process(pid).send_signal(signal.SIGKILL)
    psutil.Process(pid).wait(timeout=10)
    upload.close()

    wait_until_healthy(web)
    assert not ImportJob.objects.exists(), "no job for an upload that never arrived"
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert stored == [], f"no stored file for an upload that never arrived: {stored}"
    assert HttpApi(web.port).get("/health").status == 200


def test_web_worker_killed_between_saving_a_job_and_queueing_it_does_not_leave_it_queued_forever(
    web: ApiServer, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("By design: holding the task table's lock from outside needs PostgreSQL's row-level locking.")
    from django_tasks_db.models import DBTaskResult

    path = write_xlsx(tmp_path / "customers.xlsx", [HEADER, *(sheet_row(n) for n in range(1, 11))])
    client = web.client()
    client.login()
    pid = web_worker_pid(web)
    tasks_table = DBTaskResult._meta.db_table
    # Stop the web worker exactly between the two writes: the job's commit goes through, the task's insert
    # waits on this lock. Then kill the worker and cancel its pending insert, as if the kill had come first.
    with psycopg.connect(worker_database_url()) as lock:
        lock.execute(f'LOCK TABLE "{tasks_table}" IN EXCLUSIVE MODE')
        in_background(lambda: client.upload("/api/imports/", path.name, path.read_bytes(), XLSX))
        blocked = wait_for_blocked_insert(lock, tasks_table)
        psutil.Process(pid).send_signal(signal.SIGKILL)
        psutil.Process(pid).wait(timeout=10)
        lock.execute("SELECT pg_terminate_backend(%s)", [blocked])
        lock.rollback()
    wait_until_healthy(web)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.QUEUED and not DBTaskResult.objects.exists(), "the kill landed in the gap"

    worker = LiveWorker(extra_env=SWEEP_ENV)
    try:
        # The sweep runs every 5 s and takes QUEUED jobs untouched for the stale period (2 s here).
        job = wait_for_job(job.id, timeout=60, worker=worker)
    finally:
        worker.stop()
    assert job.status == ImportStatus.COMPLETE, f"{job.status} {job.error_code}: {job.error_message}"
    assert "had no task" in worker.output(), "the sweep said why it queued the job"
    assert Customer.objects.filter(import_job=job).count() == job.created_count == 10


def wait_for_blocked_insert(lock: psycopg.Connection, table: str, *, timeout: float = 30) -> int:
    """The pid of the server backend whose INSERT into `table` waits for our lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(worker_database_url(), autocommit=True) as watcher:
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                [f'INSERT INTO "{table}"%'],
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
    raise AssertionError("the upload never reached the task table's insert")
