"""gunicorn_config.py: the budget's numbers, env overrides, and hooks that write the ops tags.

The hook tests run real gunicorn with the real config around a tiny WSGI app
(tests/deploy/wsgi_probe.py), so they take about a second each.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.stack import ROOT, free_port

CONFIG = str(ROOT / "gunicorn_config.py")
CONFIG_ENV = {
    "PORT",
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "WEB_CONCURRENCY",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_WORKER_MAX_RSS_MB",
    "LOG_FORMAT",
    "LOG_LEVEL",
}

READ_CONFIG = """
import json, runpy, sys
config = runpy.run_path(sys.argv[1])
names = ["bind", "workers", "worker_class", "timeout", "graceful_timeout", "keepalive", "backlog",
         "max_requests", "max_requests_jitter", "accesslog", "access_log_format", "control_socket_disable",
         "preload_app"]
print(json.dumps({name: config[name] for name in names}))
"""


def clean_env(**env: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in CONFIG_ENV}, **env}


def read_config(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", READ_CONFIG, CONFIG], cwd=ROOT, env=clean_env(**env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_the_config_prints_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1])", CONFIG],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), "only the logger may speak"


def test_defaults_are_the_issues_numbers() -> None:
    config = read_config(PORT="10000")
    assert {key: config[key] for key in config if key not in {"accesslog", "access_log_format"}} == {
        "bind": "0.0.0.0:10000",
        "workers": 1,
        "worker_class": "sync",
        "timeout": 600,
        "graceful_timeout": 60,
        "keepalive": 5,
        "backlog": 1024,
        "max_requests": 150,
        "max_requests_jitter": 50,
        "control_socket_disable": True,
        "preload_app": True,
    }


def test_preloading_can_be_switched_off() -> None:
    assert read_config(GUNICORN_PRELOAD="0")["preload_app"] is False


def test_access_log_records_the_request_duration() -> None:
    config = read_config()
    assert config["accesslog"] == "-" and "%(M)s" in config["access_log_format"], "duration in ms on every line"


def test_access_log_leaves_out_query_strings() -> None:
    line = read_config()["access_log_format"]
    assert "%(U)s" in line and "%(r)s" not in line and "%(q)s" not in line, "searches carry phones and emails"


@pytest.mark.parametrize(
    ("env", "workers"),
    [
        ({"WEB_CONCURRENCY": "3"}, 3),
        ({"GUNICORN_WORKERS": "2"}, 2),
        ({"GUNICORN_WORKERS": "2", "WEB_CONCURRENCY": "4"}, 2),
    ],
)
def test_worker_count_follows_gunicorn_workers_then_web_concurrency(env: dict[str, str], workers: int) -> None:
    assert read_config(**env)["workers"] == workers


def test_gunicorn_bind_overrides_port() -> None:
    assert read_config(PORT="10000", GUNICORN_BIND="127.0.0.1:8000")["bind"] == "127.0.0.1:8000"


def test_a_number_that_is_not_a_number_stops_start_up_with_its_name() -> None:
    result = subprocess.run(
        [sys.executable, "-c", READ_CONFIG, CONFIG],
        cwd=ROOT,
        env=clean_env(GUNICORN_TIMEOUT="ten minutes"),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "GUNICORN_TIMEOUT must be a whole number" in result.stderr


def test_gunicorn_accepts_the_config_and_its_hooks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", CONFIG, "--check-config", "tests.deploy.wsgi_probe:application"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def get(self, path: str, timeout: float = 10) -> int:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - always http://127.0.0.1
            return response.status

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} x{count} not logged within {timeout:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self.log()


@contextmanager
def gunicorn(tmp_path: Path, **env: str) -> Iterator[Server]:
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", CONFIG, "tests.deploy.wsgi_probe:application"],
            cwd=ROOT,
            env=clean_env(GUNICORN_BIND=f"127.0.0.1:{port}", **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, port=port, log_path=log_path)
    try:
        server.wait_for_log("[WORKER-SPAWN]")
        deadline = time.monotonic() + 20
        while True:
            try:
                server.get("/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_server_logs_ready_banner_spawn_access_duration_and_shutdown(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as server:
        server.get("/")
        server.wait_for_log('"GET / HTTP/1.1" 200')
        server.process.terminate()
        server.process.wait(timeout=30)
        log = server.log()
    assert "[SERVER-READY]" in log and "workers=1" in log and "timeout=600" in log and "max_requests=150" in log
    assert "[WORKER-SPAWN] pid=" in log
    assert any('"GET / HTTP/1.1" 200' in line and "ms " in line for line in log.splitlines()), "duration in ms"
    assert "[WORKER-SHUTDOWN] pid=" in log


def test_a_request_past_the_timeout_is_logged_as_a_worker_crash_with_its_stack(tmp_path: Path) -> None:
    with gunicorn(tmp_path, GUNICORN_TIMEOUT="2") as server:
        with pytest.raises(OSError):
            server.get("/sleep?s=30", timeout=20)  # aborted under it: a 500, or a dropped connection
        server.wait_for_log("wsgi_probe.py")
        log = server.wait_for_log("[WORKER-SPAWN]", count=2)
    crashes = log.split("[WORKER-CRASH]")[1:]
    assert any("timeout=2s" in crash and "wsgi_probe.py" in crash for crash in crashes), (
        "the line names the cause and the code the worker was stuck in"
    )


def test_memory_guard_recycles_a_worker_a_request_left_big(tmp_path: Path) -> None:
    with gunicorn(tmp_path, GUNICORN_WORKER_MAX_RSS_MB="60") as server:
        assert server.get("/grow?mb=100") == 200, "the request that grew the worker still gets its answer"
        log = server.wait_for_log("[WORKER-SPAWN]", count=2)
        assert server.get("/") == 200
    assert "[MEMORY-HIGH] web worker" in log and "GUNICORN_WORKER_MAX_RSS_MB=60" in log
    assert "age=2" in log, "a fresh worker replaced it"


def test_sighup_logs_master_restart(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as server:
        server.process.send_signal(signal.SIGHUP)
        log = server.wait_for_log("[MASTER-RESTART]")
    assert "reloading configuration" in log


def test_json_log_format_makes_every_gunicorn_line_one_json_object(tmp_path: Path) -> None:
    with gunicorn(tmp_path, LOG_FORMAT="json") as server:
        server.get("/")
        server.wait_for_log("gunicorn.access")
    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    ready = next(record for record in records if record["message"].startswith("[SERVER-READY]"))
    assert ready["workers"] == 1 and ready["timeout"] == 600, "the banner's settings are structured fields"
