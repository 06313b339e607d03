"""Run the web server and the task worker as one service, for Render's free tier.

Render's free plan has no background workers, so one start command must run
gunicorn and `run_worker` side by side. This process stays tiny (it
never imports Django), restarts a child that dies, with backoff, and on SIGTERM
or SIGINT stops both cleanly:

1. SIGTERM to both. gunicorn finishes its requests (graceful_timeout, 60 s); an
   idle task worker exits at once, a busy one finishes its current task.
2. A task still running after SUPERVISOR_WORKER_GRACE_SECONDS gets a second
   SIGTERM, which makes django-tasks-db interrupt it: the import's open batch
   rolls back and the job resumes from its checkpoint after the restart.
3. Whatever still runs after SUPERVISOR_STOP_SECONDS is killed. A second
   signal to the supervisor (Ctrl+C twice) kills at once.

Render waits `maxShutdownDelaySeconds` (render.yaml) before its own SIGKILL;
keep SUPERVISOR_STOP_SECONDS below it. In a terminal (`make run`), Ctrl+C
reaches every process of the group at once: gunicorn stops quickly, and the
supervisor's SIGTERM is the task worker's second signal, so a running import is
interrupted at once and resumes from its checkpoint next time.

    python -m primepre.supervisor              # web + worker
    python -m primepre.supervisor --no-web     # worker only
    python -m primepre.supervisor --no-worker  # web only
    python -m primepre.supervisor --task-workers 2   # two task workers (best on PostgreSQL)
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from primepre.env import env_float, env_int
from users.logtags import LogTag  # an enum, nothing more: the supervisor never imports Django

# Not __name__: that is "__main__" under `python -m`, and ops filter on this name.
logger = logging.getLogger("primepre.supervisor")

PROJECT_DIR = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Timings:
    """How patient the supervisor is; all in seconds, read from the environment once."""

    worker_grace_seconds: float = 25.0  # a running task may finish before it is interrupted
    stop_seconds: float = 80.0  # gunicorn's graceful_timeout (60 s) plus margin; under Render's 90 s
    max_backoff_seconds: float = 30.0  # a child that keeps dying is retried at most this often
    healthy_after_seconds: float = 60.0  # a child that ran this long starts again with a short backoff

    @classmethod
    def from_env(cls) -> "Timings":
        try:
            return cls(
                worker_grace_seconds=env_float("SUPERVISOR_WORKER_GRACE_SECONDS", cls.worker_grace_seconds),
                stop_seconds=env_float("SUPERVISOR_STOP_SECONDS", cls.stop_seconds),
                max_backoff_seconds=env_float("SUPERVISOR_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds),
            )
        except ValueError as error:
            raise SystemExit(str(error)) from None


def describe_exit(returncode: int) -> str:
    """A child's exit status in words, naming the likely cause of a kill."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    if returncode == -signal.SIGKILL:
        return f"was killed by {name} (likely the out-of-memory killer)"
    return f"was killed by {name}"


class Child:
    """One supervised process and its restart state."""

    def __init__(self, name: str, argv: list[str], *, interruptible: bool = False) -> None:
        self.name = name
        self.argv = argv
        # True for the task worker: a second SIGTERM interrupts its running task.
        self.interruptible = interruptible
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.backoff = 1.0
        self.restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=PROJECT_DIR)  # noqa: S603 - our own fixed commands
        self.started_at = time.monotonic()
        self.restart_at = None
        logger.info("%s started %s pid=%s", LogTag.SUPERVISOR, self.name, self.process.pid, extra={"child": self.name})

    def signal(self, signum: int) -> None:
        if self.running():
            try:
                self.process.send_signal(signum)  # type: ignore[union-attr]
            except ProcessLookupError:
                pass  # it exited between poll() and the signal


