"""The job API: import a spreadsheet of any size in the background, follow it, commit, cancel, fetch its errors.

Each view parses its input, calls one service or selector
and serialises the answer; the engine in users/imports/ does the work. A job
another user owns answers 404, not 403, so job ids don't leak;
one you may see but don't own can be followed, not committed or cancelled (403,
users/api/permissions.py). Row errors that point at existing customers show the
row's names, email and phone only to the job's owner (who typed them) and to
users who may view customers.
"""

import io
import logging
import tempfile
import uuid
from pathlib import PurePath
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users.accounts.permissions import user_can_view_customers, user_owns_import
from users.api.checkstep import (
    FIELD_CHOICES,
    AuditEntrySerializer,
    RememberedColumnsSerializer,
    RowFieldSerializer,
    SheetColumnSerializer,
    sheet_columns,
    sheet_row_fields,
)
from users.api.permissions import CanImportCustomers, IsStaffUser
from users.api.schema import ErrorSerializer, PagePagination, error_responses, paginated_response
from users.imports.columns import import_job_choose_columns, job_columns_message
from users.imports.corrections import import_audit_trail
from users.imports.errors import RefusalCode, ServiceError
from users.imports.report import error_report_csv, error_report_xlsx
from users.imports.selectors import import_history_visible_to, import_job_visible_to, import_row_errors
from users.imports.services import import_job_cancel, import_job_commit, import_job_create
from users.imports.template import XLSX_CONTENT_TYPE
from users.imports.undo import import_job_undo, import_undo_preview, job_undo
from users.models import (
    DuplicatePolicy,
    ImportAuditEntry,
    ImportJob,
    ImportSource,
    ImportStatus,
    RowErrorCode,
    RowOutcome,
    User,
)
from users.sms.selectors import SmsCounts, sms_counts_for_import

logger = logging.getLogger(__name__)

# The detail view is polled every second by the page; 20 rows are enough to show
# what is wrong, and the full list is one click away at errors/.
FIRST_ERRORS_LIMIT = 20

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
DOWNLOAD_CHUNK_BYTES = 64 * 1024


# Refusals the shared table in users/api/schema.py doesn't describe: the quotas (services.import_quota_check).
QUOTA_RESPONSES = {
    429: OpenApiResponse(
        ErrorSerializer,
        description="You already have IMPORT_MAX_ACTIVE_JOBS_PER_USER imports waiting or running "
        "(`too_many_active_imports`): wait for one to finish, or cancel one.",
    ),
}
STORAGE_RESPONSES = {
    507: OpenApiResponse(
        ErrorSerializer,
        description="The server's space for uploaded files (IMPORT_MAX_STORED_BYTES) is full (`storage_full`); "
        "it frees itself as old uploads are deleted.",
    ),
}

# The columns of a row error's `raw_data` (the template's layout) that hold a person's details.
PERSONAL_LABELS = ("First Name", "Last Name", "Email", "Phone Number")
# Row errors about an existing customer: their `value` is the customer's matching phone, email or mark.
EXISTING_CUSTOMER_CODES = frozenset({RowErrorCode.ALREADY_EXISTS, RowErrorCode.CONFLICT})


def shows_matched_rows(*, user: User, job: ImportJob) -> bool:
    """Whether `user` sees the personal details of this job's rows that matched existing customers.

    The owner typed them, so showing them back reveals nothing; anyone else
    (staff who may see every job) needs the permission to view customers.
    """
    return user_owns_import(user, job.created_by_id) or user_can_view_customers(user)


def mask_matched_row(row: dict[str, Any]) -> dict[str, Any]:
    """A serialised row error with an existing customer's details blanked, when it points at one.

    The keys stay, so clients read the same shape; the reason names the customer
    by id and shipping mark only, and existing_customer_id is kept.
    """
    if row.get("code") not in EXISTING_CUSTOMER_CODES:
        return row
    masked = {**row, "value": ""}
    if isinstance(row.get("raw_data"), dict):
        masked["raw_data"] = {
            label: ("" if label in PERSONAL_LABELS else value) for label, value in row["raw_data"].items()
        }
    return masked


