"""The frontend's Excel upload dialog: preview a file, create its customers, poll a background run.

The dialog's flow: upload the file and show what it holds (`ExcelUploadApi`),
then post the `unique_candidates` back to create them, either while it waits
(`BulkCreateApi`) or as a background job it polls (`BulkCreateAsyncApi`,
`BulkCreateStatusApi`). Every stage runs the import engine in users/imports,
so rows are checked and written exactly as a spreadsheet's are, under the same
rules: the options and quotas of users/imports/services.py, and an existing
customer's name, email and phone shown only to users who may view customers.
"""

import math
import uuid
from collections.abc import Iterable
from datetime import timedelta
from io import BytesIO
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    Direction,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.accounts.permissions import user_can_view_customers
from users.api.imports import (
    QUOTA_RESPONSES,
    STORAGE_RESPONSES,
    SmsCountsSerializer,
    mask_matched_row,
    shows_matched_rows,
)
from users.api.parsers import SafeJSONParser
from users.api.permissions import CanImportCustomers, IsStaffUser
from users.api.renderers import EchoJSONRenderer
from users.api.schema import ErrorSerializer
from users.imports.errors import RefusalCode, ServiceError
from users.imports.rows import TEMPLATE_COLUMNS, Candidate, Field, RowProblem
from users.imports.selectors import import_job_visible_to, import_row_errors
from users.imports.services import (
    ImportPreview,
    customer_bulk_create,
    import_job_create_from_payload,
    import_preview,
)
from users.imports.template import TEMPLATE_FILENAME, XLSX_CONTENT_TYPE, customer_template_xlsx
from users.models import Customer, DuplicatePolicy, ImportJob, ImportStatus
from users.sms.selectors import sms_counts_for_import

RAW_LABELS: dict[Field, str] = dict(TEMPLATE_COLUMNS)
# The status endpoint lists at most this many rejected rows; the job API pages through all of them.
STATUS_MAX_ERRORS = 100
# A row number is stored in a PositiveIntegerField: PostgreSQL's integer holds up to 2**31 - 1.
ROW_MAX = 2**31 - 1
# For the dialog's "about N seconds". The worker wrote 10,000 posted customers at ~2,200 rows/s (SQLite) and
# ~4,200 rows/s (PostgreSQL) on a 2-core dev machine; Render's free tier has a fraction of a CPU, so assume
# 500 rows/s, plus the worker's pick-up delay.
ESTIMATED_ROWS_PER_SECOND = 500
ESTIMATED_START_SECONDS = 2
# A queued job normally starts within a second or two; past this, the status says which command runs the worker.
WORKER_SLOW_START = timedelta(seconds=20)

# The job's statuses as the frontend's poller knows them: QUEUED, RUNNING, COMPLETE or FAILED.
FRONTEND_STATUS: dict[str, str] = {
    ImportStatus.QUEUED: "QUEUED",
    ImportStatus.VALIDATING: "RUNNING",
    ImportStatus.VALIDATED: "RUNNING",  # a dry run's end state is COMPLETE, see frontend_status()
    ImportStatus.RUNNING: "RUNNING",
    ImportStatus.COMPLETE: "COMPLETE",
    ImportStatus.FAILED: "FAILED",
    ImportStatus.CANCELLED: "FAILED",
}


def refusal(description: str) -> OpenApiResponse:
    """An error answer in the schema: the shared envelope, with what it means here."""
    return OpenApiResponse(ErrorSerializer, description=description)


def frontend_status(job: ImportJob) -> str:
    if job.status == ImportStatus.VALIDATED and job.dry_run:
        return "COMPLETE"  # a preview's work ends at VALIDATED: nothing more will happen until it is committed
    return FRONTEND_STATUS[job.status]


def estimated_seconds(rows: int) -> int:
    return ESTIMATED_START_SECONDS + math.ceil(rows / ESTIMATED_ROWS_PER_SECOND)


# --- the upload preview's pieces --------------------------------------------------------------------------------


