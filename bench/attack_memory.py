"""Hostile request bodies against the real service: what each costs the web worker (make bench-attack).

Starts the service as Render does (`python -m primepre.supervisor`: gunicorn with one sync worker,
forked from a master that preloads Django) on a free 127.0.0.1 port with a throwaway SQLite database,
sends every shape in tests/deploy/attacks.py (each family's worst at its limit, the original 47 MB
incident first), and prints one row per request: the shape, the endpoint, the body's size, the answer,
and the web worker's peak RSS (VmHWM) while it served that request. Nothing leaves this machine.

Each request is served by a fresh worker (the previous one is stopped and gunicorn forks another), so
each row is that request's own cost from the same start, not what earlier requests left behind;
`--one-worker` sends them all to one worker instead, as tests/deploy/test_request_memory.py does.

    python bench/attack_memory.py                # every shape, each on a fresh worker
    python bench/attack_memory.py --quick        # without the slow legitimate ones (10,000 rows written)
    python bench/attack_memory.py --one-worker   # one worker throughout: its peak only ever grows
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "primepre.settings")

from tests.deploy.attacks import ORIGIN, Outcome, attacks, peak_rss_mb, reset_peak, run, table  # noqa: E402
from tests.deploy.stack import SECRET_KEY, Stack, prepare_template, running_stack  # noqa: E402


def web_worker_pid(stack: Stack) -> int | None:
    from users.monitoring.processes import ProcessRole, stack_memory_get

    workers = stack_memory_get(root_pid=stack.pid).by_role(ProcessRole.WEB_WORKER)
    return workers[0].pid if len(workers) == 1 else None


def fresh_worker(stack: Stack, old_pid: int | None) -> int:
    """Stop the web worker (if any) and wait for gunicorn's replacement to answer /health."""
    if old_pid is not None:
        os.kill(old_pid, signal.SIGTERM)
    stack.wait_until(
        lambda: web_worker_pid(stack) not in (None, old_pid) and stack.healthy(), timeout=60, what="a fresh worker"
    )
    pid = web_worker_pid(stack)
    if pid is None:
        raise RuntimeError("the web worker went away again")
    time.sleep(0.5)
    return pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="leave out the slow legitimate requests")
    parser.add_argument("--one-worker", action="store_true", help="send every request to the same worker")
    options = parser.parse_args()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="attack-memory-") as folder:
        work = Path(folder)
        template = prepare_template(work / "template")
        with running_stack(
            template,
            work / "stack",
            args=("--no-worker",),  # no task worker: every request here is the web worker's
            GUNICORN_MAX_REQUESTS="0",
            GUNICORN_WORKER_MAX_RSS_MB="0",
            CORS_ALLOWED_ORIGINS=ORIGIN,
        ) as stack:
            pid = fresh_worker(stack, None)
            reset_peak(pid)
            idle = peak_rss_mb(pid)
            for attack in attacks(work):
                if options.quick and attack.slow:
                    continue
                if not options.one_worker and outcomes:
                    pid = fresh_worker(stack, pid)
                outcome = run(
                    attack, port=stack.port, worker_pid=pid, importer_token=stack.token, secret_key=SECRET_KEY
                )
                outcomes.append(outcome)
                print(
                    f"{outcome.status or 'reset'} peak {outcome.peak_rss_mb:6.1f} MB, "
                    f"after {outcome.rss_after_mb:6.1f} MB, {outcome.seconds:5.1f} s  "
                    f"{attack.family}: {attack.shape}: {outcome.message[:110]}",
                    file=sys.stderr,
                )
            healthy = stack.healthy()
    print(table(outcomes, baseline_mb=idle))
    print()
    print(
        f"Highest peak {max(o.peak_rss_mb for o in outcomes):.0f} MB "
        f"({'one worker throughout' if options.one_worker else 'each request on a fresh worker'}); "
        f"/health afterwards: {'200' if healthy else 'failing'}."
    )


if __name__ == "__main__":
    main()
