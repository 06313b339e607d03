"""The real one-service stack: supervisor -> gunicorn master -> web worker, and run_worker.

Started exactly as Render starts it (`python -m primepre.supervisor`), on a free
127.0.0.1 port with a throwaway SQLite database. The idle measurements are
written to .run/deploy-idle-memory.json so the numbers in docs/deploy.md can be
checked against a fresh run.
"""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.deploy.stack import ROOT, Stack, Template, child_environment, prepare_template, running_stack
from users.monitoring.processes import ProcessRole, StackMemory, stack_memory_get

pytestmark = pytest.mark.slow

# The memory budget (docs/deploy.md): 80 MB for an idle web worker, 200 MB for the whole
# stack. The web worker is forked from a master that preloads Django and every view
# (gunicorn_config.py), so most of its pages are the master's: RSS counts them in
# both, PSS once. The stack's budget is checked on PSS, what the box really uses;
# the per-process ceilings on RSS are generous.
IDLE_CEILINGS_MB = {
    ProcessRole.SUPERVISOR: 30,
    ProcessRole.WEB_MASTER: 100,
    ProcessRole.WEB_WORKER: 80,
    ProcessRole.TASK_WORKER: 110,
}
IDLE_STACK_CEILING_MB = 200


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return prepare_template(tmp_path_factory.mktemp("stack-template"))


@pytest.fixture(scope="module")
def stack(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(template, tmp_path_factory.mktemp("stack")) as stack:
        stack.wait_until(lambda: "Starting worker" in stack.log(), timeout=60, what="the task worker to start")
        yield stack


def snapshot(stack: Stack) -> StackMemory:
    memory = stack_memory_get(root_pid=stack.pid)
    return StackMemory(
        processes=tuple(p for p in memory.processes if p.role != ProcessRole.OTHER), current_pid=memory.current_pid
    )


def test_the_idle_stack_fits_its_memory_budget(stack: Stack) -> None:
    for _ in range(5):
        assert stack.get("/health")[0] == 200
    time.sleep(2)  # let the worker finish its first poll and settle
    memory = snapshot(stack)
    labels = {p.pid: str(ProcessRole(p.role).label) for p in memory.processes}
    measured = {
        "rss_mb": {labels[p.pid]: p.rss_mb for p in memory.processes} | {"total": memory.total_rss_mb},
        "pss_mb": {labels[p.pid]: p.pss_mb for p in memory.processes} | {"total": memory.total_pss_mb},
    }
    (ROOT / ".run").mkdir(exist_ok=True)
    (ROOT / ".run" / "deploy-idle-memory.json").write_text(json.dumps(measured, indent=2))

    assert sorted(p.role for p in memory.processes) == sorted(IDLE_CEILINGS_MB), f"one of each: {memory.processes}"
    over = {p.role: p.rss_mb for p in memory.processes if p.rss_mb > IDLE_CEILINGS_MB[p.role]}
    assert not over, f"idle RSS above its ceiling: {over}; measured {measured}"
    total = memory.total_pss_mb if memory.total_pss_mb is not None else memory.total_rss_mb
    assert total <= IDLE_STACK_CEILING_MB, f"idle stack above {IDLE_STACK_CEILING_MB} MB: {measured}"


def test_the_metrics_endpoint_sees_the_stack_from_inside_the_web_worker(stack: Stack) -> None:
    status, body = stack.get("/api/admin/metrics", token=stack.token)
    assert status == 200, body[:500]
    metrics = json.loads(body)
    processes = metrics["processes"]
    [web_worker] = processes["web_workers"]
    assert web_worker["current"] and web_worker["pid"] == metrics["current_pid"]
    assert processes["web_master"]["pid"] == web_worker["ppid"], "the master is the answering worker's parent"
    assert processes["supervisor"]["pid"] == stack.pid == processes["web_master"]["ppid"]
    assert [worker["ppid"] for worker in processes["task_workers"]] == [stack.pid]
    assert metrics["queue_depth"] == 0 and metrics["running_jobs"] == []


def test_the_metrics_endpoint_refuses_a_request_without_credentials(stack: Stack) -> None:
    status, body = stack.get("/api/admin/metrics")
    assert status == 401 and json.loads(body)["success"] is False


def test_check_memory_lists_the_stacks_processes(stack: Stack, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check_memory", "--json", "--root-pid", str(stack.pid)],
        cwd=ROOT,
        env=child_environment(stack.database_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    roles = sorted(p["role"] for p in json.loads(result.stdout)["stack"]["processes"] if p["role"] != "other")
    assert roles == ["supervisor", "task_worker", "web_master", "web_worker"]


def test_a_task_worker_killed_by_the_oom_killer_is_started_again(stack: Stack) -> None:
    [worker] = snapshot(stack).by_role(ProcessRole.TASK_WORKER)
    psutil.Process(worker.pid).send_signal(signal.SIGKILL)

    def replaced() -> bool:
        return any(p.pid != worker.pid for p in snapshot(stack).by_role(ProcessRole.TASK_WORKER))

    stack.wait_until(replaced, timeout=30, what="a new task worker")
    assert f"worker pid={worker.pid} was killed by SIGKILL (likely the out-of-memory killer)" in stack.log()
    assert stack.healthy(), "the web server never noticed"


def test_sigterm_stops_web_and_worker_cleanly_and_exits_zero(template: Template, tmp_path: Path) -> None:
    with running_stack(template, tmp_path) as stack:
        stack.wait_until(lambda: "Starting worker" in stack.log(), timeout=60, what="the task worker to start")
        children = [p.pid for p in snapshot(stack).processes if p.pid != stack.pid]
        started = time.monotonic()
        code = stack.stop(timeout=60)
        seconds = time.monotonic() - started
        log = stack.log()
    assert code == 0 and seconds < 15, f"stopped with {code} after {seconds:.1f} s"
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert "[WORKER-SHUTDOWN]" in log and "all children stopped" in log
    assert "did not stop" not in log, "nothing needed killing"


RECYCLE_TIMEOUT_SECONDS = 5


def test_recycling_the_web_worker_does_not_stall_requests(template: Template, tmp_path: Path) -> None:
    """A recycle is a fork of the preloaded master, and the old worker leaves without interpreter teardown."""
    env = {"GUNICORN_MAX_REQUESTS": "10", "GUNICORN_MAX_REQUESTS_JITTER": "0"}
    with running_stack(template, tmp_path, args=("--no-worker",), **env) as stack:
        seconds = []
        for _ in range(60):
            started = time.monotonic()
            # Before preloading and the quick exit, each recycle held requests for 2-10 s on a busy 2-core box;
            # a request that waits out a whole boot fails here. How fast they are is for the load test to report.
            assert stack.get("/api/health/", timeout=RECYCLE_TIMEOUT_SECONDS)[0] == 200
            seconds.append(time.monotonic() - started)
        log = stack.log()
    assert log.count("[WORKER-SPAWN]") >= 6, "the worker was recycled every 10 requests"
    assert len(seconds) == 60, f"slowest request {max(seconds):.2f} s across {log.count('[WORKER-SPAWN]')} recycles"
