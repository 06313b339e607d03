"""Print the memory of the service's processes, the running imports and the queue depth, for ops.

The same snapshot as `GET /api/admin/metrics` (users/monitoring/metrics.py), for
Render's shell or a terminal next to `make run`:

    python manage.py check_memory
    python manage.py check_memory --json
    python manage.py check_memory --root-pid 1234   # only the stack under that supervisor
"""

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from users.monitoring.metrics import ServiceMetrics, service_metrics_get
from users.monitoring.processes import ProcessRole


class Command(BaseCommand):
    help = "Show RSS per process (supervisor, gunicorn master and workers, task workers), running imports, queue depth."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object instead of a table")
        parser.add_argument(
            "--root-pid",
            type=int,
            default=None,
            help="only the processes under this supervisor or gunicorn master (default: all of this user's)",
        )

    def handle(self, *args: Any, as_json: bool, root_pid: int | None, **options: Any) -> None:
        metrics = service_metrics_get(root_pid=root_pid)
        if as_json:
            self.stdout.write(_as_json(metrics))
        else:
            self.stdout.write(_as_table(metrics))


def _as_json(metrics: ServiceMetrics) -> str:
    payload = asdict(metrics)
    payload["total_rss_mb"] = metrics.stack.total_rss_mb
    return json.dumps(payload, cls=DjangoJSONEncoder, indent=2)


def _as_table(metrics: ServiceMetrics) -> str:
    lines = [f"{'ROLE':<16}{'PID':>8}{'PPID':>8}{'RSS MB':>9}{'PSS MB':>9}{'UPTIME':>10}"]
    service = [process for process in metrics.stack.processes if process.role != ProcessRole.OTHER]
    for process in service:
        lines.append(
            f"{ProcessRole(process.role).label:<16}{process.pid:>8}{process.ppid:>8}"
            f"{process.rss_mb:>9.1f}{_mb(process.pss_mb):>9}{_duration(process.uptime_seconds):>10}"
        )
    if not service:
        lines.append("(no supervisor, gunicorn or task worker of this user is running)")
    total_rss = round(sum(process.rss_mb for process in service), 1)
    pss = [process.pss_mb for process in service]
    total_pss = None if None in pss else sum(p or 0.0 for p in pss)
    lines.append(
        f"{'total':<32}{total_rss:>9.1f}{_mb(total_pss):>9}   "
        f"(RSS counts shared pages in every process, PSS once; warning above {metrics.memory_warning_mb} MB "
        "per process)"
    )
    if metrics.container is not None:
        limit = f"{metrics.container.limit_mb:.0f} MB" if metrics.container.limit_mb else "no limit"
        lines.append(f"container (cgroup): {metrics.container.usage_mb:.1f} MB used, {limit}")
    lines.append(f"running imports: {len(metrics.running_jobs)}")
    for job in metrics.running_jobs:
        lines.append(
            f"  {job.id} {job.status} {job.processed_rows}/{job.total_rows} rows "
            f"{job.rows_per_second:.0f} rows/s heartbeat {job.heartbeat_at:%H:%M:%S}"
            if job.heartbeat_at
            else f"  {job.id} {job.status} {job.processed_rows}/{job.total_rows} rows (no heartbeat yet)"
        )
    if metrics.database_error:
        lines.append(f"jobs and queue unknown: the database did not answer ({metrics.database_error})")
        return "\n".join(lines)
    by_queue = ", ".join(f"{queue} {count}" for queue, count in metrics.queue_depth_by_queue.items())
    lines.append(f"queue depth: {metrics.queue_depth} ready" + (f" ({by_queue})" if by_queue else ""))
    return "\n".join(lines)


def _mb(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
