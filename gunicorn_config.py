"""gunicorn settings for Render's 512 MB free tier (#7 item 1; docs/deploy.md explains each knob).

One sync worker by default: imports run in the task worker, so web requests are
short, and each extra worker costs ~60 MB. Override with GUNICORN_WORKERS or
WEB_CONCURRENCY on bigger plans. The hooks below write the ops tags of
users/logtags.py (docs/operations.md), through gunicorn's own error logger
because the master never loads Django's logging: importing this file prints
nothing, and every line it causes goes through that logger.
"""

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

# `gunicorn -c gunicorn_config.py` from another directory still finds the project.
PROJECT_DIR = str(Path(__file__).resolve().parent)
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

from users.logtags import LogTag  # noqa: E402 - needs PROJECT_DIR on sys.path

logger = logging.getLogger("gunicorn.error")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        # Raised at start-up, so a typo in Render's dashboard fails the deploy loudly.
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT') or '8000'}"  # noqa: S104 - Render routes to $PORT
workers = _env_int("GUNICORN_WORKERS", 0) or _env_int("WEB_CONCURRENCY", 1)
worker_class = "sync"
# Imports run in the task worker; 600 s only covers a slow validate-only upload
# preview of a 50 MB sheet on a shared CPU (#7 item 1).
timeout = _env_int("GUNICORN_TIMEOUT", 600)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 60)
keepalive = 5
backlog = 1024
# Recycling bounds slow growth (fragmentation, caches); 0 switches it off (the leak test does).
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 150)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 50)
# Recycle a worker after the request that pushed it past this RSS (see post_request); 0 = never.
worker_max_rss_mb = _env_int("GUNICORN_WORKER_MAX_RSS_MB", 200)
# The control socket (gunicorn >= 25.1) starts an asyncio thread in the master and
# one shared path under $HOME, which several local gunicorns would fight over.
control_socket_disable = True
# The worker heartbeat file: on a RAM disk where one exists, so a slow disk can't stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented advice
proc_name = "primepre"

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
loglevel = LOG_LEVEL.lower()
accesslog = "-"
errorlog = "-"
# The client behind Render's proxy, the request, status, bytes and the duration in ms (%(M)s).
access_log_format = '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s "%(a)s"'
# Same line shape as Django's own logging (primepre/settings.py), JSON included, so the
# master, the web worker and the task worker read alike in one log stream.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "primepre.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": LOG_LEVEL, "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": LOG_LEVEL, "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


def rss_mb(pid: int | None = None) -> float:
    """A process's resident set size in MB, from /proc (no psutil in the master: it stays small)."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        import psutil  # not Linux (a developer's Mac): the portable, slower way

        return psutil.Process(pid).memory_info().rss / (1024 * 1024)


def when_ready(server: Any) -> None:
    """The ready banner: what gunicorn actually runs with, after env overrides."""
    cfg = server.cfg
    settings = {
        "bind": ",".join(cfg.bind),
        "workers": server.num_workers,
        "worker_class": cfg.worker_class_str,
        "timeout": cfg.timeout,
        "graceful_timeout": cfg.graceful_timeout,
        "max_requests": cfg.max_requests,
        "max_requests_jitter": cfg.max_requests_jitter,
        "keepalive": cfg.keepalive,
        "backlog": cfg.backlog,
        "worker_max_rss_mb": worker_max_rss_mb,
    }
    logger.info(
        "%s master pid=%s rss_mb=%.1f %s",
        LogTag.SERVER_READY,
        server.pid,
        rss_mb(),
        " ".join(f"{key}={value}" for key, value in settings.items()),
        extra={"pid": server.pid, **settings},
    )


def post_fork(server: Any, worker: Any) -> None:
    logger.info("%s pid=%s age=%s", LogTag.WORKER_SPAWN, worker.pid, worker.age, extra={"pid": worker.pid})


def worker_exit(server: Any, worker: Any) -> None:
    """Runs in the worker as it leaves: recycling, a deploy, or after an abort."""
    rss = rss_mb()
    logger.info(
        "%s pid=%s requests=%s rss_mb=%.1f",
        LogTag.WORKER_SHUTDOWN,
        worker.pid,
        worker.nr,
        rss,
        extra={"pid": worker.pid, "requests": worker.nr, "rss_mb": round(rss, 1)},
    )


def worker_abort(worker: Any) -> None:
    """The master sent SIGABRT: a request outran `timeout`, or the box is short of memory and thrashing.

    The stack shows which code the worker was stuck in; the request itself gets a
    502 from Render's proxy.
    """
    rss = rss_mb()
    stack = "".join(traceback.format_stack(sys._getframe(1), limit=12))
    logger.error(
        "%s pid=%s rss_mb=%.1f aborted after timeout=%ss (a request ran too long, or memory ran short); "
        "it was running:\n%s",
        LogTag.WORKER_CRASH,
        worker.pid,
        rss,
        worker.cfg.timeout,
        stack,
        extra={"pid": worker.pid, "rss_mb": round(rss, 1)},
    )


def on_reload(server: Any) -> None:
    logger.warning("%s master pid=%s reloading configuration and replacing workers", LogTag.MASTER_RESTART, server.pid)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """The web worker's memory guard: recycle, gracefully, a worker that a request left big.

    CPython rarely gives freed memory back to the OS, so one large upload preview
    can leave a worker at 300 MB for the rest of its life; on a 512 MB box that
    starves the task worker. Finishing this request and then exiting lets the
    master fork a fresh ~60 MB worker.
    """
    if not worker_max_rss_mb or not worker.alive:
        return
    rss = rss_mb()
    if rss > worker_max_rss_mb:
        logger.warning(
            "%s web worker pid=%s rss_mb=%.1f is above GUNICORN_WORKER_MAX_RSS_MB=%s after %s; recycling it",
            LogTag.MEMORY_HIGH,
            worker.pid,
            rss,
            worker_max_rss_mb,
            getattr(req, "path", "?"),
            extra={"pid": worker.pid, "rss_mb": round(rss, 1)},
        )
        worker.alive = False
