"""GET /api/admin/metrics: memory per process, running imports and queue depth, for whoever is on call.

The same snapshot as `manage.py check_memory`, seen from inside the web worker
that answers: it is `current`, the gunicorn master is its parent, and the
other web workers are its siblings.

It needs active staff with `users.view_service_metrics` (superusers hold every
permission). A permission of its own rather than superuser only: process ids,
host names in worker ids and running jobs are operational detail for on-call
staff, who should not need the right to read every customer to see them; and
not any staff, because an importer has no use for them.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api.permissions import CanViewServiceMetrics
from users.api.schema import error_responses
from users.monitoring.metrics import ServiceMetrics, service_metrics_get
from users.monitoring.processes import ProcessRole


@extend_schema_serializer(component_name="ProcessMemory")
class ProcessSerializer(serializers.Serializer):
    pid = serializers.IntegerField()
    ppid = serializers.IntegerField(help_text="Parent pid: a web worker's parent is the gunicorn master.")
    role = serializers.ChoiceField(choices=ProcessRole.choices)
    rss_mb = serializers.FloatField(help_text="Resident set size in MB.")
    pss_mb = serializers.FloatField(
        allow_null=True, help_text="Proportional set size in MB: shared pages split between their sharers."
    )
    uptime_seconds = serializers.FloatField()
    current = serializers.BooleanField(help_text="True for the web worker that answered this request.")


class MetricsApi(APIView):
    """Memory of every process in this instance, the running imports and the task queue's depth."""

    permission_classes = [CanViewServiceMetrics]

    @extend_schema_serializer(component_name="ServiceMetrics")
    class OutputSerializer(serializers.Serializer):
        class ProcessesSerializer(serializers.Serializer):
            supervisor = ProcessSerializer(allow_null=True)
            web_master = ProcessSerializer(allow_null=True)
            web_workers = ProcessSerializer(many=True)
            task_workers = ProcessSerializer(many=True)
            other = ProcessSerializer(many=True, help_text="The answering process when it is none of the above.")

        class ContainerSerializer(serializers.Serializer):
            usage_mb = serializers.FloatField()
            limit_mb = serializers.FloatField(allow_null=True)

        class RunningJobSerializer(serializers.Serializer):
            id = serializers.UUIDField()
            status = serializers.CharField()
            processed_rows = serializers.IntegerField()
            total_rows = serializers.IntegerField()
            rows_per_second = serializers.FloatField()
            heartbeat_at = serializers.DateTimeField(allow_null=True)
            worker_id = serializers.CharField()

        current_pid = serializers.IntegerField()
        processes = ProcessesSerializer()
        total_rss_mb = serializers.FloatField(help_text="Sum of RSS; forked processes share pages, so an upper bound.")
        total_pss_mb = serializers.FloatField(
            allow_null=True, help_text="Sum of PSS: what the processes use together, shared pages counted once."
        )
        memory_warning_mb = serializers.IntegerField(help_text="MEMORY_WARNING_MB: [MEMORY-HIGH] is logged above it.")
        container = ContainerSerializer(allow_null=True, help_text="The cgroup's usage and limit, where readable.")
        running_jobs = RunningJobSerializer(many=True)
        queue_depth = serializers.IntegerField(
            allow_null=True, help_text="Tasks ready to run now, all queues; null when the database didn't answer."
        )
        queue_depth_by_queue = serializers.DictField(child=serializers.IntegerField())
        database_error = serializers.CharField(help_text="Empty, or why the jobs and queue fields are empty.")
        generated_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="admin_metrics",
        responses={200: OutputSerializer, **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        metrics = service_metrics_get()
        return Response(self.OutputSerializer(_as_output(metrics)).data)


def _as_output(metrics: ServiceMetrics) -> dict[str, object]:
    stack = metrics.stack
    return {
        "current_pid": stack.current_pid,
        "processes": {
            "supervisor": stack.one(ProcessRole.SUPERVISOR),
            "web_master": stack.one(ProcessRole.WEB_MASTER),
            "web_workers": stack.by_role(ProcessRole.WEB_WORKER),
            "task_workers": stack.by_role(ProcessRole.TASK_WORKER),
            "other": stack.by_role(ProcessRole.OTHER),
        },
        "total_rss_mb": stack.total_rss_mb,
        "total_pss_mb": stack.total_pss_mb,
        "memory_warning_mb": metrics.memory_warning_mb,
        "container": metrics.container,
        "running_jobs": metrics.running_jobs,
        "queue_depth": metrics.queue_depth,
        "queue_depth_by_queue": metrics.queue_depth_by_queue,
        "database_error": metrics.database_error,
        "generated_at": metrics.generated_at,
    }


metrics_view = MetricsApi.as_view()
