"""Sending runs against the Twilio stub: retries, backoff, throttling, at-most-once after a crash."""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from tests.sms.conftest import AUTH_TOKEN, CustomerFactory, sms_runs_queued_for
from tests.sms.stub import TwilioStub, invalid_number, not_mobile, rate_limited, server_error, too_slow
from users.logtags import LogTag
from users.models import Customer, ImportJob, SmsMessage, SmsStatus
from users.sms.selectors import sms_counts_for_import, sms_failures_for_import
from users.sms.services import (
    OUTCOME_UNKNOWN_CODE,
    sms_resume_stalled,
    sms_send_for_import,
    sms_welcome_queue_for_import,
)
from users.sms.tasks import send_import_sms

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def import_with_customers(job: ImportJob, make_customer: CustomerFactory, count: int) -> list[Customer]:
    customers = [make_customer(n, job=job) for n in range(count)]
    sms_welcome_queue_for_import(job_id=job.id)
    return customers


def message_for(customer: Customer) -> SmsMessage:
    return SmsMessage.objects.get(customer=customer)


def test_every_created_customer_is_texted_once_with_twilios_sid(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    customers = import_with_customers(job, make_customer, 5)
    send_import_sms.call(str(job.id))
    assert sorted(request.to for request in twilio_stub.received) == sorted(c.phone for c in customers)
    messages = SmsMessage.objects.filter(import_job=job)
    assert all(m.status == SmsStatus.SENT and m.twilio_sid.startswith("SM") and m.sent_at for m in messages)
    assert sms_counts_for_import(job_id=job.id).sent == 5


def test_rate_limited_text_is_retried_and_sent(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, rate_limited())
    send_import_sms.call(str(job.id))
    message = message_for(customer)
    assert (message.status, message.attempts) == (SmsStatus.SENT, 2), "429, then 201 on the retry"
    assert len(twilio_stub.requests_to(customer.phone)) == 2


def test_server_error_is_retried_and_sent(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, server_error())
    send_import_sms.call(str(job.id))
    assert (message_for(customer).status, message_for(customer).attempts) == (SmsStatus.SENT, 2)


def test_timed_out_text_is_retried_and_sent(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, too_slow(1.5))
    send_import_sms.call(str(job.id))
    assert (message_for(customer).status, message_for(customer).attempts) == (SmsStatus.SENT, 2)


@pytest.mark.parametrize("reply", [invalid_number, not_mobile], ids=["21211", "21614"])
def test_invalid_or_unreachable_number_fails_at_once_without_retry(
    reply: Callable[[str], object],
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
) -> None:
    bad, good = import_with_customers(job, make_customer, 2)
    twilio_stub.script(bad.phone, reply(bad.phone))
    send_import_sms.call(str(job.id))
    message = message_for(bad)
    assert (message.status, message.attempts) == (SmsStatus.FAILED, 1)
    assert len(twilio_stub.requests_to(bad.phone)) == 1, "a permanent error must not be retried"
    assert message_for(good).status == SmsStatus.SENT, "one bad number does not stop the others"
    [failure] = sms_failures_for_import(job_id=job.id)
    assert (failure.shipping_mark, failure.error_code) == (bad.shipping_mark, message.error_code)


def test_text_that_keeps_failing_gives_up_after_the_configured_retries(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, *[server_error()] * 10)
    send_import_sms.call(str(job.id))
    message = message_for(customer)
    assert (message.status, message.attempts) == (SmsStatus.FAILED, 4), "one try and SMS_MAX_RETRIES=3 retries"
    assert message.last_error.startswith("Gave up after 4 attempts")
    assert len(twilio_stub.requests_to(customer.phone)) == 4


def test_retries_wait_an_exponentially_growing_jittered_delay_within_bounds(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_BASE_DELAY = 0.2
    twilio_settings.SMS_MAX_DELAY = 0.5
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, rate_limited(), rate_limited(), rate_limited())
    send_import_sms.call(str(job.id))
    times = [request.at for request in twilio_stub.requests_to(customer.phone)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    caps = [0.2, 0.4, 0.5]  # base·2^(n-1), capped at SMS_MAX_DELAY
    assert len(gaps) == 3
    for n, (gap, cap) in enumerate(zip(gaps, caps, strict=True), start=1):
        assert cap / 2 <= gap <= cap + 0.25, f"retry {n} waited {gap:.3f} s; expected {cap / 2}..{cap} s"
    assert message_for(customer).status == SmsStatus.SENT


def test_sends_are_throttled_to_the_configured_rate(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_MESSAGES_PER_SECOND = 20.0
    import_with_customers(job, make_customer, 11)
    send_import_sms.call(str(job.id))
    times = sorted(request.at for request in twilio_stub.received)
    assert len(times) == 11
    assert times[-1] - times[0] >= 0.45, "11 texts at 20/s take at least 10 × 0.05 s"


def test_running_the_task_again_texts_nobody_twice(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    import_with_customers(job, make_customer, 3)
    send_import_sms.call(str(job.id))
    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.call(str(job.id))
    assert len(twilio_stub.received) == 3


def test_text_left_sending_by_a_crashed_worker_is_marked_failed_and_never_resent(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    in_flight, untouched = import_with_customers(job, make_customer, 2)
    # What a worker killed between its claim and Twilio's answer leaves behind.
    long_ago = timezone.now() - timedelta(seconds=twilio_settings.SMS_SENDING_STALE_SECONDS + 1)
    SmsMessage.objects.filter(customer=in_flight).update(status=SmsStatus.SENDING, attempts=1, updated_at=long_ago)
    send_import_sms.call(str(job.id))
    message = message_for(in_flight)
    assert (message.status, message.error_code) == (SmsStatus.FAILED, OUTCOME_UNKNOWN_CODE)
    assert "Outcome unknown" in message.last_error
    assert twilio_stub.requests_to(in_flight.phone) == [], "at most once: no second text after a crash"
    assert message_for(untouched).status == SmsStatus.SENT


def test_text_another_run_is_sending_right_now_is_left_alone(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    [customer] = import_with_customers(job, make_customer, 1)
    SmsMessage.objects.filter(customer=customer).update(status=SmsStatus.SENDING, attempts=1)
    send_import_sms.call(str(job.id))
    assert message_for(customer).status == SmsStatus.SENDING
    assert twilio_stub.received == []


def test_a_run_past_its_time_budget_hands_the_rest_to_a_new_run(
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    twilio_settings.SMS_TASK_MAX_SECONDS = 0
    import_with_customers(job, make_customer, 3)
    with django_capture_on_commit_callbacks(execute=True):
        result = sms_send_for_import(job_id=job.id)
    assert (result.sent, result.continues) == (1, True), "one text per run at least, then yield the worker"
    [run] = sms_runs_queued_for(job)
    assert run.priority < 0, "behind waiting imports"


def test_a_retry_too_long_to_sleep_through_is_left_to_a_run_scheduled_for_it(
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    twilio_settings.SMS_BASE_DELAY = 20.0
    twilio_settings.SMS_MAX_DELAY = 20.0
    twilio_settings.SMS_TASK_MAX_SECONDS = 2.0
    [customer] = import_with_customers(job, make_customer, 1)
    twilio_stub.script(customer.phone, rate_limited())
    with django_capture_on_commit_callbacks(execute=True):
        result = sms_send_for_import(job_id=job.id)
    message = message_for(customer)
    [run] = sms_runs_queued_for(job)
    assert (result.retried, result.continues, message.status) == (1, True, SmsStatus.QUEUED)
    assert message.next_attempt_at is not None
    assert abs((run.run_after - message.next_attempt_at).total_seconds()) < 0.01
    assert 10 <= (message.next_attempt_at - timezone.now()).total_seconds() <= 20


def test_texts_queued_before_sms_was_turned_off_are_skipped_not_sent(
    twilio_settings: Settings, twilio_stub: TwilioStub, job: ImportJob, make_customer: CustomerFactory
) -> None:
    import_with_customers(job, make_customer, 2)
    twilio_settings.TWILIO_ENABLED = False
    send_import_sms.call(str(job.id))
    assert twilio_stub.received == []
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.skipped, counts.disabled) == (2, True)


def test_texts_nobody_is_sending_are_queued_again_once_by_the_sweep(
    twilio_settings: Settings,
    job: ImportJob,
    make_customer: CustomerFactory,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    import_with_customers(job, make_customer, 2)
    long_ago = timezone.now() - timedelta(seconds=twilio_settings.SMS_SENDING_STALE_SECONDS + 1)
    SmsMessage.objects.update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        first, second = sms_resume_stalled(), sms_resume_stalled()
    assert (first, second) == ([job.id], []), "queued once, even when swept twice"
    assert len(sms_runs_queued_for(job)) == 1


def test_logs_tag_each_outcome_with_job_and_message_and_never_the_token(
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent, retried, failed = import_with_customers(job, make_customer, 3)
    twilio_stub.script(retried.phone, rate_limited())
    twilio_stub.script(failed.phone, invalid_number(failed.phone))
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="twilio"):
        send_import_sms.call(str(job.id))
    for tag, customer in ((LogTag.SMS_SEND, sent), (LogTag.SMS_RETRY, retried), (LogTag.SMS_FAIL, failed)):
        expected = f"{tag} job={job.id} message={message_for(customer).id} "
        assert any(record.getMessage().startswith(expected) for record in caplog.records), f"no {expected!r}"
    assert AUTH_TOKEN not in caplog.text
    assert failed.phone not in caplog.text, "numbers are masked in our logs"