@extend_schema_serializer(component_name="UploadCandidate")
class CandidateSerializer(serializers.Serializer):
    """A valid row as the dialog shows it and posts it back: as typed, and in the normal form that is stored."""

    source_row_number = serializers.IntegerField(source="row_number")
    shipping_mark = serializers.SerializerMethodField(help_text="As typed in the sheet.")
    shipping_mark_normalized = serializers.CharField(source="shipping_mark")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.SerializerMethodField(help_text="As typed in the sheet.")
    phone_normalized = serializers.CharField(source="phone", help_text="E.164, e.g. +233241234567.")
    region = serializers.CharField(help_text="A Region code, e.g. GREATER_ACCRA.")

    def get_shipping_mark(self, candidate: Candidate) -> str:
        return candidate.raw.get(RAW_LABELS[Field.SHIPPING_MARK]) or candidate.shipping_mark

    def get_phone(self, candidate: Candidate) -> str:
        return candidate.raw.get(RAW_LABELS[Field.PHONE]) or candidate.phone


def raw_candidate(row_number: int, raw: dict[str, str]) -> dict[str, Any]:
    """A row known only as typed (a repeat of an earlier row), in the candidates' keys."""
    return {
        "source_row_number": row_number,
        **{field_.value: raw.get(label, "") for field_, label in TEMPLATE_COLUMNS},
    }


def invalid_rows(problems: Iterable[RowProblem]) -> list[dict[str, Any]]:
    """One entry per rejected row (the validator reports each bad column), its reasons joined in column order."""
    rows: dict[int, list[RowProblem]] = {}
    for problem in problems:
        rows.setdefault(problem.row_number, []).append(problem)
    return [
        {
            "source_row_number": row_number,
            "reason": " ".join(problem.reason for problem in row_problems),
            "raw_data": row_problems[0].raw,
            "errors": [
                {"column": p.column, "value": p.value, "code": str(p.code), "reason": p.reason} for p in row_problems
            ],
        }
        for row_number, row_problems in sorted(rows.items())
    ]


def existing_customer_summary(customer: Customer, *, personal: bool) -> dict[str, Any]:
    """An existing customer an upload row matched: always its id and mark; its name, email and phone only if allowed.

    The keys stay (blank) for everyone, so the dialog reads the same shape.
    """
    return {
        "id": customer.id,
        "shipping_mark": customer.shipping_mark,
        "name": customer.full_name if personal else "",
        "email": customer.email if personal else "",
        "phone": customer.phone if personal else "",
    }


def preview_body(preview: ImportPreview, *, show_existing_details: bool) -> dict[str, Any]:
    """The upload answer in the shape the dialog reads (`parsing_results`, `duplicate_results`, `upload_id`).

    `show_existing_details`: whether the caller may see existing customers' names,
    emails and phones (users.view_customer); without it they still learn which
    rows match which customer, by id and shipping mark.
    """
    unique = CandidateSerializer(preview.candidates, many=True).data
    existing = [
        {
            "candidate": CandidateSerializer(match.candidate).data,
            "reason": match.reason,
            "existing_customers": [
                existing_customer_summary(customer, personal=show_existing_details) for customer in match.customers
            ],
        }
        for match in preview.existing
    ]
    repeated = [
        {
            "candidate": raw_candidate(problem.row_number, problem.raw),
            "reason": problem.reason,
            "duplicate_of_row": problem.duplicate_of_row,
        }
        for problem in preview.in_file_duplicates
    ]
    valid = sorted(
        [*unique, *(entry["candidate"] for entry in existing), *(entry["candidate"] for entry in repeated)],
        key=lambda candidate: candidate["source_row_number"],
    )
    rejected = invalid_rows(preview.invalid)
    message = (
        f"Checked {preview.total_rows:,} rows: {len(unique):,} ready to create, {len(rejected):,} invalid, "
        f"{len(existing):,} already exist, {len(repeated):,} repeat an earlier row."
    )
    if preview.unknown_columns:
        message += f" Ignored columns: {', '.join(preview.unknown_columns)}."
    return {
        "success": True,
        "message": message,
        "parsing_results": {
            "total_rows": preview.total_rows,
            "valid_candidates": len(valid),
            "candidates": valid,
            "invalid_rows": rejected,
        },
        "duplicate_results": {
            "existing_duplicates": existing,
            "batch_duplicates": repeated,
            "unique_candidates": unique,
        },
        "upload_id": str(preview.job.id),
        "unknown_columns": list(preview.unknown_columns),
    }


# What a posted customer's values may be: what a spreadsheet cell holds (text, a number, TRUE/FALSE or nothing).
CELL_VALUE_SCHEMA = {
    "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
    "description": "Text, a number or empty; checked and normalised as a spreadsheet cell would be.",
}
CELL_KEYS = (
    "shipping_mark",
    "shipping_mark_normalized",
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_normalized",
    "region",
)