class Supervisor:
    def __init__(self, children: list[Child], *, timings: Timings | None = None) -> None:
        self.children = children
        self.timings = timings or Timings()
        self.stopping = False
        self.force = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping:
            logger.warning("%s received %s again; killing the children now", LogTag.SUPERVISOR, name)
            self.force = True
        else:
            logger.info("%s received %s; stopping the children", LogTag.SUPERVISOR, name)
            self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        logger.info(
            "%s pid=%s supervising %s",
            LogTag.SUPERVISOR,
            os.getpid(),
            ", ".join(child.name for child in self.children),
        )
        for child in self.children:
            if not self.stopping:
                child.start()
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                self._watch(child, now)
            time.sleep(POLL_SECONDS)
        return self._stop_children()

    def _watch(self, child: Child, now: float) -> None:
        """Notice a dead child once, then start it again when its backoff has passed."""
        if child.running():
            return
        if child.restart_at is None:
            # A child that ran for a while restarts promptly; one that dies at once
            # backs off, so a broken deploy doesn't spin and flood the log.
            if now - child.started_at > self.timings.healthy_after_seconds:
                child.backoff = 1.0
            child.restart_at = now + child.backoff
            logger.warning(
                "%s %s pid=%s %s; restarting it in %.0f s",
                LogTag.SUPERVISOR,
                child.name,
                child.pid,
                describe_exit(child.process.returncode),  # type: ignore[union-attr]
                child.backoff,
                extra={"child": child.name, "restarts": child.restarts},
            )
            child.backoff = min(child.backoff * 2, self.timings.max_backoff_seconds)
        elif now >= child.restart_at:
            child.restarts += 1
            child.start()

    def _stop_children(self) -> int:
        running = [child for child in self.children if child.running()]
        for child in running:
            child.signal(signal.SIGTERM)
        started = time.monotonic()
        interrupted: set[str] = set()
        while any(child.running() for child in running):
            elapsed = time.monotonic() - started
            if self.force or elapsed > self.timings.stop_seconds:
                for child in running:
                    if child.running():
                        logger.error(
                            "%s %s pid=%s did not stop after %.0f s; killing it",
                            LogTag.SUPERVISOR,
                            child.name,
                            child.pid,
                            elapsed,
                        )
                        child.signal(signal.SIGKILL)
                break
            for child in running:
                if (
                    child.interruptible
                    and child.name not in interrupted
                    and elapsed > self.timings.worker_grace_seconds
                    and child.running()
                ):
                    logger.warning(
                        "%s %s pid=%s still busy after %.0f s; interrupting its task "
                        "(an import resumes from its checkpoint after the restart)",
                        LogTag.SUPERVISOR,
                        child.name,
                        child.pid,
                        elapsed,
                    )
                    child.signal(signal.SIGTERM)
                    interrupted.add(child.name)
            time.sleep(POLL_SECONDS)
        for child in running:
            child.process.wait()  # type: ignore[union-attr]
            logger.info(
                "%s %s pid=%s %s",
                LogTag.SUPERVISOR,
                child.name,
                child.pid,
                describe_exit(child.process.returncode),  # type: ignore[union-attr]
            )
        logger.info("%s all children stopped", LogTag.SUPERVISOR)
        return 0


def build_children(*, web: bool, worker: bool, task_workers: int = 1) -> list[Child]:
    python = sys.executable
    children = []
    if web:
        gunicorn = [python, "-m", "gunicorn", "-c", str(PROJECT_DIR / "gunicorn_config.py"), "primepre.wsgi"]
        children.append(Child("web", gunicorn))
    if worker:
        # System checks import every view to check the URLconf: ~25 MB the worker never
        # uses, for checks the build step's `migrate` has already run.
        run_worker = [python, str(PROJECT_DIR / "manage.py"), "run_worker", "--skip-checks"]
        for number in range(1, task_workers + 1):
            name = "worker" if task_workers == 1 else f"worker-{number}"
            children.append(Child(name, run_worker, interruptible=True))
    return children


def configure_logging() -> None:
    """The same line shape as Django's logging (primepre/settings.py), without importing Django."""
    from primepre.logging import TEXT_FORMAT, JsonFormatter, log_format, log_level

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format() == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=log_level(), handlers=[handler])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--no-web", action="store_true", help="run only the task worker")
    parser.add_argument("--no-worker", action="store_true", help="run only the web server")
    try:
        task_workers = env_int("SUPERVISOR_TASK_WORKERS", 1)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    parser.add_argument(
        "--task-workers",
        type=int,
        default=task_workers,
        help="task worker processes to run (default: SUPERVISOR_TASK_WORKERS or 1); each costs ~50 MB idle",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_web and (args.no_worker or args.task_workers < 1):
        parser.error("--no-web and --no-worker leave nothing to run")
    configure_logging()
    children = build_children(web=not args.no_web, worker=not args.no_worker, task_workers=args.task_workers)
    return Supervisor(children, timings=Timings.from_env()).run()


if __name__ == "__main__":
    sys.exit(main())
