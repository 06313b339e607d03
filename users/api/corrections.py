"""The job API's Check step: the rows to correct, correcting one, and the audit trail of what was changed.

Choosing columns is a PATCH of the job itself (users/api/imports.py). Each
view parses its input, calls one service or selector and serialises the
answer. Bodies are small (a row's values are well under 1 KB), so these
endpoints keep the 4 KB limit every endpoint has (users/api/limits.py).
"""

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from users.api.checkstep import AuditEntrySerializer, RowProblemSerializer, RowToCorrectSerializer, mask_row
from users.api.imports import ImportJobSerializer, _JobReadApi, _JobWriteApi, _visible_job, shows_matched_rows
from users.api.schema import ErrorSerializer, PagePagination, error_responses
from users.imports.columns import job_layout
from users.imports.corrections import (
    import_audit_trail,
    import_row_correct,
    import_rows_detail,
    import_rows_to_correct,
    problem_json,
)
from users.models import CorrectionOutcome

# A value longer than any field allows still gets its sentence from the normalisers; past this it is a 400.
VALUE_MAX_LENGTH = 1000


@extend_schema_serializer(component_name="ImportRowInvalid")
class RowInvalidSerializer(ErrorSerializer):
    """A correction refused: `errors` by field, and the row as it would have been with its problems."""

    row = serializers.JSONField(help_text="{row_number, values, problems}: the values sent and what is wrong.")


ROW_INVALID_RESPONSE = {
    422: OpenApiResponse(
        RowInvalidSerializer,
        description="The values still don't make an importable row (`row_invalid`): nothing was stored; `errors` "
        "says what is wrong, field by field.",
    )
}


class ImportJobRowsApi(_JobReadApi):
    """The rows a dry run rejected or skipped, a page at a time, each with its values by field and its problems."""

    pagination_class = PagePagination

    @extend_schema(
        operation_id="imports_rows_list",
        summary="List the rows to correct",
        description="One entry per row the check rejected (FAILED) or left out as an existing customer (SKIPPED), "
        "in row order, read a page at a time from the database. A corrected row that will be imported leaves "
        "the list.",
        responses={200: RowToCorrectSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        paginator = self.pagination_class()
        numbers = paginator.paginate_queryset(import_rows_to_correct(job=job), request, view=self)
        rows = RowToCorrectSerializer(import_rows_detail(job=job, row_numbers=list(numbers)), many=True).data
        if not shows_matched_rows(user=request.user, job=job):
            rows = [mask_row(row) for row in rows]
        return paginator.get_paginated_response(rows)


class ImportJobRowApi(_JobWriteApi):
    """Correct one rejected row: its values are checked at once, and stored only if they make it importable."""

    @extend_schema_serializer(component_name="ImportRowCorrection")
    class InputSerializer(serializers.Serializer):
        values = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=VALUE_MAX_LENGTH, trim_whitespace=False),
            help_text="The new text of some of the row's columns, by field (see the job's row_fields); the others "
            "keep theirs. Without any, the row is checked again as it stands (an existing customer it matched may "
            "have gone).",
        )

    @extend_schema_serializer(component_name="ImportRowCorrected")
    class OutputSerializer(serializers.Serializer):
        row_number = serializers.IntegerField()
        outcome = serializers.ChoiceField(
            choices=CorrectionOutcome.choices, help_text="What the commit will do with the row."
        )
        values = serializers.DictField(child=serializers.CharField(allow_blank=True))
        problems = RowProblemSerializer(many=True, help_text="For a skipped row: the existing customer it matches.")
        changed = serializers.BooleanField(help_text="False when the row already read so: nothing was stored.")
        job = ImportJobSerializer(help_text="The job, its counts following the correction.")

    @extend_schema(
        operation_id="imports_rows_partial_update",
        summary="Correct a rejected row",
        description="Checks the row with its new values as the import would (the normalisers, the rest of the file, "
        "existing customers) and answers at once. Only the job's owner may, while it waits at VALIDATED. "
        "A row that will now be imported, or skipped as an existing customer, is stored beside the row (never in "
        "the file), recorded in the audit trail, and counted; anything else is a 422 and nothing changes.",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409, 413), **ROW_INVALID_RESPONSE},
    )
    def patch(self, request: Request, job_id: uuid.UUID, row_number: int) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        serializer = self.InputSerializer(data=request.data, partial=True)  # PATCH: what isn't sent doesn't change
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data.get("values") or {}
        result = import_row_correct(job=job, user=request.user, row_number=row_number, values=values)
        header = job_layout(result.job).header  # type: ignore[union-attr] - a correctable job has its layout
        verdict = result.verdict
        answer: dict[str, Any] = {
            "row_number": verdict.row_number,
            "outcome": verdict.outcome,
            "values": verdict.values,
            "problems": [problem_json(problem, header) for problem in verdict.problems],
            "changed": result.changed,
            "job": result.job,
        }
        return Response(self.OutputSerializer(answer).data)


class ImportJobAuditApi(_JobReadApi):
    """What was changed on the Check step before the commit: columns chosen and rows corrected, newest first."""

    pagination_class = PagePagination

    @extend_schema(
        operation_id="imports_audit_list",
        summary="List a job's audit trail",
        responses={200: AuditEntrySerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = _visible_job(user=request.user, job_id=job_id)
        paginator = self.pagination_class()
        entries = paginator.paginate_queryset(import_audit_trail(job=job), request, view=self)
        context = {"mask_matched_rows": not shows_matched_rows(user=request.user, job=job)}
        return paginator.get_paginated_response(AuditEntrySerializer(entries, many=True, context=context).data)
