"""Welcome texts through real worker processes: import to text, a worker killed mid-send, two workers at once."""

import time

import pytest
from pytest_django.fixtures import Settings

from tests.imports.factories import customer_rows
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, CustomerFactory
from tests.sms.stub import TwilioStub, invalid_number, rate_limited, too_slow
from tests.workers import LiveWorker, run_worker_until_idle
from users.imports.services import import_job_create_from_payload
from users.models import Customer, ImportJob, ImportStatus, SmsMessage, SmsStatus, User
from users.sms.selectors import sms_counts_for_import
from users.sms.services import OUTCOME_UNKNOWN_CODE, sms_welcome_queue_for_import
from users.sms.tasks import send_import_sms

pytestmark = pytest.mark.slow


def twilio_env(stub: TwilioStub, **overrides: str) -> dict[str, str]:
    """The worker's environment: Twilio configured, pointed at the stub, with test-sized delays."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_PHONE_NUMBER": FROM_NUMBER,
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": stub.url,
        "TWILIO_TIMEOUT": "2",
        "SMS_MESSAGES_PER_SECOND": "200",
        "SMS_BASE_DELAY": "0.05",
        "SMS_MAX_DELAY": "0.2",
        **overrides,
    }


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_import_that_asked_for_texts_ends_with_each_customer_texted_once(
    transactional_db: None, twilio_settings: Settings, twilio_stub: TwilioStub, admin_user: User
) -> None:
    rows = customer_rows(6)
    rate_limited_phone, invalid_phone = "+233240000002", "+233240000003"  # rows 2 and 3, in E.164
    twilio_stub.script(rate_limited_phone, rate_limited())
    twilio_stub.script(invalid_phone, invalid_number(invalid_phone))
    job = import_job_create_from_payload(user=admin_user, customers=rows, send_sms=True)
    run = run_worker_until_idle(timeout=90, extra_env=twilio_env(twilio_stub))
    job = ImportJob.objects.get(id=job.id)
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 6), run.output
    per_phone = {c.phone: len(twilio_stub.requests_to(c.phone)) for c in Customer.objects.filter(import_job=job)}
    assert per_phone.pop(rate_limited_phone) == 2, "429, then sent on the retry"
    assert set(per_phone.values()) == {1}, f"one request per customer: {per_phone}"
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.sent, counts.failed, counts.pending, counts.disabled) == (5, 1, 0, False), run.output
    assert AUTH_TOKEN not in run.output


def test_a_worker_killed_mid_send_never_causes_a_second_text(
    transactional_db: None,
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
) -> None:
    customers = [make_customer(n, job=job) for n in range(5)]
    hung = customers[2]
    twilio_stub.script(hung.phone, too_slow(20))  # Twilio has the request; the answer never arrives in time
    sms_welcome_queue_for_import(job_id=job.id)
    worker = LiveWorker(extra_env=twilio_env(twilio_stub, TWILIO_TIMEOUT="60"))
    try:
        wait_until(lambda: twilio_stub.requests_to(hung.phone), timeout=60, what="the hung request")
    finally:
        worker.kill()  # SIGKILL between the claim and Twilio's answer
    assert SmsMessage.objects.get(customer=hung).status == SmsStatus.SENDING

    time.sleep(1.1)  # past SMS_SENDING_STALE_SECONDS=1 below
    sms_welcome_queue_for_import(job_id=job.id)  # what the sweep or an admin does: queue a run again
    run = run_worker_until_idle(timeout=60, extra_env=twilio_env(twilio_stub, SMS_SENDING_STALE_SECONDS="1"))
    hung_message = SmsMessage.objects.get(customer=hung)
    assert (hung_message.status, hung_message.error_code) == (SmsStatus.FAILED, OUTCOME_UNKNOWN_CODE), run.output
    assert len(twilio_stub.requests_to(hung.phone)) == 1, "at most once: the in-flight text is not sent again"
    others = [c for c in customers if c != hung]
    assert [len(twilio_stub.requests_to(c.phone)) for c in others] == [1, 1, 1, 1]
    assert sms_counts_for_import(job_id=job.id).sent == 4


def test_two_workers_sending_the_same_import_text_each_customer_once(
    transactional_db: None,
    twilio_settings: Settings,
    twilio_stub: TwilioStub,
    job: ImportJob,
    make_customer: CustomerFactory,
) -> None:
    customers = [make_customer(n, job=job) for n in range(40)]
    sms_welcome_queue_for_import(job_id=job.id)
    send_import_sms.enqueue(str(job.id))  # a second run for the same import, as a double sweep would queue
    env = twilio_env(twilio_stub, SMS_MESSAGES_PER_SECOND="40")
    workers = [LiveWorker(interval=0.1, extra_env=env) for _ in range(2)]
    try:
        wait_until(
            lambda: not SmsMessage.objects.filter(import_job=job, status__in=["queued", "sending"]).exists(),
            timeout=60,
            what="every text to be sent",
        )
    finally:
        outputs = [worker.output() for worker in workers]
        for worker in workers:
            worker.stop()
    per_phone = [len(twilio_stub.requests_to(c.phone)) for c in customers]
    assert per_phone == [1] * 40, f"double texts: {per_phone}\n" + "\n".join(outputs)


def test_two_imports_finishing_at_once_on_two_workers_send_no_more_than_the_daily_limit(
    transactional_db: None, twilio_settings: Settings, twilio_stub: TwilioStub, admin_user: User
) -> None:
    jobs = [
        import_job_create_from_payload(user=admin_user, customers=customer_rows(6, start=1 + 6 * n), send_sms=True)
        for n in range(2)
    ]
    env = twilio_env(twilio_stub, SMS_DAILY_LIMIT="7")
    workers = [LiveWorker(interval=0.1, extra_env=env) for _ in range(2)]
    try:
        wait_until(
            lambda: SmsMessage.objects.count() == 12
            and not SmsMessage.objects.filter(status__in=["queued", "sending"]).exists(),
            timeout=90,
            what="both imports' texts to be sent or refused",
        )
    finally:
        outputs = [worker.output() for worker in workers]
        for worker in workers:
            worker.stop()
    log = "\n".join(outputs)
    assert len(twilio_stub.received) == 7, f"{len(twilio_stub.received)} texts sent for a limit of 7\n{log}"
    counts = [sms_counts_for_import(job_id=job.id) for job in jobs]
    assert sum(c.sent for c in counts) == 7 and sum(c.refused_daily_limit for c in counts) == 5, counts
    assert "[SMS-REFUSED]" in log
