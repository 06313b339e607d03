"""Run the web server and the task worker as one service, for Render's free tier.

Render's free plan has no background workers, so one start command must run
gunicorn and `run_worker` side by side (#7 item 2). This process stays tiny (no
Django import), restarts a child that dies, with backoff, and on SIGTERM or
SIGINT passes the signal on and waits for both to finish cleanly.

    python -m primepre.supervisor            # web + worker
    python -m primepre.supervisor --no-web   # worker only
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger("primepre.supervisor")

TAG = "[SUPERVISOR]"
SHUTDOWN_GRACE_SECONDS = 70  # gunicorn's graceful_timeout (60 s) plus margin
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = field(default=1.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)  # noqa: S603 - our own fixed commands
        self.started_at = time.monotonic()
        logger.info("%s started %s pid=%s", TAG, self.name, self.process.pid)


class Supervisor:
    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("%s received %s; stopping children", TAG, signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for child in self.children:
            child.start()
        while not self.stopping:
            for child in self.children:
                if child.process is None or child.process.poll() is None:
                    continue
                code = child.process.returncode
                # A child that ran for a while gets restarted promptly; one that
                # dies at once backs off, so a broken deploy doesn't spin.
                if time.monotonic() - child.started_at > 60:
                    child.backoff = 1.0
                logger.warning(
                    "%s %s exited with %s; restarting in %.0f s", TAG, child.name, code, child.backoff
                )
                self._sleep(child.backoff)
                if self.stopping:
                    break
                child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)
                child.restarts += 1
                child.start()
            self._sleep(0.5)
        return self._stop_children()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    def _stop_children(self) -> int:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for child in running:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                logger.error("%s %s did not stop in time; killing it", TAG, child.name)
                child.process.kill()  # type: ignore[union-attr]
                child.process.wait()  # type: ignore[union-attr]
        logger.info("%s all children stopped", TAG)
        return 0


def build_children(*, web: bool, worker: bool) -> list[Child]:
    python = sys.executable
    children = []
    if web:
        children.append(Child("web", [python, "-m", "gunicorn", "-c", "gunicorn_config.py", "primepre.wsgi"]))
    if worker:
        children.append(Child("worker", [python, "manage.py", "run_worker"]))
    return children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-web", action="store_true", help="run only the task worker")
    parser.add_argument("--no-worker", action="store_true", help="run only the web server")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    children = build_children(web=not args.no_web, worker=not args.no_worker)
    return Supervisor(children).run()


if __name__ == "__main__":
    sys.exit(main())
