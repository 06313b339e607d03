"""The Check step's shapes in the job API: the sheet's columns, the rows to correct, the audit trail.

Serializers and the small readers that feed them, read from what the job
keeps (`ImportJob.sheet_layout`); the views are in users/api/corrections.py.
A row or an audit entry that matched an existing customer shows its names,
email and phone only to the job's owner and to users who may view customers,
as row errors do (users/api/imports.py).
"""

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from users.imports.columns import job_layout
from users.imports.corrections import row_fields
from users.imports.header import MatchKind
from users.imports.rows import Field
from users.models import CorrectionOutcome, ImportJob, RowErrorCode, RowOutcome

FIELD_CHOICES = [(field_.value, field_.name) for field_ in Field]
# The fields that hold a person's details, blanked for viewers who may not see an existing customer's.
PERSONAL_FIELDS = frozenset({Field.FIRST_NAME, Field.LAST_NAME, Field.FULL_NAME, Field.EMAIL, Field.PHONE})
MATCHED_OUTCOMES = frozenset({CorrectionOutcome.UPDATE, CorrectionOutcome.SKIP})
EXISTING_CODES = frozenset({RowErrorCode.ALREADY_EXISTS, RowErrorCode.CONFLICT})


@extend_schema_serializer(component_name="ImportSheetColumn")
class SheetColumnSerializer(serializers.Serializer):
    """One column of the sheet as the header stage saw it."""

    column = serializers.CharField(help_text='Its letter, as Excel names it: "A", "B" … "AA".')
    header = serializers.CharField(help_text="The header cell's text; empty for a column without one.")
    samples = serializers.ListField(child=serializers.CharField(), help_text="Up to three values from its rows.")
    field = serializers.ChoiceField(choices=FIELD_CHOICES, allow_null=True, help_text="The field it holds; null: none.")
    matched_by = serializers.ChoiceField(
        choices=[(kind.value, kind.name) for kind in MatchKind],
        allow_null=True,
        help_text="exact (the field's own name), synonym (another usual name), remembered (as confirmed before for "
        "this header row), chosen (for this import); null when it holds no field.",
    )
    suggested_field = serializers.ChoiceField(
        choices=FIELD_CHOICES, allow_null=True, help_text="For a column holding no field: what its values look like."
    )


@extend_schema_serializer(component_name="ImportRememberedColumns")
class RememberedColumnsSerializer(serializers.Serializer):
    confirmed_at = serializers.DateTimeField()
    confirmed_by = serializers.CharField()


@extend_schema_serializer(component_name="ImportRowField")
class RowFieldSerializer(serializers.Serializer):
    """A field a row of this sheet has, and the sheet's name for its column."""

    field = serializers.ChoiceField(choices=FIELD_CHOICES)
    column = serializers.CharField()


def sheet_columns(job: ImportJob) -> list[dict[str, Any]]:
    return [
        {
            "column": column["column"],
            "header": column["header"],
            "samples": column["samples"],
            "field": column["field"],
            "matched_by": column["matched_by"],
            "suggested_field": column["suggested"],
        }
        for column in (job.sheet_layout or {}).get("columns", ())
    ]


def sheet_row_fields(job: ImportJob) -> list[dict[str, str]]:
    layout = job_layout(job)
    if layout is None:
        return []
    return [{"field": field_.value, "column": layout.header.label(field_)} for field_ in row_fields(layout.header)]


@extend_schema_serializer(component_name="ImportRowProblem")
class RowProblemSerializer(serializers.Serializer):
    field = serializers.ChoiceField(
        choices=FIELD_CHOICES, allow_null=True, help_text="The field at fault; null for the row as a whole."
    )
    column = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    code = serializers.ChoiceField(choices=RowErrorCode.choices)
    reason = serializers.CharField()
    duplicate_of_row = serializers.IntegerField(allow_null=True)
    existing_customer_id = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="ImportRowToCorrect")
class RowToCorrectSerializer(serializers.Serializer):
    """A row the check rejected (FAILED) or left out as an existing customer (SKIPPED), with its values by field."""

    row_number = serializers.IntegerField(help_text="As Excel numbers it: the header is row 1.")
    outcome = serializers.ChoiceField(choices=RowOutcome.choices)
    values = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text="Field → text.")
    problems = RowProblemSerializer(many=True)
    corrected = serializers.BooleanField(help_text="Its values were corrected on the Check step.")


@extend_schema_serializer(component_name="ImportAuditChange")
class AuditChangeSerializer(serializers.Serializer):
    column = serializers.CharField(help_text="The sheet's name for the column (and its letter, for a column choice).")
    field = serializers.ChoiceField(choices=FIELD_CHOICES, allow_null=True)
    before = serializers.CharField(allow_blank=True)
    after = serializers.CharField(allow_blank=True)


@extend_schema_serializer(component_name="ImportAuditEntry")
class AuditEntrySerializer(serializers.Serializer):
    """Who changed what on the Check step, when, from what to what."""

    at = serializers.DateTimeField()
    user = serializers.IntegerField(source="user_id", allow_null=True)
    user_name = serializers.CharField()
    action = serializers.CharField(help_text="row_corrected or columns_chosen.")
    row_number = serializers.IntegerField(allow_null=True)
    changes = AuditChangeSerializer(many=True)
    outcome = serializers.CharField(help_text="For a row: create, update or skip, what the commit will do with it.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        entry = super().to_representation(instance)
        if self.context.get("mask_matched_rows") and entry["outcome"] in MATCHED_OUTCOMES:
            entry["changes"] = [
                {**change, "before": "", "after": ""} if change.get("field") in PERSONAL_FIELDS else change
                for change in entry["changes"]
            ]
        return entry


def mask_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row that matched an existing customer, with its personal details blanked (the keys stay)."""
    if not any(problem["code"] in EXISTING_CODES for problem in row["problems"]):
        return row
    return {
        **row,
        "values": {name: ("" if name in PERSONAL_FIELDS else value) for name, value in row["values"].items()},
        "problems": [
            {**problem, "value": ""} if problem["code"] in EXISTING_CODES else problem for problem in row["problems"]
        ],
    }
