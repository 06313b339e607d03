"""File-level refusals: the whole file can't be imported, and nothing is written."""

from users.models.choices import FileErrorCode


class ImportRefused(Exception):  # noqa: N818 - a refusal, in the domain's words
    """The file itself is unusable: not a spreadsheet, damaged, encrypted, a column missing …

    `code` is stable for clients; `message` is a sentence for the admin.
    """

    def __init__(self, code: FileErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
