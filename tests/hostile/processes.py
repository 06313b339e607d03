"""Real processes for the hostile suite: the import command watched for time and memory, a throwaway PostgreSQL.

`run_import(path, ...)` runs `manage.py import_customers PATH --json` in a child
process against the test database, samples its memory every 10 ms while it runs
(the kernel's high-water mark VmHWM for the child, psutil's RSS for anything it
starts), and kills it if it outlives its time limit: a hostile file must be
answered, not waited on. (wait4's ru_maxrss is no use here: a child forked from
pytest starts with pytest's own high-water mark.)

`PrivatePostgres` is a PostgreSQL cluster of our own (initdb into a temporary
folder, on a free port, its socket in that folder), so a test may stop and
restart a database server without touching the machine's shared one on 5432,
which other engineers and CI are using at the same moment.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tests.workers import ROOT, worker_environment

MB = 1024 * 1024
SAMPLE_SECONDS = 0.01
# The budget one import process may use, whatever it is fed. The Render box has 512 MB for the web
# server and the task worker together; MEMORY_WARNING_MB (350) is where ops is told. Measured on the
# 2-core dev box: an import of a small file peaks at 74-84 MB (Django, psycopg, the reader), and so
# does every hostile file in tests/hostile/test_files.py; twice that is the ceiling.
IMPORT_RSS_LIMIT_MB = 150
# How long any one file may take to be imported or refused (a child's start-up alone is ~2 s).
IMPORT_SECONDS_LIMIT = 60.0


@dataclass(frozen=True)
class ImportRun:
    """What one `import_customers --json` child did."""

    returncode: int
    outcome: dict[str, Any] | None  # the JSON object on stdout (None if there wasn't exactly one)
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float  # the child's VmHWM plus its own children's RSS, at the worst sample
    samples: int

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s, peak {self.peak_rss_mb:.0f} MB; "
            f"stdout {self.stdout[-800:]!r}; stderr {self.stderr[-1500:]!r}"
        )


class RssSampler:
    """Samples a process's (and its children's) resident memory on a thread until stopped.

    For the process itself the kernel's high-water mark (VmHWM) is read, so a spike between
    two samples still counts; its children (a trial parse, say) add their RSS at that moment.
    """

    def __init__(self, pid: int, *, interval: float = SAMPLE_SECONDS) -> None:
        self.peak_mb = 0.0
        self.samples = 0
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb

    def rss_mb(self) -> float:
        total = _high_water_mark(self._process.pid) or self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return total / MB

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, self.rss_mb())
                self.samples += 1
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                return
            self._stop.wait(self._interval)


def _high_water_mark(pid: int) -> int:
    """The peak resident set size of `pid` since it last exec'd, in bytes (0 if unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_import(
    path: Path,
    *args: str,
    timeout: float = IMPORT_SECONDS_LIMIT,
    extra_env: dict[str, str] | None = None,
) -> ImportRun:
    """`manage.py import_customers PATH --json ARGS` in a child on the test database, watched; killed at `timeout`."""
    env = worker_environment({"LOG_LEVEL": "WARNING", **(extra_env or {})})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "manage.py", "import_customers", str(path), "--json", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        sampler = RssSampler(process.pid).start()
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            process.wait()
        finally:
            killer.cancel()
            sampler.stop()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    try:
        outcome = json.loads(stdout)
    except ValueError:
        outcome = None
    return ImportRun(
        returncode=process.returncode,
        outcome=outcome if isinstance(outcome, dict) else None,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        peak_rss_mb=sampler.peak_mb,
        samples=sampler.samples,
    )


# --- a PostgreSQL of our own --------------------------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"


def _as_postgres(*command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL server binary as the postgres OS user (initdb and postgres refuse to run as root)."""
    prefix = ["runuser", "-u", PG_OS_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], capture_output=True, text=True, check=check, timeout=timeout, cwd="/")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster: initdb in a temporary folder, served on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL's server binaries are not in {PG_BIN}; the restart test needs them.")
        # Not under pytest's tmp_path: its parents are root-only, and the server runs as `postgres`.
        self.folder = Path(tempfile.mkdtemp(prefix="primepre-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, user=PG_OS_USER)
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--locale=C.UTF-8",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            # Small and quick: nothing here needs to survive the test, so durability is off.
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n"
                "max_connections = 30\n"
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)), *args,
            timeout=timeout + 10,
        )  # fmt: skip

    def start(self) -> "PrivatePostgres":
        self._ctl("start")
        return self

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, in-flight transactions roll back."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def is_running(self) -> bool:
        return _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def createdb(self, name: str) -> None:
        _as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        if self.data.exists() and self.is_running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
