"""Which processes make up the running service, and how much memory each holds.

One Render instance runs the supervisor, the gunicorn master, its web worker(s)
and the task worker(s) (primepre/supervisor.py). They are recognised by their
command lines, and grouped around the process that asks: a web worker walks up
to its gunicorn master and the supervisor above it, then down to every process
they started. A task worker running outside the supervisor (its own terminal,
or `--no-web`) is found by its command line among this user's processes.

psutil is imported inside the functions: an idle web worker never needs it.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    import psutil

MB = 1024 * 1024
# cgroup v1 reports "no limit" as a number near 2**63.
_UNLIMITED_BYTES = 1 << 50


class ProcessRole(models.TextChoices):
    SUPERVISOR = "supervisor", "Supervisor"
    WEB_MASTER = "web_master", "gunicorn master"
    WEB_WORKER = "web_worker", "Web worker"
    TASK_WORKER = "task_worker", "Task worker"
    OTHER = "other", "Other"


ROLE_ORDER = {role: index for index, role in enumerate(ProcessRole)}


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    ppid: int
    role: ProcessRole
    rss_mb: float
    # Proportional set size: pages shared with other processes (a forked gunicorn
    # worker shares most of the preloaded master's) count as a share, not in full.
    # Summed over the stack it is what the box actually uses; None where unreadable.
    pss_mb: float | None
    uptime_seconds: float
    current: bool  # the process that took this snapshot


@dataclass(frozen=True)
class StackMemory:
    """A snapshot of the service's processes, grouped by role."""

    processes: tuple[ProcessMemory, ...]
    current_pid: int

    def by_role(self, role: ProcessRole) -> list[ProcessMemory]:
        return [process for process in self.processes if process.role == role]

    def one(self, role: ProcessRole) -> ProcessMemory | None:
        found = self.by_role(role)
        return found[0] if found else None

    @property
    def current(self) -> ProcessMemory | None:
        return next((process for process in self.processes if process.current), None)

    @property
    def total_rss_mb(self) -> float:
        """The sum of RSS: an upper bound, since forked processes share some pages."""
        return round(sum(process.rss_mb for process in self.processes), 1)

    @property
    def total_pss_mb(self) -> float | None:
        """The sum of PSS: the memory the stack uses, shared pages counted once; None if any is unknown."""
        if any(process.pss_mb is None for process in self.processes):
            return None
        return round(sum(process.pss_mb or 0.0 for process in self.processes), 1)


@dataclass(frozen=True)
class ContainerMemory:
    """What the kernel charges this container (cgroup), which is what Render's 512 MB limit applies to."""

    usage_mb: float
    limit_mb: float | None


def process_role(cmdline: Sequence[str], parent_cmdline: Sequence[str] = ()) -> ProcessRole:
    """A process's part in the service, from its command line (and its parent's, for gunicorn)."""
    if _is_supervisor(cmdline):
        return ProcessRole.SUPERVISOR
    if _is_gunicorn(cmdline):
        return ProcessRole.WEB_WORKER if _is_gunicorn(parent_cmdline) else ProcessRole.WEB_MASTER
    if any(arg in {"run_worker", "db_worker"} for arg in cmdline):
        return ProcessRole.TASK_WORKER
    return ProcessRole.OTHER


def _is_supervisor(cmdline: Sequence[str]) -> bool:
    return any(arg == "primepre.supervisor" or arg.endswith("primepre/supervisor.py") for arg in cmdline)


def _is_gunicorn(cmdline: Sequence[str]) -> bool:
    # `python -m gunicorn`, `.venv/bin/gunicorn`, or a title set by setproctitle ("gunicorn: worker [...]").
    return any(arg == "gunicorn" or arg.endswith("/gunicorn") or arg.startswith("gunicorn:") for arg in cmdline[:3])


