"""gunicorn settings for Render's 512 MB free tier (docs/deploy.md explains each knob).

One sync worker by default: imports run in the task worker, so web requests are
short. Override with GUNICORN_WORKERS or WEB_CONCURRENCY on bigger plans. The
master preloads Django so that recycling a worker costs a fork (see
preload_app). The hooks below write the ops tags of users/logtags.py
(docs/operations.md) through gunicorn's own error logger, which is configured in
the master before Django is loaded: importing this file prints nothing, and
every line it causes goes through that logger.
"""

import io
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

from primepre.env import env_int  # noqa: E402 - needs PROJECT_DIR on sys.path
from primepre.logging import TEXT_FORMAT, log_format, log_level  # noqa: E402 - needs PROJECT_DIR on sys.path
from users.logtags import LogTag  # noqa: E402 - needs PROJECT_DIR on sys.path

logger = logging.getLogger("gunicorn.error")

# An API view an anonymous request reaches without a query (401), for _warm_up.
WARM_UP_PATH = "/api/imports/"


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT') or '8000'}"  # noqa: S104 - Render routes to $PORT
workers = env_int("GUNICORN_WORKERS", 0) or env_int("WEB_CONCURRENCY", 1)
worker_class = "sync"
# Imports run in the task worker; 600 s only covers a slow validate-only upload
# preview of a 50 MB sheet on a shared CPU.
timeout = env_int("GUNICORN_TIMEOUT", 600)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 60)
keepalive = 5
backlog = 1024
# Recycling bounds slow growth (fragmentation, caches); 0 switches it off (the leak test does).
max_requests = env_int("GUNICORN_MAX_REQUESTS", 150)
max_requests_jitter = env_int("GUNICORN_MAX_REQUESTS_JITTER", 50)
# Recycle a worker after the request that pushed it past this RSS (see post_request); 0 = never.
worker_max_rss_mb = env_int("GUNICORN_WORKER_MAX_RSS_MB", 200)
# Django and every view are loaded once, in the master (see when_ready), so a recycled
# worker is a fork away from serving. Without it each recycle is a Django start-up
# (~1 s, several on a busy box) with every request waiting: with 20 clients polling
# once a second and max_requests 150, one every ~8 s (docs/performance.md#load-test).
# The forked worker shares those pages: RSS counts them in both processes, the
# container's memory (and PSS) once.
preload_app = env_int("GUNICORN_PRELOAD", 1) != 0
# The control socket (gunicorn >= 25.1) starts an asyncio thread in the master and
# one shared path under $HOME, which several local gunicorns would fight over.
control_socket_disable = True
# The worker heartbeat file: on a RAM disk where one exists, so a slow disk can't stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented advice
proc_name = "primepre"

LOG_LEVEL = log_level()
LOG_FORMAT = log_format()
loglevel = LOG_LEVEL.lower()
accesslog = "-"
errorlog = "-"
# The client behind Render's proxy, the method, path and protocol, status, bytes and the
# duration in ms (%(M)s). The path without its query string (%(U)s, not the request
# line %(r)s): the frontend searches customers by phone number and email in it
# (/api/auth/admin/users/?search=...), and a log line must not carry them.
access_log_format = '%(h)s %({x-forwarded-for}i)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms %(p)s "%(a)s"'
# Same line shape as Django's own logging (primepre/settings.py), JSON included, so the
# master, the web worker and the task worker read alike in one log stream.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": TEXT_FORMAT},
        "json": {"()": "primepre.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
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
    """Warm the preloaded app, then the ready banner: what gunicorn actually runs with, after env overrides."""
    cfg = server.cfg
    if cfg.preload_app and _django_is_set_up():
        _warm_up(server.app.wsgi())
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
        "preload": cfg.preload_app,
    }
    logger.info(
        "%s master pid=%s rss_mb=%.1f %s",
        LogTag.SERVER_READY,
        server.pid,
        rss_mb(),
        " ".join(f"{key}={value}" for key, value in settings.items()),
        extra={"pid": server.pid, **settings},
    )


def _django_is_set_up() -> bool:
    """True when the preloaded app is Django's (primepre.wsgi ran django.setup()), not some other WSGI app."""
    if "django.apps" not in sys.modules:
        return False
    from django.apps import apps

    return apps.ready


def _warm_up(application: Any) -> None:
    """Load every view and DRF's request machinery in the master, touching no database.

    Resolving the URLconf imports the views; one anonymous request to an API view
    (answered 401 before any query) loads what DRF imports lazily on first use. A
    database connection opened here would be shared by every forked worker, so
    none is, and close_all() makes sure of it.
    """
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the attribute access imports the URLconf
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": WARM_UP_PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    # Django logs every 401 as a warning; this one is ours, not a client's.
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    try:
        b"".join(application(environ, lambda status, headers, exc_info=None: None))
    finally:
        request_log.setLevel(level)
        connections.close_all()


def post_fork(server: Any, worker: Any) -> None:
    logger.info("%s pid=%s age=%s", LogTag.WORKER_SPAWN, worker.pid, worker.age, extra={"pid": worker.pid})


def worker_exit(server: Any, worker: Any) -> None:
    """Runs in the worker as it leaves (recycling, a deploy, an abort), then ends it at once.

    gunicorn also calls this in the master for a worker that is already gone;
    only a worker ends itself.
    """
    rss = rss_mb()
    logger.info(
        "%s pid=%s requests=%s rss_mb=%.1f",
        LogTag.WORKER_SHUTDOWN,
        worker.pid,
        worker.nr,
        rss,
        extra={"pid": worker.pid, "requests": worker.nr, "rss_mb": round(rss, 1)},
    )
    if os.getpid() == worker.pid:
        _exit_without_teardown()


def _exit_without_teardown() -> None:
    """End the worker now, skipping the interpreter's teardown of every module and object.

    That teardown took 2-3 s on a busy 2-core box, and the master forks the
    replacement only once the old worker is gone, so every recycle stalled all
    requests that long (docs/performance.md#load-test). Nothing is lost: gunicorn
    has closed the worker's files, the database connections are closed here, and
    the log handlers are flushed. The exit code gunicorn was leaving with is kept.
    """
    exc = sys.exc_info()[1]
    code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 0
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def worker_abort(worker: Any) -> None:
    """The master sent SIGABRT: a request outran `timeout`, or the box is short of memory and thrashing.

    The stack shows which code the worker was stuck in; the request itself gets an
    error (a 500, or a 502 from Render's proxy if the connection drops).
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
    master fork a fresh worker from its preloaded copy.
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
