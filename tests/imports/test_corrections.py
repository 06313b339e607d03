"""Correcting rejected rows: checked as the pipeline checks a row, stored beside it, imported by the commit."""

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.imports.checkstep import dry_run, run, sheet_with_rejected_rows, template_row
from tests.imports.spreadsheets import HEADER, write_csv
from users.imports import corrections
from users.imports.corrections import import_row_correct
from users.imports.errors import RefusalCode, ServiceError
from users.imports.rowkeys import import_row_keys_prune, rows_with_keys
from users.imports.services import import_job_cancel, import_job_commit, import_job_create
from users.imports.storage import stored_file_open
from users.models import (
    AuditAction,
    Customer,
    DuplicatePolicy,
    ImportAuditEntry,
    ImportJob,
    ImportKeyBlock,
    ImportRowCorrection,
    ImportRowError,
    ImportStatus,
    RowErrorCode,
    RowOutcome,
    User,
    UserRole,
)

pytestmark = pytest.mark.django_db

# Enough rows that a worker is still committing them when the test kills it.
ROWS_TO_KILL = 30_000
COUNTS = ("total_rows", "valid_rows", "failed_count", "skipped_count", "duplicates_in_file", "existing_matches")


def counts(job: ImportJob) -> dict[str, int]:
    job.refresh_from_db()
    return {name: getattr(job, name) for name in COUNTS}


@pytest.fixture
def owner(db: None) -> User:
    user = User.objects.create_user("0241000011", "pw", first_name="Ama", last_name="Admin", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_customer", "change_customer"]))
    return user


@pytest.fixture
def checked(owner: User, tmp_path: Path) -> ImportJob:
    """40 rows checked: 36 valid; rows 5 (phone), 9 (email), 14 (mark) invalid, row 20 repeats row 3."""
    job = dry_run(owner, sheet_with_rejected_rows(tmp_path / "march.xlsx"))
    assert counts(job) == {
        "total_rows": 40,
        "valid_rows": 36,
        "failed_count": 4,
        "skipped_count": 0,
        "duplicates_in_file": 1,
        "existing_matches": 0,
    }
    return job


def test_a_corrected_row_is_checked_stored_counted_and_recorded(owner: User, checked: ImportJob) -> None:
    result = import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})

    assert (result.verdict.outcome, result.changed) == ("create", True)
    assert counts(checked) | {"corrected": checked.corrected_rows} == {
        "total_rows": 40,
        "valid_rows": 37,
        "failed_count": 3,
        "skipped_count": 0,
        "duplicates_in_file": 1,
        "existing_matches": 0,
        "corrected": 1,
    }
    assert not ImportRowError.objects.filter(job=checked, row_number=5).exists(), "the row left the error report"
    correction = ImportRowCorrection.objects.get(job=checked, row_number=5)
    assert (correction.values["phone"], correction.phone, correction.corrected_by) == (
        "0240000099",
        "+233240000099",
        owner,
    )
    entry = ImportAuditEntry.objects.get(job=checked)
    assert (entry.action, entry.row_number, entry.user_name, entry.outcome) == (
        AuditAction.ROW_CORRECTED,
        5,
        "Ama Admin",
        "create",
    )
    assert entry.changes == [{"column": "Phone Number", "field": "phone", "before": "12345", "after": "0240000099"}]


def test_a_correction_that_still_fails_is_refused_field_by_field_and_changes_nothing(
    owner: User, checked: ImportJob
) -> None:
    before = counts(checked)

    with pytest.raises(ServiceError) as refused:
        import_row_correct(job=checked, user=owner, row_number=9, values={"email": "still@wrong", "phone": "1"})

    assert refused.value.code == RefusalCode.ROW_INVALID
    assert set(refused.value.extra["errors"]) == {"email", "phone"}, "each problem beside its field"
    assert refused.value.extra["row"]["values"]["email"] == "still@wrong"
    assert counts(checked) == before
    assert not ImportRowCorrection.objects.exists() and not ImportAuditEntry.objects.exists()
    assert ImportRowError.objects.filter(job=checked, row_number=9).get().value == "ama@@example"


def test_a_correction_taking_a_later_rows_phone_is_a_duplicate_of_that_row(owner: User, checked: ImportJob) -> None:
    later = template_row(30)  # row 31 of the sheet, valid and importable

    with pytest.raises(ServiceError) as refused:
        import_row_correct(job=checked, user=owner, row_number=5, values={"phone": later[4]})

    problem = refused.value.extra["row"]["problems"][0]
    assert (problem["code"], problem["duplicate_of_row"]) == ("duplicate_in_file", 31)
    assert problem["reason"] == "Same phone number as row 31."


def test_a_correction_is_checked_against_the_other_corrections(owner: User, checked: ImportJob) -> None:
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})

    with pytest.raises(ServiceError) as refused:
        import_row_correct(job=checked, user=owner, row_number=20, values={"phone": "0240000099", "email": "x@y.co"})
    import_row_correct(
        job=checked, user=owner, row_number=20, values={"shipping_mark": "PM NEW", "phone": "0240000098", "email": ""}
    )

    assert refused.value.extra["row"]["problems"][0]["reason"].startswith("Same phone number as row 5")
    assert counts(checked)["duplicates_in_file"] == 0, "row 20 is no longer a duplicate"


