"""Customer rows for tests, as the frontend posts them or as a sheet holds them."""

from typing import Any


def customer_row(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid customer, unique by `n` (phone, mark and email all derive from it)."""
    row = {
        "shipping_mark": f"PM {n:05d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"customer{n}@example.com",
        "phone": f"024{n:07d}",
        "region": "Greater Accra",
        "source_row_number": n + 1,
    }
    row.update(overrides)
    return row


def customer_rows(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [customer_row(n) for n in range(start, start + count)]
