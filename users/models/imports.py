"""Import jobs: one uploaded spreadsheet (or JSON list) on its way to becoming customers."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from users.models.choices import (
    DuplicatePolicy,
    FileStorage,
    ImportSource,
    ImportStatus,
    RowErrorCode,
    RowOutcome,
)

# The status sets, defined once (users/imports/lifecycle.py draws the transitions between them).
# Work to do or being done: what a worker may claim and what the per-user quota counts.
ACTIVE_STATUSES = (ImportStatus.QUEUED, ImportStatus.VALIDATING, ImportStatus.RUNNING)
# A pass in progress, holding a lease: what a dead holder leaves behind for the sweep to resume.
WORKING_STATUSES = (ImportStatus.VALIDATING, ImportStatus.RUNNING)
# Nothing running, waiting for a worker or for the admin's commit: cancelled at once.
WAITING_STATUSES = (ImportStatus.QUEUED, ImportStatus.VALIDATED)
# Not ended yet: what retention must not leave holding a file forever.
UNFINISHED_STATUSES = (*ACTIVE_STATUSES, ImportStatus.VALIDATED)
FINISHED_STATUSES = (ImportStatus.COMPLETE, ImportStatus.FAILED, ImportStatus.CANCELLED)


def import_upload_path(job: "ImportJob", filename: str) -> str:
    # The job id, not the admin's file name, names the stored file: no clashes,
    # no path tricks. The original name is kept in `original_filename`.
    suffix = filename.rsplit(".", 1)[-1].lower()[:8] if "." in filename else "bin"
    return f"imports/{timezone.now():%Y/%m}/{job.id}.{suffix}"


class ImportJob(models.Model):
    """The state of one import, durable enough to resume after a crash.

    `checkpoint` is the source row number (as Excel numbers rows) up to which every
    row's outcome is committed; it moves in the same transaction as the customers
    and row errors it covers, so a crashed job resumes exactly after it. Its state
    changes only through users/imports/lifecycle.py.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    source = models.CharField(max_length=10, choices=ImportSource.choices, default=ImportSource.FILE)
    # The stored file's name in `file_storage`, not a path on this machine's disk: read and delete it
    # through users/imports/storage, never through `file.path`, so any web instance or worker finds it.
    file = models.FileField(upload_to=import_upload_path, max_length=255, blank=True)
    # The database's own default too, so the previous release (which knows nothing of this column) can still
    # create jobs if a deploy is rolled back without reversing the migration.
    file_storage = models.CharField(
        max_length=8,
        choices=FileStorage.choices,
        blank=True,
        default="",
        db_default="",
        help_text="Where the file is stored; empty if none.",
    )
    original_filename = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    # Options chosen at upload.
    on_duplicate = models.CharField(max_length=10, choices=DuplicatePolicy.choices, default=DuplicatePolicy.SKIP)
    sheet_name = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=False, help_text="Validate only; commit later.")
    send_sms = models.BooleanField(default=False)

    status = models.CharField(max_length=12, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)

    # What the header stage found.
    column_mapping = models.JSONField(default=dict, blank=True)
    unknown_columns = models.JSONField(default=list, blank=True)
    detected_format = models.CharField(max_length=10, blank=True)

    # Choosing columns and correcting rows on the Check step (users/imports/columns.py, corrections.py).
    column_map = models.JSONField(default=dict, blank=True, help_text="The columns chosen: letter → field, or ''.")
    sheet_layout = models.JSONField(
        default=dict, blank=True, help_text="The sheet's columns: header, samples, field and how it was matched."
    )
    corrected_rows = models.PositiveIntegerField(default=0)

    # Undo (users/imports/undo.py): an undo is a job of its own (source UNDO) pointing at the import it takes
    # back; one per import, so two undos requested at once can't both be saved. Its `created_by` undid it,
    # its `created_at` says when, and its `checkpoint` counts *down*: every source row above it is undone.
    # The counts have a database default so the release before undo, rolled back to without its migration,
    # can still create jobs (docs/deploy.md, "Rolling back a deploy").
    undoes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="undo", editable=False
    )
    deleted_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Undo: customers the import created, deleted."
    )
    restored_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Undo: customers the import updated, given back their previous values."
    )
    kept_changed_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Undo: customers left as they are because they changed after the import."
    )
    kept_referenced_count = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Undo: created customers kept because other data refers to them."
    )

    # Counts: total_rows = created + updated + skipped + failed once complete.
    total_rows = models.PositiveIntegerField(default=0)
    valid_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    duplicates_in_file = models.PositiveIntegerField(default=0)
    existing_matches = models.PositiveIntegerField(default=0)

    checkpoint = models.PositiveIntegerField(default=0, help_text="The last source row whose outcome is committed.")
    rows_per_second = models.FloatField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)

    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_all_importjobs", "Can see every user's import jobs"),
            # Process ids, memory, running jobs and queue depth: for whoever is on call, who need not
            # be a superuser (a superuser may also read every customer).
            ("view_service_metrics", "Can see the service's memory, processes and task queue"),
        ]

    def __str__(self) -> str:
        return f"Import {self.id} ({self.status})"

    @property
    def progress_percent(self) -> float:
        if self.status == ImportStatus.COMPLETE:
            return 100.0
        if not self.total_rows:
            return 0.0
        return round(min(100.0, 100.0 * self.processed_rows / self.total_rows), 1)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def is_undo(self) -> bool:
        return self.source == ImportSource.UNDO