@extend_schema_field(CELL_VALUE_SCHEMA)
class CellValueField(serializers.Field):
    """Documentation only: the schema of one posted value (CustomerListField checks them)."""


@extend_schema_serializer(component_name="BulkCreateCustomer")
class BulkCreateCustomerSerializer(serializers.Serializer):
    """One posted customer, as the upload's `unique_candidates` has it; other keys are ignored."""

    shipping_mark = CellValueField(required=False)
    shipping_mark_normalized = CellValueField(required=False, help_text="Used when shipping_mark is empty.")
    first_name = CellValueField(required=False)
    last_name = CellValueField(required=False)
    email = CellValueField(required=False)
    phone = CellValueField(required=False)
    phone_normalized = CellValueField(required=False, help_text="Used when phone is empty.")
    region = CellValueField(required=False)
    source_row_number = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=ROW_MAX)


class CustomerListField(serializers.Field):
    """The posted customers: a non-empty list of objects, refused whole past the per-request limit.

    Checked by hand rather than with a nested serializer per item, which would
    cost seconds for 10,000 rows; the engine validates each value as it would a
    spreadsheet cell, so here only the shape is checked: the customer fields are
    scalars without NUL characters (PostgreSQL refuses them in text), and row
    numbers fit the job's records. Other keys are ignored, as the old API did.
    The limit is checked before any item is looked at.
    """

    default_error_messages = {  # noqa: RUF012 - DRF's own convention
        "not_a_list": "Expected a list of customers, got {kind}.",
        "empty": "The list is empty: send at least one customer.",
        "not_an_object": "Item {index} is not an object.",
        "nested": "Item {index}: {name} must be text, a number or null.",
        "nul": "Item {index}: {name} contains a NUL character.",
        "row_number": "Item {index}: source_row_number must be a whole number from 1 to {max:,}.",
    }

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list", kind=type(data).__name__)
        if not data:
            self.fail("empty")
        limit = settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST
        if len(data) > limit:
            raise ServiceError(
                RefusalCode.TOO_MANY_CUSTOMERS,
                f"At most {limit:,} customers can be sent in one request; this one has {len(data):,}. "
                "Split them, or upload the spreadsheet to the job API (POST /api/imports/).",
            )
        for index, item in enumerate(data, start=1):
            self._check_item(index, item)
        return data

    def _check_item(self, index: int, item: Any) -> None:
        if not isinstance(item, dict):
            self.fail("not_an_object", index=index)
        for key in CELL_KEYS:
            value = item.get(key)
            if value is not None and not isinstance(value, str | int | float | bool):
                self.fail("nested", index=index, name=key)
            if isinstance(value, str) and "\x00" in value:
                self.fail("nul", index=index, name=key)
        row_number = item.get("source_row_number")
        if isinstance(row_number, float) and row_number.is_integer():
            row_number = item["source_row_number"] = int(row_number)  # JSON has one number type: 2.0 is row 2
        if row_number is not None and (
            isinstance(row_number, bool) or not isinstance(row_number, int) or not 1 <= row_number <= ROW_MAX
        ):
            self.fail("row_number", index=index, max=ROW_MAX)

    def to_representation(self, value: Any) -> Any:
        return value


class CustomerListFieldSchema(OpenApiSerializerFieldExtension):
    """How the schema shows CustomerListField: an array of BulkCreateCustomer, 1 to the per-request limit."""

    target_class = CustomerListField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        component = auto_schema.resolve_serializer(BulkCreateCustomerSerializer, direction)
        return {
            "type": "array",
            "items": component.ref,
            "minItems": 1,
            "maxItems": settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST,
        }


@extend_schema_serializer(component_name="BulkCreateInput")
class BulkCreateInputSerializer(serializers.Serializer):
    customers = CustomerListField(
        help_text="Objects with shipping_mark, first_name, last_name, email, phone, region and source_row_number, "
        "as the upload's unique_candidates has them; other keys are ignored."
    )


