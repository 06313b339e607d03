"""The lockout and rate counts are shared by every web worker: a real gunicorn with two workers proves it.

Started as Render starts it (`python -m primepre.supervisor`, tests/deploy/stack.py)
with GUNICORN_WORKERS=2, on this run's test database (SQLite or PostgreSQL). To know that two workers
really took part, one request is held half-sent: the worker that accepted it
waits for the rest of its headers, so every other request is served by the
other worker. Then the held request is finished; its worker has seen none of
the others, yet it must refuse it, counting what the other worker recorded.
gunicorn's access log names the worker (pid) that served each request, and its User-Agent,
which tags each request (the log leaves query strings out).
"""

import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from tests.deploy.stack import STAFF_PHONE, Stack, prepare_template, running_stack
from tests.workers import worker_database_url

# transaction=True: the stack's processes must see what each test commits, and each test ends with the tables empty.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAILURES_BEFORE_LOCKOUT = 3
TOKEN_REQUESTS_PER_MINUTE = 3
# gunicorn_config.py's access log: "POST /path HTTP/1.1" status bytes duration <pid> "user agent"
ACCESS_LINE = re.compile(
    r'"POST (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3}) \S+ \S+ <(?P<pid>\d+)> "(?P<agent>[^"]*)"'
)


class HeldRequest:
    """A POST whose last header line is held back, so the worker that accepted it can do nothing else until finish()."""

    def __init__(self, port: int, path: str, payload: object) -> None:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nUser-Agent: held\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(head)
        self.rest = b"\r\n" + body

    def finish(self) -> tuple[int, dict[str, str], dict[str, object]]:
        self.sock.sendall(self.rest)
        received = b""
        while chunk := self.sock.recv(65536):
            received += chunk
        self.sock.close()
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
        return int(status_line.split()[1]), headers, json.loads(body or b"{}")


def served_by(stack: Stack) -> dict[str, tuple[int, int]]:
    """Each logged request's path and User-Agent tag (`/path?n=tag`) → (status, pid of the worker that served it)."""
    return {
        f"{match['path']}?n={match['agent']}": (int(match["status"]), int(match["pid"]))
        for match in ACCESS_LINE.finditer(stack.log())
    }


@pytest.fixture(scope="module")
def stack(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack on this run's test database, SQLite or PostgreSQL; request counts are cleared before and after.

    The counts live in the database's cache table, which the flush after each test
    leaves alone: requests from 127.0.0.1 that earlier tests made still count.
    """
    with django_db_blocker.unblock():
        cache.clear()
        template = prepare_template(
            tmp_path_factory.mktemp("shared-counters-template"), database_url=worker_database_url()
        )
    try:
        with running_stack(
            template,
            tmp_path_factory.mktemp("shared-counters"),
            args=("--no-worker",),
            GUNICORN_WORKERS="2",
            LOGIN_LOCKOUT_FAILURES=str(FAILURES_BEFORE_LOCKOUT),
            LOGIN_RATE_PER_MINUTE="0",
            TOKEN_RATE_PER_MINUTE=str(TOKEN_REQUESTS_PER_MINUTE),
        ) as stack:
            stack.wait_until(lambda: stack.log().count("[WORKER-SPAWN]") >= 2, timeout=60, what="two web workers")
            yield stack
    finally:
        with django_db_blocker.unblock():
            cache.clear()  # a table the flush after each test leaves alone


def held_then_others(stack: Stack, path: str, payload: object, others: int) -> tuple[tuple, list[int]]:
    held = HeldRequest(stack.port, path, payload)
    time.sleep(0.5)  # let one worker accept it and start waiting for the rest
    statuses = [stack.post_json(path, payload, headers={"User-Agent": str(number)})[0] for number in range(others)]
    return held.finish(), statuses


def test_failed_sign_ins_recorded_by_one_worker_lock_the_phone_out_in_the_other(stack: Stack) -> None:
    wrong = {"phone": "024 111 0001", "password": "not-the-password"}

    (status, headers, body), others = held_then_others(stack, "/api/auth/login/", wrong, FAILURES_BEFORE_LOCKOUT - 1)

    served = served_by(stack)
    held_pid = served["/api/auth/login/?n=held"][1]
    other_pids = {served[f"/api/auth/login/?n={number}"][1] for number in range(FAILURES_BEFORE_LOCKOUT - 1)}
    assert held_pid not in other_pids, f"the held request's worker served the others too: {served}"
    assert others == [401] * (FAILURES_BEFORE_LOCKOUT - 1)
    assert (status, body["code"]) == (429, "locked_out"), body
    assert int(headers["retry-after"]) > 0
    assert f"phone {STAFF_PHONE[:6]}•••{STAFF_PHONE[-4:]} from 127.0.0.1" in stack.log(), "[LOGIN-LOCKOUT] logged"


def test_requests_counted_by_one_worker_use_up_the_address_budget_in_the_other(stack: Stack) -> None:
    garbage = {"refresh": "not-a-token"}

    (status, headers, body), others = held_then_others(
        stack, "/api/auth/token/refresh/", garbage, TOKEN_REQUESTS_PER_MINUTE
    )

    served = served_by(stack)
    held_pid = served["/api/auth/token/refresh/?n=held"][1]
    other_pids = {served[f"/api/auth/token/refresh/?n={number}"][1] for number in range(TOKEN_REQUESTS_PER_MINUTE)}
    assert held_pid not in other_pids, f"the held request's worker served the others too: {served}"
    assert others == [401] * TOKEN_REQUESTS_PER_MINUTE
    assert (status, body["code"]) == (429, "throttled"), body
    assert 1 <= int(headers["retry-after"]) <= 60
