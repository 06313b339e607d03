"""Spreadsheets for the browser tests, built with openpyxl in the template's layout."""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HEADER = ("Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region")
REGIONS = ("Greater Accra", "Ashanti", "Volta", "Northern", "Central", "Western")


def customer(n: int) -> list[Any]:
    """A valid row, unique by `n`: its mark, email and phone all derive from it."""
    return [
        f"PM{n:06d}",
        f"Ama{n}",
        f"Mensah{n}",
        f"ama.mensah{n}@example.com",
        f"024{n:07d}",
        REGIONS[n % len(REGIONS)],
    ]


def write_xlsx(path: Path, rows: Iterable[Sequence[Any]], *, header: Sequence[str] = HEADER) -> Path:
    """Stream the rows into a one-sheet workbook (write-only, so 20 000 rows cost no memory)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Customers")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def many_customers(path: Path, count: int, *, start: int = 1) -> Path:
    return write_xlsx(path, (customer(n) for n in range(start, start + count)))
