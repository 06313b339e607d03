"""The app's models, one module per domain; import them from here."""

from users.models.accounts import User, UserManager
from users.models.choices import (
    DuplicatePolicy,
    FileErrorCode,
    ImportSource,
    ImportStatus,
    Region,
    RowErrorCode,
    RowOutcome,
    SmsStatus,
    UserRole,
)
from users.models.customers import Customer
from users.models.imports import ImportJob, ImportRowError
from users.models.sms import SmsDailyCount, SmsMessage

__all__ = [
    "Customer",
    "DuplicatePolicy",
    "FileErrorCode",
    "ImportJob",
    "ImportRowError",
    "ImportSource",
    "ImportStatus",
    "Region",
    "RowErrorCode",
    "RowOutcome",
    "SmsDailyCount",
    "SmsMessage",
    "SmsStatus",
    "User",
    "UserManager",
    "UserRole",
]
