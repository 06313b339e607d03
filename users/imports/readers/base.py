"""What every format's reader offers the read stage: a list of sheets and their rows, streamed."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from users.imports.formats import SpreadsheetFormat
from users.imports.rows import SourceRow


@dataclass(frozen=True)
class SheetInfo:
    name: str
    visible: bool


class WorkbookReader(Protocol):
    """An open workbook. `iter_rows` starts from the top on every call, so it can be read again.

    Rows come with their Excel row number; only rows with a non-blank cell
    (within `width` when given) are yielded. With `width`, each row has exactly
    that many cells (padded with None); without, up to its last non-blank cell.
    Blank cells (empty or whitespace-only) are None.
    """

    format: SpreadsheetFormat

    def sheets(self) -> list[SheetInfo]: ...

    def iter_rows(self, sheet: str, *, width: int | None = None) -> Iterator[SourceRow]: ...

    def estimated_rows(self, sheet: str) -> int | None: ...

    def close(self) -> None: ...