def test_a_row_corrected_again_is_judged_by_its_new_values_not_its_old_ones(owner: User, checked: ImportJob) -> None:
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000098"})

    import_row_correct(job=checked, user=owner, row_number=9, values={"email": "", "phone": "0240000099"})

    assert counts(checked)["valid_rows"] == 38
    assert ImportAuditEntry.objects.filter(job=checked).count() == 3


def test_the_same_values_again_store_nothing(owner: User, checked: ImportJob) -> None:
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})

    again = import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})

    assert again.changed is False
    assert ImportAuditEntry.objects.count() == 1


def test_a_correction_matching_an_existing_customer_is_skipped_under_skip(owner: User, checked: ImportJob) -> None:
    existing = Customer.objects.create(shipping_mark="PM OLD", first_name="A", last_name="B", phone="+233240000077")

    result = import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000077"})

    assert result.verdict.outcome == "skip"
    error = ImportRowError.objects.get(job=checked, row_number=5)
    assert (error.outcome, error.code, error.existing_customer_id) == (
        RowOutcome.SKIPPED,
        RowErrorCode.ALREADY_EXISTS,
        existing.pk,
    )
    assert counts(checked) | {} == {
        "total_rows": 40,
        "valid_rows": 36,
        "failed_count": 3,
        "skipped_count": 1,
        "duplicates_in_file": 1,
        "existing_matches": 1,
    }


def test_only_the_owner_corrects_rows_the_check_rejected_while_the_job_waits(owner: User, checked: ImportJob) -> None:
    colleague = User.objects.create_user("0241000012", "pw", user_role=UserRole.ADMIN, is_staff=True)
    colleague.user_permissions.add(Permission.objects.get(codename="add_customer"))

    refusals = {}
    for name, call in {
        "not theirs": lambda: import_row_correct(job=checked, user=colleague, row_number=5, values={"phone": "1"}),
        "a valid row": lambda: import_row_correct(job=checked, user=owner, row_number=2, values={"phone": "1"}),
        "no such column": lambda: import_row_correct(job=checked, user=owner, row_number=5, values={"notes": "x"}),
    }.items():
        with pytest.raises(ServiceError) as refused:
            call()
        refusals[name] = refused.value.code
    import_job_cancel(job=checked, user=owner)
    checked.refresh_from_db()
    with pytest.raises(ServiceError) as cancelled:
        import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})

    assert refusals == {
        "not theirs": RefusalCode.PERMISSION_DENIED,
        "a valid row": RefusalCode.NOT_FOUND,
        "no such column": RefusalCode.INVALID_OPTION,
    }
    assert cancelled.value.code == RefusalCode.NOT_VALIDATED


def test_counts_after_corrections_equal_a_fresh_check_of_the_file_with_them(
    owner: User, checked: ImportJob, tmp_path: Path
) -> None:
    Customer.objects.create(shipping_mark="PM OLD", first_name="A", last_name="B", phone="+233240000077")
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000077"})  # skipped
    import_row_correct(job=checked, user=owner, row_number=9, values={"email": "ama@example.com"})
    import_row_correct(
        job=checked, user=owner, row_number=20, values={"shipping_mark": "PM 20", "phone": "0249990020", "email": ""}
    )
    after_corrections = counts(checked)
    errors = sorted(ImportRowError.objects.filter(job=checked).values_list("row_number", "code", "outcome"))

    twin = ImportJob.objects.get(id=checked.id)
    twin.pk = None
    twin.id = None  # a copy of the job: same file, same options, its own id
    twin.status, twin.worker_id, twin.dry_run = ImportStatus.QUEUED, "", True
    twin.save()
    for correction in ImportRowCorrection.objects.filter(job=checked):
        correction.pk, correction.job = None, twin
        correction.save()
    run(twin)

    assert counts(twin) == after_corrections, "a correction changes the counts exactly as checking with it would"
    twin_errors = sorted(ImportRowError.objects.filter(job=twin).values_list("row_number", "code", "outcome"))
    assert twin_errors == errors


def test_the_commit_imports_corrected_rows_and_never_writes_the_uploaded_file(owner: User, checked: ImportJob) -> None:
    def stored_bytes() -> bytes:
        with stored_file_open(checked) as stored:
            return stored.read()

    fingerprint = hashlib.sha256(stored_bytes()).hexdigest()
    import_row_correct(job=checked, user=owner, row_number=5, values={"phone": "0240000099"})
    import_row_correct(job=checked, user=owner, row_number=14, values={"shipping_mark": "PM NEW 14"})

    job = run(import_job_commit(job=checked, user=owner))

    assert job.status == ImportStatus.COMPLETE
    assert (job.created_count, job.failed_count) == (38, 2)
    assert Customer.objects.get(import_row_number=5).phone == "+233240000099"
    assert Customer.objects.get(import_row_number=14).shipping_mark == "PM NEW 14"
    assert sorted(ImportRowError.objects.filter(job=job).values_list("row_number", flat=True)) == [9, 20]
    assert hashlib.sha256(stored_bytes()).hexdigest() == fingerprint, "the file is as uploaded"
    assert not ImportKeyBlock.objects.filter(job=job).exists(), "the keys kept for corrections are forgotten"


