"""primepre/supervisor.py with stand-in children: restarts, backoff, and the stop sequence.

Each test runs the real Supervisor in its own process, supervising small Python
children whose behaviour on SIGTERM the test chooses, with short timings. The
real stack (gunicorn + run_worker) is in test_stack.py.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from primepre.supervisor import Timings, build_children, describe_exit
from tests.deploy.stack import ROOT

RUN_SUPERVISOR = """
import sys
from primepre.supervisor import Child, Supervisor, Timings, configure_logging
configure_logging()
py = sys.executable
children = [Child(name, [py, "-c", code], interruptible=interruptible) for name, code, interruptible in {children!r}]
sys.exit(Supervisor(children, timings=Timings(**{timings!r})).run())
"""

SLEEPER = "import time; time.sleep(600)"
# Ignores the first SIGTERM (a busy task); exits 7 on the second, as django-tasks-db does.
BUSY_WORKER = """
import signal, sys, time
seen = []
def on_term(signum, frame):
    seen.append(signum)
    print("child got SIGTERM", len(seen), flush=True)
    if len(seen) > 1:
        sys.exit(7)
signal.signal(signal.SIGTERM, on_term)
print("child ready", flush=True)
while True:
    time.sleep(0.05)
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("child ready", flush=True)
time.sleep(600)
"""


def start_supervisor(
    tmp_path: Path, children: list[tuple[str, str, bool]], **timings: float
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp_path / "supervisor.log"
    code = RUN_SUPERVISOR.format(children=children, timings=timings)
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return process, log_path


def wait_for(log_path: Path, text: str, *, count: int = 1, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while (log := log_path.read_text()).count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} x{count} not logged within {timeout:.0f} s:\n{log}")
        time.sleep(0.05)
    return log


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout), time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()


def test_a_child_that_dies_is_restarted_with_growing_backoff(tmp_path: Path) -> None:
    process, log_path = start_supervisor(tmp_path, [("crasher", "import sys; sys.exit(3)", False)])
    log = wait_for(log_path, "started crasher", count=3)
    stop(process)
    assert "crasher pid=" in log and "exited with code 3; restarting it in 1 s" in log
    assert "exited with code 3; restarting it in 2 s" in log, "the second restart waits longer"


def test_a_child_that_dies_does_not_stop_the_other_from_being_watched(tmp_path: Path) -> None:
    children = [("crasher", "import sys; sys.exit(3)", False), ("flaky", "import time; time.sleep(0.3)", False)]
    process, log_path = start_supervisor(tmp_path, children, max_backoff_seconds=30.0)
    log = wait_for(log_path, "started flaky", count=2, timeout=5)
    stop(process)
    assert "started crasher" in log, "a backoff on one child never blocks restarting another"


def test_sigterm_stops_every_child_and_the_supervisor_exits_zero(tmp_path: Path) -> None:
    process, log_path = start_supervisor(tmp_path, [("web", SLEEPER, False), ("worker", SLEEPER, True)])
    wait_for(log_path, "started worker")
    code, seconds = stop(process)
    log = log_path.read_text()
    assert code == 0 and seconds < 5
    assert "received SIGTERM; stopping the children" in log and "all children stopped" in log
    assert log.count("was killed by SIGTERM") == 2, "both children got the signal"


def test_a_busy_worker_gets_a_second_sigterm_after_its_grace_period(tmp_path: Path) -> None:
    process, log_path = start_supervisor(tmp_path, [("worker", BUSY_WORKER, True)], worker_grace_seconds=0.5)
    wait_for(log_path, "child ready")
    code, seconds = stop(process)
    log = log_path.read_text()
    assert code == 0 and seconds < 5
    assert "still busy after" in log and "interrupting its task" in log
    assert "worker pid=" in log and "exited with code 7" in log, "the second SIGTERM made it give up its task"


def test_a_child_that_ignores_sigterm_is_killed_after_stop_seconds(tmp_path: Path) -> None:
    process, log_path = start_supervisor(tmp_path, [("web", STUBBORN, False)], stop_seconds=1.0)
    wait_for(log_path, "child ready")
    code, seconds = stop(process)
    log = log_path.read_text()
    assert code == 0 and 1 <= seconds < 5
    assert "did not stop after" in log and "killing it" in log and "was killed by SIGKILL" in log


def test_a_second_signal_kills_the_children_at_once(tmp_path: Path) -> None:
    process, log_path = start_supervisor(tmp_path, [("web", STUBBORN, False)], stop_seconds=60.0)
    wait_for(log_path, "child ready")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    wait_for(log_path, "stopping the children")
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=10)
    assert code == 0 and time.monotonic() - started < 5
    assert "received SIGINT again; killing the children now" in log_path.read_text()


def test_supervisor_never_imports_django() -> None:
    probe = "import sys, primepre.supervisor; print(sorted(m for m in sys.modules if 'django' in m))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "[]", "the supervisor must stay a few MB: no Django in it"


@pytest.mark.parametrize(
    ("returncode", "words"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-signal.SIGTERM, "was killed by SIGTERM"),
        (-signal.SIGKILL, "was killed by SIGKILL (likely the out-of-memory killer)"),
    ],
)
def test_an_exit_status_is_described_in_words(returncode: int, words: str) -> None:
    assert describe_exit(returncode) == words


def test_timings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_WORKER_GRACE_SECONDS", "5")
    monkeypatch.setenv("SUPERVISOR_STOP_SECONDS", "40")
    monkeypatch.delenv("SUPERVISOR_MAX_BACKOFF_SECONDS", raising=False)
    assert Timings.from_env() == Timings(worker_grace_seconds=5.0, stop_seconds=40.0, max_backoff_seconds=30.0)


def test_a_timing_that_is_not_a_number_stops_start_up_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_STOP_SECONDS", "soon")
    with pytest.raises(SystemExit, match="SUPERVISOR_STOP_SECONDS must be a number"):
        Timings.from_env()


def test_nothing_to_run_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "primepre.supervisor", "--no-web", "--no-worker"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "leave nothing to run" in result.stderr


def test_the_free_tier_layout_is_gunicorn_and_one_task_worker_without_system_checks() -> None:
    children = build_children(web=True, worker=True)
    assert [child.name for child in children] == ["web", "worker"]
    assert children[0].argv[1:3] == ["-m", "gunicorn"] and not children[0].interruptible
    assert children[1].argv[-2:] == ["run_worker", "--skip-checks"] and children[1].interruptible


def test_several_task_workers_each_get_their_own_name() -> None:
    children = build_children(web=False, worker=True, task_workers=3)
    assert [child.name for child in children] == ["worker-1", "worker-2", "worker-3"]
