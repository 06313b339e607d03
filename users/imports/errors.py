"""What the import services refuse, in the domain's words: a stable code and a sentence, nothing of HTTP.

`ServiceError` is a request the services won't carry out as asked: an option
the user may not choose, a quota reached, a job in the wrong state. Its code is
a `RefusalCode`. `ImportRefused` is the special case of a file that can't be
imported at all (its code a `FileErrorCode`); nothing is written then. Clients
may switch on the codes. The JSON API turns each code into an HTTP status in
one table (users/api/errors.py); the command line prints the sentence.
"""

from enum import StrEnum
from typing import Any

from users.models.choices import FileErrorCode


class RefusalCode(StrEnum):
    INVALID_OPTION = "invalid_option"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    NOT_VALIDATED = "not_validated"
    ALREADY_FINISHED = "already_finished"
    TOO_LARGE = "too_large"
    TOO_MANY_CUSTOMERS = "too_many_customers"
    TOO_MANY_ACTIVE_IMPORTS = "too_many_active_imports"
    STORAGE_FULL = "storage_full"
    # The Check step: a column choice that can't be used; a commit before the columns are chosen; a correction
    # whose values still don't make an importable row (users/imports/columns.py, corrections.py).
    INVALID_COLUMN_MAP = "invalid_column_map"
    COLUMNS_MISSING = "columns_missing"
    ROW_INVALID = "row_invalid"
    # Undo (users/imports/undo.py): not an import that wrote customers; ended more than IMPORT_UNDO_DAYS ago;
    # undone already, or being undone; another running import touched the same customers.
    NOT_UNDOABLE = "not_undoable"
    UNDO_EXPIRED = "undo_expired"
    ALREADY_UNDONE = "already_undone"
    UNDO_IN_PROGRESS = "undo_in_progress"
    CUSTOMERS_BUSY = "customers_busy"


class ServiceError(Exception):
    """A refusal the client should see: a stable code and a sentence for people.

    `extra` adds keys to the answer for clients that expect them (the
    frontend's task status reads `status` even on a 404).
    """

    def __init__(self, code: str, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra or {}


class ImportRefused(ServiceError):  # noqa: N818 - a refusal, in the domain's words
    """The file itself is unusable: not a spreadsheet, damaged, encrypted, a column missing …"""

    def __init__(self, code: FileErrorCode, message: str) -> None:
        super().__init__(code, message)