def _visible_job(*, user: User, job_id: uuid.UUID) -> ImportJob:
    """The job if `user` may see it, in one query; 404 otherwise (another user's job included)."""
    job = import_job_visible_to(user=user, job_id=job_id)
    if job is None:
        raise Http404("No such import job.")
    return job


def _sms_counts(*, job: ImportJob) -> SmsCounts | None:
    """Welcome-text counts for a job that asked for texts, in one query; None (and no query) otherwise."""
    return sms_counts_for_import(job_id=job.id) if job.send_sms else None


@extend_schema_serializer(component_name="ImportJobSmsCounts")
class SmsCountsSerializer(serializers.Serializer):
    """How the job's welcome texts stand."""

    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    skipped = serializers.IntegerField()
    refused = serializers.IntegerField(help_text="Never sent: refused_country + refused_daily_limit (docs/sms.md).")
    refused_country = serializers.IntegerField(help_text="The number's country is not in SMS_ALLOWED_COUNTRIES.")
    refused_daily_limit = serializers.IntegerField(help_text="The service had sent SMS_DAILY_LIMIT texts that day.")
    pending = serializers.IntegerField(help_text="Queued, waiting for a retry, or in flight.")
    total = serializers.IntegerField()
    disabled = serializers.BooleanField(help_text="True when this server has no SMS backend configured.")


class FormBooleanField(serializers.BooleanField):
    """`true` or `false` (any case), as the schema says; DRF's default would also take `1`, `on`, `y` ...

    A form field is text on the wire: keeping to the two spellings the schema
    documents means a client's typo or a wrong type is a 400, not a silent guess.
    """

    TRUE_VALUES = {"true", True}
    FALSE_VALUES = {"false", False}


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class UploadField(serializers.FileField):
    """A non-empty uploaded file (the schema says so too: an empty part is a 400)."""


@extend_schema_serializer(component_name="ImportJobLinks")
class ImportJobLinksSerializer(serializers.Serializer):
    detail = serializers.CharField()
    commit = serializers.CharField()
    cancel = serializers.CharField()
    errors = serializers.CharField()
    errors_xlsx = serializers.CharField()
    errors_csv = serializers.CharField()
    rows = serializers.CharField(help_text="The rows to correct on the Check step, paged.")
    audit = serializers.CharField(help_text="What was changed before the commit: columns chosen, rows corrected.")
    undo = serializers.CharField(help_text="GET: what undoing the import would do; POST: undo it.")


@extend_schema_serializer(component_name="ImportUndo")
class ImportUndoSerializer(serializers.Serializer):
    """An import's undo: who asked for it, when, how far it is, and what it did."""

    id = serializers.UUIDField(help_text="The undo's own job: follow it at /api/imports/{id}/, cancel it there.")
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    progress_percent = serializers.FloatField()
    cancel_requested = serializers.BooleanField()
    undone_by = serializers.IntegerField(source="created_by_id", allow_null=True, help_text="The user's id.")
    undone_by_name = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField(source="created_at")
    finished_at = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField(source="total_rows", help_text="Creates and updates to take back.")
    processed = serializers.IntegerField(source="processed_rows")
    deleted = serializers.IntegerField(source="deleted_count", help_text="Created customers deleted.")
    restored = serializers.IntegerField(source="restored_count", help_text="Updates taken back.")
    kept_changed_since = serializers.IntegerField(
        source="kept_changed_count", help_text="Customers changed after the import: left as they are."
    )
    kept_referenced = serializers.IntegerField(
        source="kept_referenced_count", help_text="Created customers other data refers to: kept."
    )
    error_message = serializers.CharField()

    @extend_schema_field(serializers.CharField())
    def get_undone_by_name(self, undo: ImportJob) -> str:
        user = undo.created_by
        return (user.get_full_name() or user.get_username()) if user else ""


