"""The app's models, one module per domain; import them from here."""

from users.models.accounts import User, UserManager
from users.models.choices import (
    DuplicatePolicy,
    FileErrorCode,
    FileStorage,
    ImportSource,
    ImportStatus,
    Region,
    RowErrorCode,
    RowOutcome,
    SmsStatus,
    UserRole,
)
from users.models.corrections import (
    AuditAction,
    CorrectionOutcome,
    ImportAuditEntry,
    ImportKeyBlock,
    ImportRowCorrection,
    RememberedColumnMap,
)
from users.models.customers import Customer
from users.models.imports import ImportedUpdate, ImportJob, ImportRowError
from users.models.sms import SmsDailyCount, SmsMessage
from users.models.storage import StoredFile, StoredFileChunk

__all__ = [
    "AuditAction",
    "CorrectionOutcome",
    "Customer",
    "DuplicatePolicy",
    "FileErrorCode",
    "FileStorage",
    "ImportAuditEntry",
    "ImportJob",
    "ImportedUpdate",
    "ImportKeyBlock",
    "ImportRowCorrection",
    "ImportRowError",
    "ImportSource",
    "ImportStatus",
    "Region",
    "RememberedColumnMap",
    "RowErrorCode",
    "RowOutcome",
    "SmsDailyCount",
    "SmsMessage",
    "SmsStatus",
    "StoredFile",
    "StoredFileChunk",
    "User",
    "UserManager",
    "UserRole",
]
