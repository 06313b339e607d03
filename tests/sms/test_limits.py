"""Welcome texts that can't be abused: allowed countries only, a daily limit the database enforces, refusals counted.

Sending goes through the real twilio Client to the local stub (tests/sms/stub.py);
the counts are read over HTTP with a real JWT, as the page and the frontend read them.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.sms.conftest import CustomerFactory
from tests.sms.stub import TwilioStub, rate_limited
from users.logtags import LogTag
from users.models import ImportJob, SmsDailyCount, SmsMessage, SmsStatus, User
from users.sms.limits import COUNTRY_BLOCKED, DAILY_LIMIT, sms_daily_count, sms_daily_slot_take, sms_today
from users.sms.selectors import sms_counts_for_import
from users.sms.services import sms_welcome_queue_for_import
from users.sms.tasks import send_import_sms

# An American, a Nigerian and a Ghanaian number: only the last is a customer Primepre texts by default.
US_PHONE, NG_PHONE = "+14155550100", "+2348031234567"


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith(LogTag.SMS_REFUSED)]


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


# --- countries --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_texts_to_countries_not_allowed_are_refused_counted_and_logged_never_sent(
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ghanaian = make_customer(1, job=job)
    make_customer(2, job=job, phone=US_PHONE)
    make_customer(3, job=job, phone=NG_PHONE)

    with caplog.at_level(logging.WARNING):
        queued = sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))

    assert queued == 1, "only the Ghanaian number is queued to send"
    assert [request.to for request in twilio_stub.received] == [ghanaian.phone]
    refused = SmsMessage.objects.get(to=US_PHONE)
    assert (refused.status, refused.error_code) == (SmsStatus.REFUSED, COUNTRY_BLOCKED)
    assert "the number is in US" in refused.last_error and "GH" in refused.last_error
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.sent, counts.refused, counts.refused_country, counts.total) == (1, 2, 2, 3)
    [line] = refusal_lines(caplog)
    assert "2 welcome texts refused" in line and "country is not allowed" in line, line
    assert "US 1" in line and "NG 1" in line, "which countries, so ops can tell a typo from an attack"


@pytest.mark.django_db
def test_another_country_can_be_allowed(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_ALLOWED_COUNTRIES = ["GH", "NG"]
    make_customer(1, job=job, phone=NG_PHONE)

    assert sms_welcome_queue_for_import(job_id=job.id) == 1
    send_import_sms.call(str(job.id))

    assert [request.to for request in twilio_stub.received] == [NG_PHONE]


# --- the daily limit --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_past_the_daily_limit_texts_are_refused_with_why_and_one_log_line(
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    twilio_settings.SMS_DAILY_LIMIT = 3
    for n in range(5):
        make_customer(n, job=job)

    sms_welcome_queue_for_import(job_id=job.id)
    with caplog.at_level(logging.WARNING):
        send_import_sms.call(str(job.id))

    assert len(twilio_stub.received) == 3
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.sent, counts.refused_daily_limit, counts.pending) == (3, 2, 0)
    reasons = set(SmsMessage.objects.filter(status=SmsStatus.REFUSED).values_list("error_code", "last_error"))
    assert reasons == {(DAILY_LIMIT, f"Not sent: the service's limit of 3 welcome texts a day (SMS_DAILY_LIMIT) "
                                     f"was reached on {sms_today()}.")}  # fmt: skip
    [line] = refusal_lines(caplog)
    assert "2 welcome texts refused" in line and "limit of 3 texts a day" in line, line
    assert sms_daily_count(day=sms_today()) == 3


@pytest.mark.django_db
def test_the_limit_is_the_whole_services_not_each_imports(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_DAILY_LIMIT = 4
    SmsDailyCount.objects.create(day=sms_today(), texts=3)  # another import's texts earlier today
    for n in range(3):
        make_customer(n, job=job)

    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))

    assert len(twilio_stub.received) == 1
    assert sms_counts_for_import(job_id=job.id).refused_daily_limit == 2


@pytest.mark.django_db
def test_a_retried_text_takes_one_slot_not_one_per_attempt(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_DAILY_LIMIT = 1
    customer = make_customer(1, job=job)
    twilio_stub.script(customer.phone, rate_limited())  # 429, then accepted

    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))

    message = SmsMessage.objects.get()
    assert (message.status, message.attempts) == (SmsStatus.SENT, 2)
    assert sms_daily_count(day=sms_today()) == 1


@pytest.mark.django_db
def test_yesterdays_texts_do_not_count_today(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_DAILY_LIMIT = 2
    SmsDailyCount.objects.create(day=sms_today() - timedelta(days=1), texts=2)
    make_customer(1, job=job)

    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))

    assert len(twilio_stub.received) == 1


@pytest.mark.django_db
def test_a_limit_of_zero_sends_nothing(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_DAILY_LIMIT = 0
    make_customer(1, job=job)

    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))

    assert twilio_stub.received == [] and sms_counts_for_import(job_id=job.id).refused_daily_limit == 1


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_the_last_slots_get_exactly_the_limit() -> None:
    """Eight threads, each with its own database connection, ask for 25 slots each at the same moment."""
    day, limit, threads_count, attempts = sms_today(), 50, 8, 25
    barrier = threading.Barrier(threads_count)
    granted: list[bool] = []

    def take() -> None:
        try:
            barrier.wait()
            granted.extend(sms_daily_slot_take(day=day, limit=limit) for _ in range(attempts))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert granted.count(True) == limit, f"{granted.count(True)} slots granted for a limit of {limit}"
    assert sms_daily_count(day=day) == limit


# --- where the counts are shown ---------------------------------------------------------------------------------


@pytest.fixture
def job_with_refusals(admin_user: User, make_customer: CustomerFactory) -> ImportJob:
    job = ImportJob.objects.create(created_by=admin_user, status="COMPLETE", send_sms=True, created_count=4)
    outcomes = [
        (SmsStatus.SENT, ""),
        (SmsStatus.REFUSED, COUNTRY_BLOCKED),
        (SmsStatus.REFUSED, DAILY_LIMIT),
        (SmsStatus.REFUSED, DAILY_LIMIT),
    ]
    for n, (status, code) in enumerate(outcomes):
        customer = make_customer(n, job=job)
        SmsMessage.objects.create(
            customer=customer, import_job=job, to=customer.phone, body="Hi", status=status, error_code=code
        )
    return job


@pytest.mark.django_db
def test_refused_texts_are_counted_in_the_job_api_and_the_frontends_task_status(
    twilio_settings: Settings, admin_user: User, job_with_refusals: ImportJob
) -> None:
    client = bearer(admin_user)
    detail = client.get(f"/api/imports/{job_with_refusals.id}/").json()["sms"]
    status = client.get(f"/api/auth/customers/excel/bulk-create/status/{job_with_refusals.id}/").json()["sms"]

    for sms in (detail, status):
        assert (sms["sent"], sms["refused"], sms["refused_country"], sms["refused_daily_limit"], sms["total"]) == (
            1,
            3,
            1,
            2,
            4,
        ), sms
