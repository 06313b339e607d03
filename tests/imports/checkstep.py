"""Sheets and helpers for the Check step's tests: columns to choose, rows to correct, jobs run in-process."""

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.imports.spreadsheets import HEADER, write_csv, write_xlsx
from users.imports.jobs import import_job_run
from users.imports.services import import_job_create
from users.models import ImportJob, User

# Headers no synonym fully covers: "Client" could be a name or a code, so its column is for a person to choose.
OWN_HEADER = ("Client", "Tel.", "Mark", "E-mail")
FIRST_NAMES = ("Ama", "Kofi", "Esi", "Kwame", "Abena", "Yaw", "Akosua", "Kojo", "Adwoa", "Kwabena")
LAST_NAMES = ("Mensah", "Owusu", "Boateng", "Asante", "Osei", "Appiah", "Darko", "Addo", "Quaye", "Tetteh")


def person(n: int) -> str:
    """A two-word name without digits, unique enough for a sheet of a few hundred rows."""
    return f"{FIRST_NAMES[n % 10]} {LAST_NAMES[(n // 10) % 10]}"


def own_header_row(n: int) -> tuple[str, str, str, str]:
    """A customer in OWN_HEADER's layout: name, phone, mark, email."""
    return (person(n), f"024{n:07d}", f"PM{n:05d}", f"client{n}@example.com")


def template_row(n: int) -> list[Any]:
    """A valid customer in the template's layout, unique by `n`."""
    return [
        f"PM{n:05d}",
        FIRST_NAMES[n % 10],
        LAST_NAMES[(n // 10) % 10],
        f"c{n}@example.com",
        f"024{n:07d}",
        "Ashanti",
    ]


def own_header_sheet(path: Path, count: int = 12, *, header: tuple[str, ...] = OWN_HEADER) -> Path:
    return write_xlsx(path, [header, *(own_header_row(n) for n in range(1, count + 1))])


def sheet_with_rejected_rows(path: Path, count: int = 40) -> Path:
    """`count` customers on rows 2…; rows 5 (phone), 9 (email) and 14 (mark) are wrong; row 20 repeats row 3."""
    rows = [template_row(n) for n in range(1, count + 1)]
    rows[3][4] = "12345"  # row 5
    rows[7][3] = "ama@@example"  # row 9
    rows[12][0] = ""  # row 14
    rows[18] = list(rows[1])  # row 20: the customer of row 3 again
    if path.suffix == ".csv":
        return write_csv(path, [HEADER, *rows])
    return write_xlsx(path, [HEADER, *rows])


def dry_run(user: User, path: Path) -> ImportJob:
    """Upload `path` as a dry run and check it in this process, as the worker would."""
    uploaded = SimpleUploadedFile(path.name, path.read_bytes())
    job = import_job_create(user=user, uploaded_file=uploaded, dry_run=True)
    return run(job)


def run(job: ImportJob) -> ImportJob:
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    return job
