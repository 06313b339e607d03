"""`manage.py import_customers`: the same pipeline from the command line, as ops and scripts use it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.imports.spreadsheets import CUSTOMERS, HEADER, make_png, write_csv, write_xlsx
from tests.workers import worker_environment
from users.models import Customer, ImportJob, ImportStatus

ROOT = Path(__file__).resolve().parents[2]


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in a child process, as a person would run it, against the test database."""
    return subprocess.run(
        [sys.executable, "manage.py", "import_customers", *args],
        cwd=ROOT,
        env={**worker_environment(), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_json_mode_prints_exactly_one_object_with_every_row_accounted_for(tmp_path: Path) -> None:
    rows = [HEADER, *CUSTOMERS, ("PM9 BAD", "Yaw", "Asante", "not-an-email", "0241234599", "Volta")]
    result = run_command(str(write_xlsx(tmp_path / "customers.xlsx", rows)), "--json")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert set(outcome) == {
        "job_id",
        "status",
        "total_rows",
        "created",
        "updated",
        "skipped",
        "failed",
        "errors",
        "error",
        "seconds",
    }
    assert (outcome["status"], outcome["total_rows"], outcome["created"], outcome["failed"]) == ("COMPLETE", 4, 3, 1)
    assert outcome["errors"] == [
        {
            "row": 5,
            "column": "Email",
            "value": "not-an-email",
            "code": "email_invalid",
            "reason": outcome["errors"][0]["reason"],
        }
    ]
    assert outcome["error"] is None
    assert Customer.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_refused_file_exits_1_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    result = run_command(str(make_png(tmp_path / "customers.xlsx")), "--json")
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "FAILED" and "PNG" in outcome["error"]
    assert Customer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_dry_run_validates_without_writing(tmp_path: Path) -> None:
    result = run_command(str(write_csv(tmp_path / "c.csv", [HEADER, *CUSTOMERS])), "--dry-run", "--json")
    outcome = json.loads(result.stdout)
    assert (result.returncode, outcome["status"], outcome["total_rows"]) == (0, "VALIDATED", 3)
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_second_run_skips_every_row_or_updates_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(write_csv(tmp_path / "c.csv", [HEADER, *CUSTOMERS]))
    call_command("import_customers", path, "--json")
    capsys.readouterr()
    call_command("import_customers", path, "--json")
    skipped = json.loads(capsys.readouterr().out)
    assert (skipped["created"], skipped["skipped"]) == (0, 3)
    assert {e["code"] for e in skipped["errors"]} == {"already_exists"}
    call_command("import_customers", path, "--json", "--on-duplicate", "update")
    updated = json.loads(capsys.readouterr().out)
    assert (updated["created"], updated["updated"]) == (0, 3)


@pytest.mark.django_db
def test_without_json_it_prints_a_readable_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "c.csv", [HEADER, *CUSTOMERS, ("X", "A", "B", "", "0241234500", "")])
    call_command("import_customers", str(path))
    out = capsys.readouterr().out
    assert "Imported 4 rows" in out
    assert "created: 3" in out and "failed: 1" in out
    assert "row 5: Shipping Mark:" in out
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.COMPLETE and job.original_filename == "c.csv"


def test_the_command_is_documented_in_its_help() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "import_customers", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        timeout=60,
    )
    for option in ("--dry-run", "--on-duplicate", "--sheet", "--user", "--json"):
        assert option in result.stdout
