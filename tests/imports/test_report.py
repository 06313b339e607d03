"""The error report: rejected rows in the template's layout, ready to fix and upload again, formula-safe."""

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.imports.factories import customer_row
from users.imports.jobs import import_job_run
from users.imports.report import REPORT_HEADER, error_report_csv, error_report_xlsx, neutralise
from users.imports.services import import_job_create_from_payload
from users.models import ImportJob, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_with_errors(admin_user: User) -> ImportJob:
    rows = [
        customer_row(1),
        customer_row(2, first_name='=HYPERLINK("http://evil")', phone="nope"),
        customer_row(3, email="@bad", last_name="-2+3"),
        customer_row(4, shipping_mark=customer_row(1)["shipping_mark"]),
    ]
    job = import_job_create_from_payload(user=admin_user, customers=rows)
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("dangerous", ["=1+1", "+233", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_values_that_could_run_as_formulas_are_neutralised(dangerous: str) -> None:
    assert neutralise(dangerous) == "'" + dangerous


def test_ordinary_values_are_left_alone() -> None:
    assert neutralise("PM4 KWAME") == "PM4 KWAME"
    assert neutralise(None) == ""


def test_csv_report_has_one_line_per_rejected_row_in_the_template_layout(job_with_errors: ImportJob) -> None:
    out = io.StringIO()
    error_report_csv(job=job_with_errors, out=out)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(lines[0]) == REPORT_HEADER
    assert [line[REPORT_HEADER.index("Row")] for line in lines[1:]] == ["3", "4", "5"]
    formula_row = lines[1]
    assert formula_row[REPORT_HEADER.index("First Name")] == '\'=HYPERLINK("http://evil")'
    assert "phone" in formula_row[-1].lower()
    assert lines[2][REPORT_HEADER.index("Last Name")] == "'-2+3"
    assert "row 2" in lines[3][-1].lower(), "an in-file duplicate names the earlier row"


def test_xlsx_report_cells_are_text_and_never_formulas(job_with_errors: ImportJob, tmp_path: Path) -> None:
    path = tmp_path / "rejected.xlsx"
    with path.open("wb") as out:
        error_report_xlsx(job=job_with_errors, out=out)
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == REPORT_HEADER
    assert len(rows) == 4
    for cell in sheet.iter_rows(min_row=2):
        for value in cell:
            assert value.data_type == "s", f"{value.coordinate} is {value.data_type}, not text"
    assert rows[1][REPORT_HEADER.index("First Name")] == '\'=HYPERLINK("http://evil")'


def test_neutralised_values_come_back_as_they_were_when_the_fixed_report_is_uploaded() -> None:
    from users.customers.normalise import normalise_phone, normalise_shipping_mark

    assert normalise_shipping_mark(neutralise("-PM1 KOFI")) == "-PM1 KOFI"
    assert normalise_phone(neutralise("+233241234567"), default_region="GH") == "+233241234567"