@extend_schema_serializer(component_name="ImportJob")
class ImportJobSerializer(serializers.Serializer):
    """A job's state, counts and progress: what every job endpoint answers."""

    # Fields are declared, not introspected (no ModelSerializer): the detail view is polled every second by
    # every open import page, and a ModelSerializer rebuilds its fields from the model on every request.
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ImportStatus.choices)
    source = serializers.ChoiceField(choices=ImportSource.choices)
    original_filename = serializers.CharField()
    file_size = serializers.IntegerField(help_text="Bytes.")
    detected_format = serializers.CharField(help_text="xlsx, xls, csv … once the worker has opened the file.")
    on_duplicate = serializers.ChoiceField(choices=DuplicatePolicy.choices)
    sheet_name = serializers.CharField()
    dry_run = serializers.BooleanField()
    send_sms = serializers.BooleanField()
    cancel_requested = serializers.BooleanField()
    total_rows = serializers.IntegerField(help_text="Data rows in the file (the header is not counted).")
    valid_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    created_count = serializers.IntegerField()
    updated_count = serializers.IntegerField()
    skipped_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    duplicates_in_file = serializers.IntegerField()
    existing_matches = serializers.IntegerField()
    progress_percent = serializers.FloatField(help_text="0–100; 100 once COMPLETE.")
    rows_per_second = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Null until the rate is known.")
    unknown_columns = serializers.ListField(child=serializers.CharField())
    error_code = serializers.CharField(help_text="Why the whole job FAILED (a FileErrorCode); empty otherwise.")
    error_message = serializers.CharField()
    is_finished = serializers.BooleanField(help_text="COMPLETE, FAILED or CANCELLED.")
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    links = serializers.SerializerMethodField()
    # The Check step: the sheet's columns and how each was matched, and rows corrected (users/imports/columns.py,
    # corrections.py). Read from the job's own row: the detail view's two queries stay two.
    column_map = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="The columns chosen on the Check step (PATCH this job): letter → field, or \"\" to ignore it.",
    )
    columns = serializers.SerializerMethodField()
    missing_fields = serializers.SerializerMethodField()
    columns_message = serializers.SerializerMethodField()
    remembered_columns = serializers.SerializerMethodField()
    row_fields = serializers.SerializerMethodField()
    corrected_rows = serializers.IntegerField(help_text="Rejected rows corrected on the Check step.")
    # Undo (users/imports/undo.py): an import's undo, if one was asked for; on an undo job itself, what it undoes
    # and its counts. Read with the job (select_related): no query of its own.
    undo = serializers.SerializerMethodField()
    undoes = serializers.UUIDField(source="undoes_id", allow_null=True, help_text="On an undo: the import it undoes.")
    deleted_count = serializers.IntegerField(help_text="On an undo: created customers deleted.")
    restored_count = serializers.IntegerField(help_text="On an undo: updates taken back.")
    kept_changed_count = serializers.IntegerField(help_text="On an undo: customers changed since, kept.")
    kept_referenced_count = serializers.IntegerField(help_text="On an undo: customers other data refers to, kept.")

    @extend_schema_field(ImportUndoSerializer(allow_null=True))
    def get_undo(self, job: ImportJob) -> dict[str, Any] | None:
        undo = job_undo(job)
        return None if undo is None else ImportUndoSerializer(undo).data

    @extend_schema_field(ImportJobLinksSerializer)
    def get_links(self, job: ImportJob) -> dict[str, str]:
        detail = reverse("import-job-detail", kwargs={"job_id": job.id})
        return {
            "detail": detail,
            "commit": f"{detail}commit/",
            "cancel": f"{detail}cancel/",
            "errors": f"{detail}errors/",
            "errors_xlsx": f"{detail}errors.xlsx",
            "errors_csv": f"{detail}errors.csv",
            "rows": f"{detail}rows/",
            "audit": f"{detail}audit/",
            "undo": f"{detail}undo/",
        }

    @extend_schema_field(SheetColumnSerializer(many=True))
    def get_columns(self, job: ImportJob) -> list[dict[str, Any]]:
        return sheet_columns(job)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=FIELD_CHOICES)))
    def get_missing_fields(self, job: ImportJob) -> list[str]:
        return list((job.sheet_layout or {}).get("missing", []))

    @extend_schema_field(serializers.CharField())
    def get_columns_message(self, job: ImportJob) -> str:
        return job_columns_message(job)

    @extend_schema_field(RememberedColumnsSerializer(allow_null=True))
    def get_remembered_columns(self, job: ImportJob) -> dict[str, str] | None:
        return (job.sheet_layout or {}).get("remembered")

    @extend_schema_field(RowFieldSerializer(many=True))
    def get_row_fields(self, job: ImportJob) -> list[dict[str, str]]:
        return sheet_row_fields(job)