class JsonBooleanField(serializers.BooleanField):
    """true or false, as JSON writes them; not DRF's form-friendly "yes", 1 or "on", which the schema can't promise."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


@extend_schema_serializer(component_name="BulkCreateAsyncInput")
class BulkCreateAsyncInputSerializer(BulkCreateInputSerializer):
    send_sms = JsonBooleanField(
        default=False,
        help_text="Text each created customer a welcome message (when SMS is configured); "
        "needs users.send_welcome_sms. The frontend leaves it out, so its flow needs no more than importing.",
    )


# --- views ------------------------------------------------------------------------------------------------------


class ExcelUploadApi(APIView):
    """POST /api/auth/customers/excel/upload/: check a spreadsheet and say what importing it would do."""

    permission_classes = (CanImportCustomers,)
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema_serializer(component_name="ExcelUploadInput")
    class InputSerializer(serializers.Serializer):
        # Empty files pass here so the engine refuses them with its own code and sentence.
        file = serializers.FileField(allow_empty_file=True, help_text=".xlsx, .xlsm, .xls, .ods or .csv")
        on_duplicate = serializers.ChoiceField(
            choices=DuplicatePolicy.choices,
            default=DuplicatePolicy.SKIP,
            help_text="`update` needs users.change_customer.",
        )

    @extend_schema(
        operation_id="frontend_excel_upload",
        summary="Preview a customer spreadsheet",
        request={"multipart/form-data": InputSerializer},
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="parsing_results, duplicate_results, upload_id. An existing customer's name, email "
                "and phone are blank unless you have users.view_customer.",
            ),
            400: refusal("No file, not a spreadsheet, damaged, or a required column missing."),
            401: refusal("Not signed in."),
            403: refusal(
                "Not active staff with users.add_customer, or on_duplicate=update without users.change_customer."
            ),
            413: refusal("Over the upload size limit, or more rows than the inline limit (use the job API)."),
            415: refusal("Not multipart/form-data."),
            **QUOTA_RESPONSES,
            **STORAGE_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        preview = import_preview(
            user=request.user,
            uploaded_file=payload.validated_data["file"],
            on_duplicate=payload.validated_data["on_duplicate"],
        )
        return Response(preview_body(preview, show_existing_details=user_can_view_customers(request.user)))


@extend_schema_serializer(component_name="BulkCreateCreated")
class CreatedCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="customer.id")
    shipping_mark = serializers.CharField(source="customer.shipping_mark")
    name = serializers.CharField(source="customer.full_name")
    email = serializers.CharField(source="customer.email")
    phone = serializers.CharField(source="customer.phone")
    source_row_number = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="BulkCreateFailed")
class FailedCustomerSerializer(serializers.Serializer):
    customer_data = serializers.DictField()
    error = serializers.CharField()
    source_row_number = serializers.IntegerField(allow_null=True)


class BulkCreateApi(APIView):
    """POST /api/auth/customers/excel/bulk-create/: create the posted customers while the client waits."""

    permission_classes = (CanImportCustomers,)
    parser_classes = (SafeJSONParser,)
    # The answer repeats every rejected customer as posted: escaped, it costs a third of the memory to render.
    renderer_classes = (EchoJSONRenderer,)

    @extend_schema_serializer(component_name="BulkCreateOutput")
    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField()
        code = serializers.CharField(required=False, help_text="`nothing_created` on a 400.")
        message = serializers.CharField()
        # Both lists are always present, even empty: the dialog reads their lengths unguarded.
        created_customers = CreatedCustomerSerializer(many=True)
        failed_customers = FailedCustomerSerializer(many=True)
        total_attempted = serializers.IntegerField()
        total_created = serializers.IntegerField()
        total_failed = serializers.IntegerField()
        import_id = serializers.UUIDField(help_text="The import job that recorded this run.")

    @extend_schema(
        operation_id="frontend_bulk_create",
        summary="Create customers now",
        request=BulkCreateInputSerializer,
        responses={
            201: OutputSerializer,
            400: refusal(
                "Nothing could be created (`code` nothing_created; the body also has both lists and the totals), "
                "or the list is empty, malformed or longer than the per-request limit, or the body holds more "
                "arrays, objects or values than that many customers need (`json_too_complex`)."
            ),
            401: refusal("Not signed in."),
            403: refusal("Not active staff with users.add_customer."),
            413: refusal("The body is over IMPORT_MAX_JSON_BODY_SIZE (6 MB by default)."),
            415: refusal("Not application/json."),
        },
    )
    def post(self, request: Request) -> Response:
        payload = BulkCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customers = payload.validated_data["customers"]
        result = customer_bulk_create(user=request.user, customers=customers)
        created, failed = len(result.created), len(result.failed)
        outcome: dict[str, Any] = {
            "success": created > 0,
            "message": f"Created {created:,} customers; {failed:,} could not be created.",
            "created_customers": result.created,
            "failed_customers": result.failed,
            "total_attempted": len(customers),
            "total_created": created,
            "total_failed": failed,
            "import_id": result.job.id,
        }
        if not created:
            # A 400 in the shared error envelope (success, code, message) that still carries both lists.
            outcome["code"] = "nothing_created"
            outcome["message"] = "No customers could be created: failed_customers gives each row's reason."
        return Response(
            self.OutputSerializer(outcome).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_400_BAD_REQUEST,
        )


class BulkCreateAsyncApi(APIView):
    """POST /api/auth/customers/excel/bulk-create-async/: queue the posted customers for the task worker."""

    permission_classes = (CanImportCustomers,)
    parser_classes = (SafeJSONParser,)

    @extend_schema_serializer(component_name="BulkCreateAsyncOutput")
    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField()
        message = serializers.CharField()
        task_id = serializers.UUIDField(help_text="Poll /api/auth/customers/excel/bulk-create/status/<task_id>/.")
        total_customers = serializers.IntegerField()
        estimated_time_seconds = serializers.IntegerField()
        status = serializers.CharField(help_text="Always QUEUED.")

    @extend_schema(
        operation_id="frontend_bulk_create_async",
        summary="Create customers in the background",
        request=BulkCreateAsyncInputSerializer,
        responses={
            202: OutputSerializer,
            400: refusal(
                "The list is empty, malformed or longer than the per-request limit, or the body holds more arrays, "
                "objects or values than that many customers need (`json_too_complex`)."
            ),
            401: refusal("Not signed in."),
            403: refusal("Not active staff with users.add_customer, or send_sms without users.send_welcome_sms."),
            413: refusal("The body is over IMPORT_MAX_JSON_BODY_SIZE (6 MB by default)."),
            415: refusal("Not application/json."),
            **QUOTA_RESPONSES,
            **STORAGE_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        payload = BulkCreateAsyncInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customers = payload.validated_data["customers"]
        job = import_job_create_from_payload(
            user=request.user, customers=customers, send_sms=payload.validated_data["send_sms"]
        )
        body = {
            "success": True,
            "message": f"{len(customers):,} customers queued; poll the status URL for progress.",
            "task_id": job.id,
            "total_customers": len(customers),
            "estimated_time_seconds": estimated_seconds(len(customers)),
            "status": "QUEUED",
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


def visible_job(*, user: Any, task_id: str) -> ImportJob:
    """The job behind a task id if `user` may see it; else a 404 or, for someone else's job, a 403."""
    try:
        job_id = uuid.UUID(task_id)
    except ValueError:
        job_id = None
    job = import_job_visible_to(user=user, job_id=job_id)
    if job is not None:
        return job
    if job_id and ImportJob.objects.filter(id=job_id).exists():
        raise ServiceError(
            RefusalCode.FORBIDDEN,
            "This task belongs to another user.",
            extra={"status": "FORBIDDEN", "task_id": task_id},
        )
    raise ServiceError(
        RefusalCode.NOT_FOUND,
        "No task with this id.",
        extra={"status": "NOT_FOUND", "task_id": task_id},
    )


