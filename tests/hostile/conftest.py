"""Fixtures for the hostile suite: uploads as the API receives them, and what a clean table must hold."""

from collections.abc import Iterable
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.imports.factories import customer_row
from tests.web.conftest import browser, page, signed_in_page, web_server  # noqa: F401 - browser fixtures, as tests/web has them
from users.models import Customer, ImportJob, ImportRowError


def sheet_row(n: int) -> tuple[str, ...]:
    """Customer `n` (tests.imports.factories) as a sheet row in the template's column order."""
    row = customer_row(n)
    return (row["shipping_mark"], row["first_name"], row["last_name"], row["email"], row["phone"], row["region"])


def stored_form(n: int) -> tuple[str, str, str]:
    """Customer `n` as the database stores it: (shipping mark, E.164 phone, email)."""
    row = customer_row(n)
    return row["shipping_mark"], f"+233{row['phone'][1:]}", row["email"]


def uploaded(path: Path) -> SimpleUploadedFile:
    """The file as Django hands an upload to a view."""
    return SimpleUploadedFile(path.name, path.read_bytes())


def row_outcomes(job: ImportJob) -> tuple[set[int], set[int]]:
    """(rows this job created or updated a customer from, rows it recorded an error or skip for)."""
    from_job = Customer.objects.filter(import_job=job).exclude(import_row_number=None)
    created = set(from_job.values_list("import_row_number", flat=True))
    problems = set(ImportRowError.objects.filter(job=job).values_list("row_number", flat=True))
    return created, problems


def assert_every_row_accounted_for(job: ImportJob, data_rows: Iterable[int]) -> None:
    """Each data row is exactly one of: created by this job, or recorded as failed/skipped in it; counts agree."""
    expected = set(data_rows)
    created, problems = row_outcomes(job)
    assert not created & problems, f"rows both created and rejected by job {job.id}: {sorted(created & problems)[:10]}"
    missing = expected - created - problems
    assert not missing, f"job {job.id} lost rows (neither created nor reported): {sorted(missing)[:10]} …"
    assert created | problems == expected, f"job {job.id} reports rows that aren't in the file"
    total = job.created_count + job.updated_count + job.skipped_count + job.failed_count
    assert total == job.total_rows == len(expected), (
        f"job {job.id}: created {job.created_count} + updated {job.updated_count} + skipped {job.skipped_count} "
        f"+ failed {job.failed_count} != total {job.total_rows} (file has {len(expected)} rows)"
    )