@extend_schema_serializer(component_name="ImportRowError")
class ImportRowErrorSerializer(serializers.Serializer):
    """Why one source row was not created (FAILED) or was left alone (SKIPPED).

    With `mask_matched_rows` in its context, a row that matched an existing
    customer has its value (and raw row's names, email and phone) blanked.
    """

    row_number = serializers.IntegerField(help_text="As Excel numbers it: the header is row 1.")
    outcome = serializers.ChoiceField(choices=RowOutcome.choices)
    column = serializers.CharField(help_text="The column at fault, as the sheet's header names it.")
    value = serializers.CharField(
        help_text="The cell at fault; blank for a row matching an existing customer unless you own the job "
        "or may view customers."
    )
    code = serializers.ChoiceField(choices=RowErrorCode.choices)
    reason = serializers.CharField(help_text="A sentence; an existing customer is named by id and shipping mark only.")
    duplicate_of_row = serializers.IntegerField(allow_null=True)
    existing_customer_id = serializers.IntegerField(allow_null=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        row = super().to_representation(instance)
        return mask_matched_row(row) if self.context.get("mask_matched_rows") else row


class _JobReadApi(APIView):
    """Reading a job needs active staff; which jobs they see is the selector's business."""

    permission_classes = [IsStaffUser]


class _JobWriteApi(APIView):
    """Changing a job needs what uploading needs: active staff with users.add_customer."""

    permission_classes = [CanImportCustomers]


class ImportJobListCreateApi(APIView):
    """POST: start a background import of an uploaded file. GET: the jobs you may see, newest first."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="ImportJobCreate")
    class InputSerializer(serializers.Serializer):
        file = UploadField(help_text=".xlsx, .xls or .csv in the template's layout; up to the upload limit.")
        on_duplicate = serializers.ChoiceField(
            choices=DuplicatePolicy.choices,
            default=DuplicatePolicy.SKIP,
            help_text="What to do with a row that matches an existing customer.",
        )
        dry_run = FormBooleanField(
            default=False, help_text="Validate only and stop at VALIDATED; POST commit/ to write."
        )
        send_sms = FormBooleanField(default=False, help_text="Text each created customer a welcome message.")
        sheet_name = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=255, help_text="Default: the first sheet."
        )

    pagination_class = PagePagination

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [CanImportCustomers()]
        return [IsStaffUser()]

    @extend_schema(
        operation_id="imports_create",
        summary="Upload a spreadsheet and start an import job",
        description=(
            "Stores the file and queues a background job; answers 202 at once. Poll the job's `links.detail`. "
            "With `dry_run`, the job stops at VALIDATED so you can review its errors, then POST `commit/`. "
            "`on_duplicate=update` needs users.change_customer and `send_sms` needs users.send_welcome_sms "
            "(403 otherwise)."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={
            202: ImportJobSerializer,
            **error_responses(400, 401, 403, 413, 415),
            **QUOTA_RESPONSES,
            **STORAGE_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = import_job_create(
            user=request.user, uploaded_file=serializer.validated_data.pop("file"), **serializer.validated_data
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="imports_list",
        summary="List import jobs",
        description="Your own jobs; staff with users.view_all_importjobs (and superusers) see everyone's. An undo "
        "is not listed: it shows as the `undo` of the import it undoes.",
        responses={200: ImportJobSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        jobs: QuerySet[ImportJob] = import_history_visible_to(user=request.user).order_by("-created_at", "-id")
        return paginated_response(queryset=jobs, serializer_class=ImportJobSerializer, request=request, view=self)


class ImportJobDetailApi(_JobReadApi):
    """A job's status, counts, progress, speed, ETA and first errors: cheap enough to poll every second.

    PATCH chooses the sheet's columns on the Check step (`column_map`) and checks the file again with them.
    """

    @extend_schema_serializer(component_name="ImportJobDetail")
    class OutputSerializer(ImportJobSerializer):
        first_errors = serializers.SerializerMethodField()
        sms = serializers.SerializerMethodField()
        audit_trail = serializers.SerializerMethodField()

        @extend_schema_field(AuditEntrySerializer(many=True))
        def get_audit_trail(self, job: ImportJob) -> list[dict[str, Any]]:
            return AuditEntrySerializer(self.context["audit_trail"], many=True, context=self.context).data

        @extend_schema_field(ImportRowErrorSerializer(many=True))
        def get_first_errors(self, job: ImportJob) -> list[dict[str, Any]]:
            return ImportRowErrorSerializer(self.context["first_errors"], many=True, context=self.context).data

        @extend_schema_field(SmsCountsSerializer(allow_null=True))
        def get_sms(self, job: ImportJob) -> dict[str, Any] | None:
            counts = self.context["sms"]
            return None if counts is None else SmsCountsSerializer(counts).data

    @extend_schema(
        operation_id="imports_retrieve",
        summary="Follow an import job",
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        first_errors = list(import_row_errors(job=job)[:FIRST_ERRORS_LIMIT])
        context = {
            "first_errors": first_errors,
            "sms": _sms_counts(job=job),
            "audit_trail": _audit_trail(job=job),
            "mask_matched_rows": not shows_matched_rows(user=request.user, job=job),
        }
        return Response(self.OutputSerializer(job, context=context).data)

    @extend_schema_serializer(component_name="ImportColumnChoice")
    class InputSerializer(serializers.Serializer):
        column_map = serializers.DictField(
            child=serializers.CharField(allow_blank=True, allow_null=True, max_length=32),
            help_text='Column letter → the field it holds ("shipping_mark", "full_name", "first_name", "last_name", '
            '"email", "phone", "region"), or "" to ignore it. Columns not named keep their field; without any, '
            "nothing changes.",
        )

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "PATCH":
            return [CanImportCustomers()]
        return [IsStaffUser()]

    @extend_schema(
        operation_id="imports_partial_update",
        summary="Choose a checked job's columns",
        description="For a dry run waiting at VALIDATED: check the file again with these columns, no new upload "
        "(202, the job queued again). The choice is remembered for sheets with the same header row, and recorded in "
        "the job's audit trail; rows corrected before are dropped, since the file is checked from the top. Only "
        "the job's owner may (403).",
        request=InputSerializer,
        responses={
            200: OpenApiResponse(ImportJobSerializer, description="Nothing was chosen: the job as it is."),
            202: ImportJobSerializer,
            **error_responses(400, 401, 403, 404, 409),
            **QUOTA_RESPONSES,
        },
    )
    def patch(self, request: Request, job_id: uuid.UUID) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        serializer = self.InputSerializer(data=request.data, partial=True)  # PATCH: what isn't sent doesn't change
        serializer.is_valid(raise_exception=True)
        column_map = serializer.validated_data.get("column_map") or {}
        job = import_job_choose_columns(job=job, user=request.user, column_map=column_map)
        answer = status.HTTP_202_ACCEPTED if column_map else status.HTTP_200_OK  # queued again, or left as it was
        return Response(ImportJobSerializer(job).data, status=answer)


# Entries of the audit trail the detail view shows; the full trail is paged at audit/.
AUDIT_TRAIL_LIMIT = 20


def _audit_trail(*, job: ImportJob) -> list[ImportAuditEntry]:
    """The newest entries of the job's audit trail; no query for a job nothing was changed on (most of them)."""
    if not (job.corrected_rows or job.column_map):
        return []
    return list(import_audit_trail(job=job)[:AUDIT_TRAIL_LIMIT])


class ImportJobCommitApi(_JobWriteApi):
    """Write a validated dry run's customers: VALIDATED → QUEUED."""

    @extend_schema(
        operation_id="imports_commit",
        summary="Commit a validated dry run",
        description="Only the job's owner may commit it (403 for anyone else who can see it).",
        request=None,
        responses={202: ImportJobSerializer, **error_responses(401, 403, 404, 409), **QUOTA_RESPONSES},
    )
    def post(self, request: Request, job_id: uuid.UUID) -> Response:
        job = import_job_commit(job=_visible_job(user=request.user, job_id=job_id), user=request.user)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobCancelApi(_JobWriteApi):
    """Stop a job: at once if it isn't running, else at its next batch boundary (what's committed stays)."""

    @extend_schema(
        operation_id="imports_cancel",
        summary="Cancel an import job",
        description="The job's owner may cancel it, and a superuser may cancel any (403 for anyone else).",
        request=None,
        responses={202: ImportJobSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: uuid.UUID) -> Response:
        job = import_job_cancel(job=_visible_job(user=request.user, job_id=job_id), user=request.user)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobUndoApi(_JobReadApi):
    """Undo an import: delete the customers it created, give the ones it updated their previous values back.

    GET says what that would do (for the confirmation) and whether you may;
    POST queues the undo, a job of its own that the import's `undo` follows.
    """

    @extend_schema_serializer(component_name="ImportUndoPreview")
    class PreviewSerializer(serializers.Serializer):
        to_delete = serializers.IntegerField(help_text="Created customers still there and unchanged: to be deleted.")
        to_restore = serializers.IntegerField(help_text="Updates the import made: to be taken back.")
        changed_since = serializers.IntegerField(help_text="Created customers changed since the import: to be kept.")
        texts_sent = serializers.IntegerField(help_text="Welcome texts that went out: they can't be unsent.")
        allowed = serializers.BooleanField(help_text="Whether you may undo it now; if not, `code` and `message` say.")
        code = serializers.CharField(source="refusal_code")
        message = serializers.CharField(source="refusal_message")

    @extend_schema(
        operation_id="imports_undo_preview",
        summary="What undoing an import would do",
        responses={200: PreviewSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        preview = import_undo_preview(job=_visible_job(user=request.user, job_id=job_id), user=request.user)
        return Response(self.PreviewSerializer(preview).data)

    @extend_schema(
        operation_id="imports_undo",
        summary="Undo an import",
        description="Queues the undo and answers 202 with the undo's job; the import's `undo` shows its progress. "
        "Needs users.delete_customer and users.change_customer (403). 409: not an import that ended and wrote "
        "customers (`not_undoable`), ended more than IMPORT_UNDO_DAYS ago (`undo_expired`), undone already "
        "(`already_undone`) or being undone (`undo_in_progress`), or another import touching the same customers "
        "is on its way (`customers_busy`). A cancelled or failed undo may be asked for again: it resumes.",
        request=None,
        responses={202: ImportJobSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: uuid.UUID) -> Response:
        undo = import_job_undo(job=_visible_job(user=request.user, job_id=job_id), user=request.user)
        return Response(ImportJobSerializer(undo).data, status=status.HTTP_202_ACCEPTED)


class ImportJobErrorsApi(_JobReadApi):
    """Every row a job failed or skipped, page by page, with the row as the sheet had it."""

    pagination_class = PagePagination

    @extend_schema_serializer(component_name="ImportRowErrorDetail")
    class OutputSerializer(ImportRowErrorSerializer):
        raw_data = serializers.DictField(
            child=serializers.CharField(allow_blank=True), help_text="The row in the template's layout, as typed."
        )

    @extend_schema(
        operation_id="imports_errors_list",
        summary="List a job's row errors",
        responses={200: OutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        response = paginated_response(
            queryset=import_row_errors(job=job), serializer_class=self.OutputSerializer, request=request, view=self
        )
        if not shows_matched_rows(user=request.user, job=job):
            response.data["results"] = [mask_matched_row(row) for row in response.data["results"]]
        return response


class _ErrorReportDownloadApi(_JobReadApi):
    """A job's errors as a file, built on disk and streamed, so a 100 000-error report costs no memory."""

    extension = ""
    content_type = ""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file answer bypasses renderers; errors (404 …) are JSON whatever the Accept header says.
        return super().perform_content_negotiation(request, force=True)

    def write_report(self, *, job: ImportJob, spool: Any) -> None:
        raise NotImplementedError

    def get(self, request: Request, job_id: uuid.UUID) -> FileResponse:
        job = _visible_job(user=request.user, job_id=job_id)
        if not shows_matched_rows(user=request.user, job=job):
            # The report is every rejected row as typed, in bulk: someone else's upload is customers'
            # personal data, so it takes the permission to view customers.
            raise ServiceError(
                RefusalCode.PERMISSION_DENIED,
                "The error report holds the rows as they were uploaded, with names, phones and emails: only the "
                "person who uploaded them, or staff who may view customers, may download it.",
            )
        spool = tempfile.TemporaryFile()  # FileResponse closes it (and so deletes it) after the last chunk
        try:
            self.write_report(job=job, spool=spool)
        except BaseException:
            spool.close()
            raise
        # The report holds customers' phones and emails: who took a copy is worth a line in the log.
        logger.info(
            "job=%s error report (%s, %d bytes) downloaded by user id %s",
            job.id,
            self.extension,
            spool.seek(0, io.SEEK_END),
            request.user.pk,
            extra={"job_id": str(job.id), "user_id": request.user.pk},
        )
        spool.seek(0)
        response = FileResponse(spool, as_attachment=True, filename=_report_filename(job=job, extension=self.extension))
        response["Content-Type"] = self.content_type
        response.block_size = DOWNLOAD_CHUNK_BYTES
        return response


def _report_filename(*, job: ImportJob, extension: str) -> str:
    stem = PurePath(job.original_filename or "import").stem[:80] or "import"
    return f"{stem}-errors-{str(job.id)[:8]}.{extension}"


class ImportJobErrorsXlsxApi(_ErrorReportDownloadApi):
    """The rows to fix, in the template's layout plus an Error column: fix them and upload this file again."""

    extension = "xlsx"
    content_type = XLSX_CONTENT_TYPE

    def write_report(self, *, job: ImportJob, spool: Any) -> None:
        error_report_xlsx(job=job, out=spool)

    @extend_schema(
        operation_id="imports_errors_xlsx",
        summary="Download a job's errors as .xlsx",
        responses={(200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> FileResponse:
        return super().get(request, job_id)


class ImportJobErrorsCsvApi(_ErrorReportDownloadApi):
    """The same report as CSV, for tools that don't read .xlsx."""

    extension = "csv"
    content_type = CSV_CONTENT_TYPE

    def write_report(self, *, job: ImportJob, spool: Any) -> None:
        # A BOM, so Excel opens accented names as UTF-8; our own reader honours it on re-upload.
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        error_report_csv(job=job, out=text)
        text.flush()
        text.detach()  # leave the binary spool open for the response

    @extend_schema(
        operation_id="imports_errors_csv",
        summary="Download a job's errors as CSV",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> FileResponse:
        return super().get(request, job_id)
