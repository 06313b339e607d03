"""The tagged log lines ops read in Render's log stream: each with the job id, failures capped at 100."""

import logging

import pytest

from tests.imports.factories import customer_row, customer_rows
from users.imports.jobs import import_job_run
from users.imports.services import import_job_create_from_payload
from users.models import User

pytestmark = pytest.mark.django_db


def test_an_import_logs_each_stage_once_with_its_job_id(admin_user: User, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rows = customer_rows(50) + [customer_row(1000 + n, phone="x") for n in range(150)]
    job = import_job_create_from_payload(user=admin_user, customers=rows)
    import_job_run(job_id=job.id)
    lines = [r.getMessage() for r in caplog.records]
    for tag in (
        "[EXCEL-UPLOAD-START]",
        "[EXCEL-UPLOAD-FILE]",
        "[EXCEL-UPLOAD-PROCESS]",
        "[EXCEL-UPLOAD-COMPLETE]",
        "[BULK-CREATE-START]",
        "[BULK-CREATE-COMPLETE]",
    ):
        tagged = [line for line in lines if line.startswith(tag)]
        assert len(tagged) == 1, f"{tag} logged {len(tagged)} times"
        assert f"job={job.id}" in tagged[0]
    progress = [line for line in lines if line.startswith("[BULK-CREATE-PROGRESS]")]
    assert progress, "progress is logged at least for the first and the last batch"
    assert len(progress) == len(set(progress)), "the last batch is logged once"
    assert "Batch" in progress[-1] and "rows/s" in progress[-1] and "RSS" in progress[-1]
    assert "Processed 200" in progress[-1] and "Created 50" in progress[-1] and "Failed 150" in progress[-1]
    failures = [line for line in lines if line.startswith("[BULK-CREATE-FAIL]")]
    assert len(failures) == 101, "the first 100 failed rows, then one summary line"
    assert "Row 1001:" in failures[0]
    assert "50 more failed rows" in failures[-1]
    complete = next(line for line in lines if line.startswith("[BULK-CREATE-COMPLETE]"))
    assert "created=50" in complete and "failed=150" in complete and "seconds=" in complete
