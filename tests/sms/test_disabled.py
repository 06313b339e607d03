"""With Twilio unset, the service starts, imports, and reports SMS as disabled instead of failing."""

import pytest
from django.urls import reverse
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.imports.factories import customer_rows
from tests.workers import run_worker_until_idle
from users.imports.jobs import import_job_run
from users.imports.services import import_job_create_from_payload
from users.models import ImportJob, ImportStatus, SmsMessage, SmsStatus, User
from users.sms.selectors import sms_counts_for_import

# What Render has when nobody configured Twilio: the three variables empty, DEBUG off.
NO_TWILIO_ENV = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_PHONE_NUMBER": "",
    "SMS_BACKEND": "",
    "DEBUG": "false",
    "SECRET_KEY": "test-only-secret-key-for-a-worker-process-" + "0123456789abcdef" * 2,
}


@pytest.mark.django_db
def test_an_import_asking_for_texts_completes_and_its_api_reports_sms_disabled(
    sms_disabled: Settings, admin_user: User, admin_client: APIClient
) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(4), send_sms=True)
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 4)
    sms = admin_client.get(reverse("import-job-detail", args=[job.id])).json()["sms"]
    assert sms["disabled"] is True
    assert (sms["skipped"], sms["sent"], sms["failed"], sms["pending"]) == (4, 0, 0, 0)


@pytest.mark.slow
def test_a_worker_without_twilio_starts_imports_and_records_texts_as_skipped(
    transactional_db: None, sms_disabled: Settings, admin_user: User
) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(5), send_sms=True)
    run = run_worker_until_idle(timeout=90, extra_env=NO_TWILIO_ENV)
    job = ImportJob.objects.get(id=job.id)
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 5), run.output
    assert run.output.count("Twilio not configured — SMS functionality disabled") == 1, run.output
    assert set(SmsMessage.objects.filter(import_job=job).values_list("status", flat=True)) == {SmsStatus.SKIPPED}
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.skipped, counts.disabled) == (5, True)