def status_message(job: ImportJob, shown: str) -> str:
    if shown == "QUEUED":
        if timezone.now() - job.updated_at > WORKER_SLOW_START:
            return (
                "Still waiting for the background worker: the task worker may not be running. "
                "Start it with `python manage.py run_worker` (`make run` starts it); the customers are safe until then."
            )
        return "Waiting for the worker to start."
    if shown == "RUNNING":
        return f"Processed {job.processed_rows:,} of {job.total_rows:,} customers."
    if job.status == ImportStatus.CANCELLED:
        return "The import was cancelled."
    if shown == "FAILED":
        return job.error_message or "The import failed."
    if job.dry_run:
        return f"Checked {job.total_rows:,} rows; nothing was created."
    not_created = job.failed_count + job.skipped_count
    return f"Created {job.created_count:,} customers; {not_created:,} were not created."


class BulkCreateStatusApi(APIView):
    """GET /api/auth/customers/excel/bulk-create/status/<task_id>/: how a background run is doing.

    It needs what queueing the run needed (active staff with users.add_customer),
    so the frontend keeps polling as the user who queued it; a signed-in account
    without it gets the same 403 body as another user's task, `status` FORBIDDEN.
    """

    permission_classes = (CanImportCustomers,)

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> None:
        if request.authenticators and not request.successful_authenticator:
            super().permission_denied(request, message=message, code=code)  # 401, as everywhere
        raise ServiceError(
            RefusalCode.PERMISSION_DENIED,
            message or CanImportCustomers.message,
            extra={"status": "FORBIDDEN", "task_id": self.kwargs.get("task_id", "")},
        )

    @extend_schema_serializer(component_name="BulkCreateStatusError")
    class ErrorSerializer(serializers.Serializer):
        source_row_number = serializers.IntegerField(source="row_number")
        column = serializers.CharField()
        value = serializers.CharField()
        code = serializers.CharField()
        error = serializers.CharField(source="reason")
        outcome = serializers.CharField()

    @extend_schema_serializer(component_name="BulkCreateStatus")
    class OutputSerializer(serializers.Serializer):
        task_id = serializers.UUIDField(source="id")
        status = serializers.SerializerMethodField(help_text="QUEUED, RUNNING, COMPLETE or FAILED.")
        job_status = serializers.CharField(source="status", help_text="The import job's own, finer status.")
        success = serializers.SerializerMethodField()
        message = serializers.SerializerMethodField()
        created = serializers.IntegerField(source="created_count")
        updated = serializers.IntegerField(source="updated_count")
        failed = serializers.SerializerMethodField(help_text="Rows not created: rejected, or skipped as existing.")
        skipped = serializers.IntegerField(source="skipped_count")
        total_customers = serializers.IntegerField(source="total_rows")
        processed = serializers.IntegerField(source="processed_rows")
        progress_percent = serializers.FloatField()
        errors = serializers.SerializerMethodField(help_text=f"The first {STATUS_MAX_ERRORS} rows not created.")
        error = serializers.CharField(source="error_message")
        sms = serializers.SerializerMethodField(help_text="Welcome-text counts when the job sends them, else null.")
        updated_at = serializers.DateTimeField()
        is_complete = serializers.SerializerMethodField()
        is_failed = serializers.SerializerMethodField()

        def get_status(self, job: ImportJob) -> str:
            return frontend_status(job)

        def get_success(self, job: ImportJob) -> bool:
            return frontend_status(job) != "FAILED"

        def get_message(self, job: ImportJob) -> str:
            return status_message(job, frontend_status(job))

        def get_failed(self, job: ImportJob) -> int:
            return job.failed_count + job.skipped_count

        def get_errors(self, job: ImportJob) -> list[dict[str, Any]]:
            rows = BulkCreateStatusApi.ErrorSerializer(import_row_errors(job=job)[:STATUS_MAX_ERRORS], many=True).data
            if self.context.get("mask_matched_rows"):
                return [mask_matched_row(row) for row in rows]
            return rows

        @extend_schema_field(SmsCountsSerializer(allow_null=True))
        def get_sms(self, job: ImportJob) -> dict[str, Any] | None:
            if not job.send_sms:
                return None
            return SmsCountsSerializer(sms_counts_for_import(job_id=job.id)).data

        def get_is_complete(self, job: ImportJob) -> bool:
            return frontend_status(job) == "COMPLETE"

        def get_is_failed(self, job: ImportJob) -> bool:
            return frontend_status(job) == "FAILED"

    @extend_schema(
        operation_id="frontend_bulk_create_status",
        summary="Progress of a background run",
        responses={
            200: OutputSerializer,
            401: refusal("Not signed in."),
            403: refusal("Another user's task, or not active staff with users.add_customer: `status` is FORBIDDEN."),
            404: refusal("No such task: `status` is NOT_FOUND."),
        },
    )
    def get(self, request: Request, task_id: str) -> Response:
        job = visible_job(user=request.user, task_id=task_id)
        context = {"mask_matched_rows": not shows_matched_rows(user=request.user, job=job)}
        return Response(self.OutputSerializer(job, context=context).data)


class ExcelTemplateApi(APIView):
    """GET /api/auth/customers/excel/template/: the .xlsx template with sample rows and instructions."""

    permission_classes = (IsStaffUser,)

    @extend_schema(
        operation_id="frontend_excel_template",
        summary="Download the upload template",
        responses={
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="the template"),
            401: refusal("Not signed in."),
            403: refusal("Not active staff."),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        out = BytesIO()
        customer_template_xlsx(out=out)
        response = HttpResponse(out.getvalue(), content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{TEMPLATE_FILENAME}"'
        response["Cache-Control"] = "no-store"
        return response
