"""No request, of any shape, takes the web worker above 200 MB: over real HTTP, against the service as Render runs it.

`python -m primepre.supervisor` with one sync gunicorn worker forked from the
preloading master, recycling off (GUNICORN_MAX_REQUESTS=0 and
GUNICORN_WORKER_MAX_RSS_MB=0, as the leak test has it), so the worker measured is
the one that answered every request. Each family of endpoint gets the worst shapes
found at its limit (tests/deploy/attacks.py): anonymous sign-in and pages (4 KB),
the admin (64 KB), forged and expired tokens, an importer's bulk-create (6 MB of
JSON) and an importer's upload (50 MB multipart), one after another. The worker's
VmHWM, its peak since it started, must stay at or under 200 MB; every refusal is a
4xx with a sentence, API refusals of the body carry the frontend's CORS headers,
and /health still answers. bench/attack_memory.py sends the same requests and
prints them as a table; the figures of the last run are in .run/deploy-request-memory.json.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.deploy.attacks import ORIGIN, Outcome, attacks, peak_rss_mb, run, table
from tests.deploy.stack import ROOT, SECRET_KEY, Stack, prepare_template, running_stack
from users.monitoring.processes import ProcessRole, stack_memory_get

pytestmark = pytest.mark.slow

PEAK_CEILING_MB = 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    template = prepare_template(tmp_path_factory.mktemp("request-memory-template"))
    with running_stack(
        template,
        tmp_path_factory.mktemp("request-memory"),
        args=("--no-worker",),  # every request here is the web worker's
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_WORKER_MAX_RSS_MB="0",
        CORS_ALLOWED_ORIGINS=ORIGIN,
    ) as stack:
        yield stack


def web_worker(stack: Stack) -> psutil.Process:
    [worker] = stack_memory_get(root_pid=stack.pid).by_role(ProcessRole.WEB_WORKER)
    return psutil.Process(worker.pid)


def problems_with(outcome: Outcome) -> list[str]:
    attack = outcome.attack
    name = f"{attack.family}: {attack.shape}"
    if outcome.status not in attack.expect:
        return [f"{name}: answered {outcome.status}, expected {attack.expect} ({outcome.message[:200]!r})"]
    found = []
    if outcome.status >= 400 and len(outcome.message) < 10:
        found.append(f"{name}: a {outcome.status} without a sentence")
    if attack.path.startswith("/api/") and outcome.status in {411, 413} and not outcome.cors:
        found.append(f"{name}: a {outcome.status} without the frontend's CORS headers")
    return found


def test_no_request_takes_the_web_worker_above_200_mb_and_each_refusal_says_why(stack: Stack, tmp_path: Path) -> None:
    worker = web_worker(stack)
    idle_mb = peak_rss_mb(worker.pid)
    outcomes = [
        run(
            attack,
            port=stack.port,
            worker_pid=worker.pid,
            importer_token=stack.token,
            secret_key=SECRET_KEY,
            resets=False,
        )
        for attack in attacks(tmp_path)
        if not attack.slow
    ]
    peak_mb = peak_rss_mb(worker.pid)
    report = table(outcomes, baseline_mb=idle_mb)
    (ROOT / ".run").mkdir(exist_ok=True)
    (ROOT / ".run" / "deploy-request-memory.json").write_text(
        json.dumps({"idle_mb": idle_mb, "peak_mb": peak_mb, "table": report}, indent=2)
    )

    assert web_worker(stack).pid == worker.pid, "the worker was replaced: recycling was meant to be off"
    assert stack.healthy(), f"/health stopped answering:\n{stack.log()[-3000:]}"
    assert [problem for outcome in outcomes for problem in problems_with(outcome)] == []
    assert peak_mb <= PEAK_CEILING_MB, f"the web worker peaked at {peak_mb:.0f} MB:\n{report}"
