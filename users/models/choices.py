"""Choices shared by models, the import pipeline and the API."""

from django.db import models


class UserRole(models.TextChoices):
    SUPER_ADMIN = "SUPER_ADMIN", "Super admin"
    ADMIN = "ADMIN", "Admin"
    MANAGER = "MANAGER", "Manager"
    STAFF = "STAFF", "Staff"


class Region(models.TextChoices):
    """Ghana's 16 administrative regions (since the 2018 referendum)."""

    AHAFO = "AHAFO", "Ahafo"
    ASHANTI = "ASHANTI", "Ashanti"
    BONO = "BONO", "Bono"
    BONO_EAST = "BONO_EAST", "Bono East"
    CENTRAL = "CENTRAL", "Central"
    EASTERN = "EASTERN", "Eastern"
    GREATER_ACCRA = "GREATER_ACCRA", "Greater Accra"
    NORTHERN = "NORTHERN", "Northern"
    NORTH_EAST = "NORTH_EAST", "North East"
    OTI = "OTI", "Oti"
    SAVANNAH = "SAVANNAH", "Savannah"
    UPPER_EAST = "UPPER_EAST", "Upper East"
    UPPER_WEST = "UPPER_WEST", "Upper West"
    VOLTA = "VOLTA", "Volta"
    WESTERN = "WESTERN", "Western"
    WESTERN_NORTH = "WESTERN_NORTH", "Western North"


class ImportStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    VALIDATING = "VALIDATING", "Validating"
    VALIDATED = "VALIDATED", "Validated"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", "Skip rows that match an existing customer"
    UPDATE = "update", "Update the existing customer"


class ImportSource(models.TextChoices):
    FILE = "FILE", "Uploaded spreadsheet"
    PAYLOAD = "PAYLOAD", "JSON list of customers"
    # Not a source of customers: a job that takes back what an earlier import did (users/imports/undo.py).
    UNDO = "UNDO", "Undo of an import"


class RowOutcome(models.TextChoices):
    FAILED = "FAILED", "Failed"
    SKIPPED = "SKIPPED", "Skipped (already exists)"


class RowErrorCode(models.TextChoices):
    """Stable codes for why a row was not created; clients may switch on them."""

    MARK_MISSING = "mark_missing", "Shipping mark missing"
    MARK_INVALID = "mark_invalid", "Shipping mark invalid"
    NAME_MISSING = "name_missing", "Name missing"
    NAME_TOO_LONG = "name_too_long", "Name too long"
    EMAIL_INVALID = "email_invalid", "Email invalid"
    PHONE_MISSING = "phone_missing", "Phone missing"
    PHONE_INVALID = "phone_invalid", "Phone invalid"
    REGION_UNKNOWN = "region_unknown", "Region unknown"
    DUPLICATE_IN_FILE = "duplicate_in_file", "Duplicate of an earlier row"
    ALREADY_EXISTS = "already_exists", "Matches an existing customer"
    CONFLICT = "conflict", "Matches more than one existing customer"
    DATABASE_ERROR = "database_error", "Could not be saved"
    # An undo's report: the customers it left as they are, and why (users/imports/undo.py).
    CHANGED_SINCE = "changed_since", "Changed since the import: kept"
    REFERENCED = "referenced", "Other data refers to it: kept"


class FileErrorCode(models.TextChoices):
    """Stable codes for why a whole file was refused."""

    EMPTY = "empty", "Empty file"
    UNSUPPORTED_TYPE = "unsupported_type", "Not a spreadsheet"
    DAMAGED = "damaged", "Damaged or truncated"
    ENCRYPTED = "encrypted", "Password-protected"
    TOO_LARGE = "too_large", "Too large"
    UNSAFE = "unsafe", "Unsafe content"
    NO_SHEET = "no_sheet", "Sheet not found"
    MISSING_COLUMNS = "missing_columns", "Required columns missing"
    NO_ROWS = "no_rows", "No data rows"
    FILE_MISSING = "file_missing", "Stored file missing"
    # Left unfinished longer than the retention period; its file was deleted (users/imports/retention.py).
    EXPIRED = "expired", "Expired unfinished"
    INTERNAL = "internal", "Unexpected error"


class FileStorage(models.TextChoices):
    """Where a job's stored file lives, recorded on the job so any instance or worker can find it."""

    DATABASE = "database", "Database"
    S3 = "s3", "S3-compatible bucket"
    # The web instance's own disk, under MEDIA_ROOT: only uploads made before storage became durable.
    LOCAL = "local", "Local disk (before durable storage)"


class SmsStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Never handed to the provider: the number's country isn't allowed, or the day's limit was reached.
    REFUSED = "refused", "Refused"
