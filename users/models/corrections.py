"""What admins change on the Check step before committing: rows corrected in place, columns chosen, and the trail.

A correction is kept beside its row, never written into the uploaded file; the
commit reads the file and takes each corrected row's values from here
(users/imports/corrections.py). Column choices confirmed for a header row are
remembered for the next sheet with the same header (users/imports/columns.py).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from users.models.imports import ImportJob


class CorrectionOutcome(models.TextChoices):
    """What a corrected row will do when the import is committed."""

    CREATE = "create", "Create a customer"
    UPDATE = "update", "Update the existing customer"
    SKIP = "skip", "Skip: the customer exists"


class AuditAction(models.TextChoices):
    ROW_CORRECTED = "row_corrected", "Corrected a row"
    COLUMNS_CHOSEN = "columns_chosen", "Chose the columns"


class ImportRowCorrection(models.Model):
    """A rejected row's values as corrected on the Check step: every column the sheet maps, by field.

    Stored only once the values make the row importable (or a match for an
    existing customer). The identity columns hold the row's phone, mark and
    lower-cased email in normal form, so the next correction is checked against
    this one without reading the file.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_corrections")
    row_number = models.PositiveIntegerField(help_text="As Excel numbers it (the header is a row too).")
    values = models.JSONField(help_text="Field → text, for every column the sheet maps.")
    outcome = models.CharField(max_length=8, choices=CorrectionOutcome.choices)
    shipping_mark = models.CharField(max_length=100)
    phone = models.CharField(max_length=20)
    email = models.CharField(max_length=254, blank=True, help_text="Lower-cased; empty when the row has none.")
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    corrected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "row_number"]
        constraints = [models.UniqueConstraint(fields=["job", "row_number"], name="rowcorrection_unique_per_job")]
        indexes = [
            models.Index(fields=["job", "phone"], name="rowcorrection_job_phone_idx"),
            models.Index(fields=["job", "shipping_mark"], name="rowcorrection_job_mark_idx"),
            models.Index(fields=["job", "email"], name="rowcorrection_job_email_idx"),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of {self.job_id}, corrected"


class ImportAuditEntry(models.Model):
    """One change made to an import before its commit: who, when, which row or columns, from what to what.

    `changes` is a list of `{"field", "column", "before", "after"}`; the name is
    copied when the change is made, so the trail reads the same after the
    account is renamed or removed.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="audit_entries")
    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    row_number = models.PositiveIntegerField(null=True, blank=True)
    changes = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=8, choices=CorrectionOutcome.choices, blank=True)

    class Meta:
        ordering = ["job", "-at", "-id"]
        indexes = [models.Index(fields=["job", "-at"], name="auditentry_job_at_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.user_name}, {self.at:%Y-%m-%d %H:%M})"


class RememberedColumnMap(models.Model):
    """Columns confirmed for a header row, offered to every later sheet with the same header, whoever uploads it."""

    header_key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the header row in normal form.")
    headers = models.JSONField(help_text="The header cells when the choice was confirmed, for people to read.")
    fields = models.JSONField(help_text="Per column position: the field it holds, or empty to ignore it.")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    confirmed_by_name = models.CharField(max_length=150, blank=True)
    confirmed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "remembered column choice"

    def __str__(self) -> str:
        return " | ".join(str(header) for header in self.headers)[:120]


class ImportKeyBlock(models.Model):
    """Identity keys of a checked file's importable rows, packed, so a corrected row is checked against all of them.

    Kept only while the job waits at the Check step (users/imports/rowkeys.py).
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="+")
    bucket = models.PositiveSmallIntegerField()
    data = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["job", "bucket"], name="keyblock_job_bucket_idx")]

    def __str__(self) -> str:
        return f"Keys of {self.job_id}, bucket {self.bucket}"
