"""Forked children for import work: a whole job, so the worker stays small; the read stage, so two cores work.

`run_in_child` runs one import job in a forked child process, so the task worker is as small after a big import
as before.

Python frees a million-row import's objects when it ends, but not its memory:
freed objects leave CPython's 1 MB arenas and glibc's heap pages partly used, so
the worker stays near its peak. Measured on a real `run_worker` after a
100,000-row xlsx import (idle 78–80 MB, peak 115–124 MB): 28 MB kept as it was;
13 MB on PostgreSQL and 18–21 MB on SQLite with `gc.collect()` and glibc's
`malloc_trim(0)` after the job; nothing with the job in a child that exits. A
fork of the idle worker costs a few milliseconds and a new database connection,
once per job.

Signals keep their meaning. The child ignores SIGINT and SIGTERM: the worker
(the parent) handles them as django-tasks-db always has, letting the job finish
after the first and interrupting it after the second, which here means killing
the child; its open chunk rolls back and the job resumes from its checkpoint.
If the parent dies without a chance to do that (SIGKILL, the OOM killer) the
kernel kills the child too (PR_SET_PDEATHSIG), so a job is never left running
without a worker to answer for it.

`iterate_in_child` runs a generator (the pipeline's read → validate →
de-duplicate stage) in a forked child and hands its items to this process
through a pipe, so reading and validating the next chunk (pure Python, one core)
happens while this process writes the last one (mostly waiting on PostgreSQL,
which works on the other core). The pipe is the bounded queue: at most about a
megabyte of pickled chunks waits in it, and the child blocks when this process
falls behind. Nothing is committed by the child, so crash safety stays where it
was: each chunk commits with its checkpoint in this process, and a resumed job
reads the file again from the top.
"""

import ctypes
import fcntl
import gc
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import connections

from users.imports.errors import ImportRefused

T = TypeVar("T")

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_F_SETPIPE_SZ = 1031
# How much the reading child may run ahead of the writer: about half a chunk of pickled rows.
PIPE_BYTES = 1 << 20


class ChildFailed(Exception):  # noqa: N818 - names the event, like django's own exceptions
    """The child running a job exited with an error or was killed; its log says why."""


class ChildKilled(ChildFailed):
    """The child died without a word (the OOM killer, most likely): like a killed worker, the job resumes later."""


def run_in_child(function: Callable[[], None]) -> None:
    """Call `function` in a forked child and wait for it; ChildFailed if it did not return normally.

    Without fork (not Linux) it runs here, as before.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        function()
        return
    # The child opens connections of its own: a socket shared by two processes mixes their conversations.
    connections.close_all()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = _fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        _child(function)
    try:
        _pid, status = os.waitpid(pid, 0)
    except BaseException:
        # The worker is being stopped (a second SIGTERM raises SystemExit here): the job stops with it.
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        raise ChildKilled(f"The process running the job was killed by signal {-code}.")
    if code != 0:
        raise ChildFailed(f"The process running the job exited {code}.")


def _fork() -> int:
    """os.fork, with everything the parent holds frozen out of the child's garbage collector.

    A collection writes into the header of every object it visits, and each
    write copies the object's page out of the memory the two processes share:
    without this, the child's first full collection (the memory monitor runs
    one per interval) would copy every Django object the parent had, tens of MB.
    """
    gc.collect()
    gc.freeze()
    pid = os.fork()
    if pid:
        gc.unfreeze()  # the parent carries on as before; the child keeps them frozen until it exits
    return pid


def _child(function: Callable[[], None]) -> None:
    """The child's whole life: never returns, never runs the parent's clean-up (os._exit)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _die_with_parent()
        function()
        code = 0
    except BaseException:
        logger.exception("The job's process stopped with an error")
    finally:
        connections.close_all()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the worker that forked it dies."""
    parent = os.getppid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def iterate_in_child(produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of `produce()`, made in a forked child while the caller works on the ones already handed over.

    An ImportRefused in the child is raised here at the same point of the
    sequence; any other failure of the child is ChildFailed. Closing the
    iterator early (a cancel, an error while writing) kills the child.
    Without fork it runs here, as before.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        yield from produce()
        return
    connections.close_all()  # the child opens its own when it reads (corrections come from the database)
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass  # the default 64 KB pipe works too, with the child waiting a little more often
    sys.stdout.flush()
    sys.stderr.flush()
    pid = _fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        _produce(produce, write_fd)
    os.close(write_fd)
    finished = False
    try:
        with os.fdopen(read_fd, "rb", buffering=PIPE_BYTES) as pipe:
            while True:
                try:
                    kind, payload = pickle.load(pipe)  # noqa: S301 - our own child, through our own pipe
                except EOFError:
                    raise ChildKilled("The process reading the file stopped before its end.") from None
                if kind == "item":
                    yield payload
                elif kind == "end":
                    finished = True
                    return
                elif kind == "refused":
                    finished = True
                    raise ImportRefused(*payload)
                else:
                    finished = True
                    raise ChildFailed(payload)
    finally:
        if not finished:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _produce(produce: Callable[[], Iterator[T]], fd: int) -> None:
    """The reading child's whole life: every item into the pipe, then how it ended; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _die_with_parent()
        with os.fdopen(fd, "wb", buffering=PIPE_BYTES) as pipe:

            def send(kind: str, payload: object) -> None:
                pickle.dump((kind, payload), pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()

            try:
                for item in produce():
                    send("item", item)
                send("end", None)
            except ImportRefused as refusal:
                send("refused", (refusal.code, refusal.message))
            except BrokenPipeError:
                raise
            except Exception as error:
                logger.exception("Reading the file failed")
                send("error", f"Reading the file failed: {type(error).__name__}.")
        code = 0
    except BrokenPipeError:
        code = 0  # the writer stopped listening (cancelled, or it failed): nothing left to do
    except BaseException:
        logger.exception("The reading process stopped with an error")
    finally:
        connections.close_all()
        logging.shutdown()
        os._exit(code)