class ImportedUpdate(models.Model):
    """An existing customer as it was before an import updated it: what an undo gives back.

    Written in the transaction that updates the customer, one bulk insert per
    chunk. `updated_at_after` is the customer's `updated_at` as the import left
    it: if it differs when the import is undone, someone changed the customer
    since, and the undo leaves it alone. The customer is named by id, not a
    foreign key, so this record never counts as other data referring to it.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="imported_updates")
    row_number = models.PositiveIntegerField(help_text="The source row that updated the customer.")
    # Indexed: an undo asks whether another import touched the same customers.
    customer_id = models.BigIntegerField(db_index=True)
    shipping_mark = models.CharField(max_length=100)
    first_name = models.CharField(max_length=50)
    last_name = models.CharField(max_length=50)
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=20)
    region = models.CharField(max_length=20)
    updated_at = models.DateTimeField(help_text="The customer's updated_at before the import.")
    updated_at_after = models.DateTimeField(help_text="The customer's updated_at as the import left it.")

    class Meta:
        constraints = [
            # One source row updates at most one customer; its chunk commits once.
            models.UniqueConstraint(fields=["job", "row_number"], name="importedupdate_unique_row"),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} updated customer {self.customer_id}"


class ImportRowError(models.Model):
    """Why one source row was not created: failed, or skipped as an existing customer."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField(help_text="As Excel numbers it (the header is a row too).")
    outcome = models.CharField(max_length=8, choices=RowOutcome.choices, default=RowOutcome.FAILED)
    column = models.CharField(max_length=64, blank=True)
    value = models.TextField(blank=True)
    code = models.CharField(max_length=32, choices=RowErrorCode.choices)
    reason = models.TextField()
    raw_data = models.JSONField(default=dict, blank=True, help_text="The row in the template's layout.")
    duplicate_of_row = models.PositiveIntegerField(null=True, blank=True)
    existing_customer_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job", "row_number", "id"]
        constraints = [
            # A resumed job re-processes at most the rows after its checkpoint;
            # this keeps a row's error from being recorded twice even so.
            models.UniqueConstraint(fields=["job", "row_number", "column", "code"], name="rowerror_unique_per_job"),
        ]
        indexes = [models.Index(fields=["job", "row_number"], name="rowerror_job_row_idx")]

    def __str__(self) -> str:
        return f"Row {self.row_number}: {self.reason}"