def test_the_commit_reads_corrections_a_page_at_a_time(
    owner: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [template_row(n) for n in range(1, 31)]
    for index in range(0, 30, 3):
        rows[index][4] = "123"  # ten rows with a bad phone
    job = dry_run(owner, write_csv(tmp_path / "ten-bad.csv", [HEADER, *rows]))
    for index in range(0, 30, 3):
        import_row_correct(job=job, user=owner, row_number=index + 2, values={"phone": f"02000000{index:02d}"})
    monkeypatch.setattr(corrections, "STREAM_PAGE", 3)

    job = run(import_job_commit(job=job, user=owner))

    assert (job.created_count, job.failed_count) == (30, 0)


def test_update_policy_counts_a_corrected_match_as_an_update(owner: User, tmp_path: Path) -> None:
    Customer.objects.create(shipping_mark="PM OLD", first_name="A", last_name="B", phone="+233240000077")
    uploaded = SimpleUploadedFile("m.xlsx", sheet_with_rejected_rows(tmp_path / "m.xlsx").read_bytes())
    job = run(import_job_create(user=owner, uploaded_file=uploaded, dry_run=True, on_duplicate=DuplicatePolicy.UPDATE))

    result = import_row_correct(job=job, user=owner, row_number=5, values={"phone": "0240000077"})
    job = run(import_job_commit(job=job, user=owner))

    assert result.verdict.outcome == "update"
    assert (job.created_count, job.updated_count) == (36, 1)
    assert Customer.objects.get(phone="+233240000077").shipping_mark == "PM00004", "the existing customer, updated"


def test_keys_are_recorded_while_the_job_waits_and_pruned_once_it_has_moved_on(owner: User, checked: ImportJob) -> None:
    keys = rows_with_keys(
        job_id=checked.id, keys=["p:+233240000031", "m:PM00007", "e:c9@example.com", "e:c8@example.com", "p:+1"]
    )

    assert keys == {"p:+233240000031": [32], "m:PM00007": [8], "e:c9@example.com": [10]}, "row 9 was rejected"
    assert import_row_keys_prune() == 0, "a job at the Check step keeps its keys"
    import_job_cancel(job=checked, user=owner)
    assert import_row_keys_prune() > 0
    assert not ImportKeyBlock.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_commit_killed_midway_resumes_with_its_corrections_and_imports_each_row_once(tmp_path: Path) -> None:
    """SIGKILL the worker a third of the way through committing a corrected file; another one finishes it."""
    from tests.workers import LiveWorker, wait_for_job

    owner = User.objects.create_user("0241000011", "pw", first_name="Ama", is_staff=True)
    owner.user_permissions.add(Permission.objects.get(codename="add_customer"))
    rows = [template_row(n) for n in range(1, ROWS_TO_KILL + 1)]
    broken = range(0, ROWS_TO_KILL, 1000)
    for index in broken:
        rows[index][4] = "not a phone"
    job = dry_run(owner, write_csv(tmp_path / "big.csv", [HEADER, *rows]))
    assert job.failed_count == len(broken)
    for index in broken:  # corrected on both sides of where the kill will land
        import_row_correct(job=job, user=owner, row_number=index + 2, values={"phone": f"0209{index:06d}"})
    job = import_job_commit(job=job, user=owner)

    environment = {"IMPORT_HEARTBEAT_STALE_SECONDS": "3", "IMPORT_TRANSACTION_ROWS": "500", "LOG_LEVEL": "INFO"}
    first = LiveWorker(extra_env=environment)
    try:
        wait_for_job(job.id, until=lambda j: j.processed_rows >= ROWS_TO_KILL // 3, timeout=120, worker=first)
    finally:
        first.kill()
    second = LiveWorker(extra_env=environment)
    try:
        job = wait_for_job(job.id, timeout=180, worker=second)
    finally:
        second.stop()

    assert job.status == ImportStatus.COMPLETE, f"{job.error_code}: {job.error_message}"
    assert "[IMPORT-RESUME]" in second.output(), "the second worker resumed the job from its checkpoint"
    assert (job.created_count, job.failed_count, job.total_rows) == (ROWS_TO_KILL, 0, ROWS_TO_KILL)
    corrected = set(Customer.objects.filter(phone__startswith="+233209").values_list("import_row_number", flat=True))
    assert corrected == {index + 2 for index in broken}, "every corrected row imported with its corrected phone"
    assert Customer.objects.count() == ROWS_TO_KILL, "no row imported twice"