def stack_memory_get(*, anchor_pid: int | None = None, root_pid: int | None = None) -> StackMemory:
    """The service's processes around `anchor_pid` (this process by default), or under `root_pid`.

    Without a stack above the anchor (e.g. `manage.py check_memory` from a shell),
    every service process of this user is listed; a stack found above the anchor
    that has no task worker of its own lists this user's task workers too.
    """
    import psutil

    anchor_pid = anchor_pid or os.getpid()
    root = psutil.Process(root_pid) if root_pid else _stack_root(psutil.Process(anchor_pid))
    if root is not None:
        members = {process.pid: process for process in [root, *_children(root)] if _role(process) != ProcessRole.OTHER}
        if root_pid is None and not any(_role(process) == ProcessRole.TASK_WORKER for process in members.values()):
            # The worker may run outside the supervisor (a separate terminal or service). Not when the caller named
            # the root: then it asked for that tree alone, and another stack's worker on the machine is not its own.
            members.update({p.pid: p for p in _same_user_processes() if _role(p) == ProcessRole.TASK_WORKER})
    else:
        members = {p.pid: p for p in _same_user_processes() if _role(p) != ProcessRole.OTHER}
    members.setdefault(anchor_pid, psutil.Process(anchor_pid))
    snapshots = [snapshot for process in members.values() if (snapshot := _snapshot(process, anchor_pid)) is not None]
    snapshots.sort(key=lambda snapshot: (ROLE_ORDER[snapshot.role], snapshot.pid))
    return StackMemory(processes=tuple(snapshots), current_pid=anchor_pid)


def container_memory_get() -> ContainerMemory | None:
    """The container's memory use and limit from cgroup v2 or v1; None where neither is readable."""
    for usage_file, limit_file in (
        ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.max"),
        ("/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    ):
        try:
            usage = int(Path(usage_file).read_text().strip())
            limit_text = Path(limit_file).read_text().strip()
        except (OSError, ValueError):
            continue
        limit = None if limit_text == "max" or int(limit_text) >= _UNLIMITED_BYTES else int(limit_text) / MB
        return ContainerMemory(usage_mb=round(usage / MB, 1), limit_mb=None if limit is None else round(limit, 1))
    return None


def _stack_root(process: "psutil.Process") -> "psutil.Process | None":
    """The outermost supervisor or gunicorn master among the process and its ancestors."""
    root = None
    for candidate in [process, *_ancestors(process)]:
        role = _role(candidate)
        if role in {ProcessRole.SUPERVISOR, ProcessRole.WEB_MASTER}:
            root = candidate
        elif role == ProcessRole.OTHER and candidate.pid != process.pid:
            break
    return root


def _ancestors(process: "psutil.Process") -> list["psutil.Process"]:
    import psutil

    try:
        return process.parents()
    except psutil.Error:
        return []


def _children(process: "psutil.Process") -> list["psutil.Process"]:
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _same_user_processes() -> list["psutil.Process"]:
    import psutil

    uid = os.getuid()
    found = []
    for process in psutil.process_iter(["uids"]):
        uids = process.info.get("uids")
        if uids is not None and uids.real == uid:
            found.append(process)
    return found


def _cmdline(process: "psutil.Process") -> list[str]:
    import psutil

    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _role(process: "psutil.Process") -> ProcessRole:
    import psutil

    cmdline = _cmdline(process)
    if not _is_gunicorn(cmdline):
        return process_role(cmdline)
    try:
        parent = process.parent()
    except psutil.Error:
        parent = None
    return process_role(cmdline, _cmdline(parent) if parent else ())


def _pss_mb(pid: int) -> float | None:
    """PSS from /proc/<pid>/smaps_rollup (Linux 4.14+): one small read, unlike psutil's full smaps walk."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        return None
    return None


def _snapshot(process: "psutil.Process", anchor_pid: int) -> ProcessMemory | None:
    import psutil

    try:
        with process.oneshot():
            return ProcessMemory(
                pid=process.pid,
                ppid=process.ppid(),
                role=_role(process),
                rss_mb=round(process.memory_info().rss / MB, 1),
                pss_mb=_pss_mb(process.pid),
                uptime_seconds=round(max(0.0, time.time() - process.create_time()), 1),
                current=process.pid == anchor_pid,
            )
    except psutil.Error:
        return None  # it exited (or became a zombie) while we looked
