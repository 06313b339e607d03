"""Queueing welcome texts after an import: one per created customer, once, sent after commit."""

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings

from tests.sms.conftest import CustomerFactory, sms_runs_queued_for
from users.models import ImportJob, ImportStatus, SmsMessage, SmsStatus
from users.sms.selectors import sms_counts_for_import
from users.sms.services import sms_welcome_queue_for_import

pytestmark = pytest.mark.django_db


def sms_tasks_for(job: ImportJob) -> int:
    return len(sms_runs_queued_for(job))


def test_each_customer_the_import_created_gets_one_queued_text(
    twilio_settings: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    for n in range(3):
        make_customer(n, job=job)
    make_customer(10)  # created by hand
    make_customer(11, job=ImportJob.objects.create(status=ImportStatus.COMPLETE, send_sms=True))
    assert sms_welcome_queue_for_import(job_id=job.id) == 3
    assert set(SmsMessage.objects.values_list("import_job_id", "status").distinct()) == {(job.id, SmsStatus.QUEUED)}


def test_the_welcome_text_uses_the_template_with_name_and_shipping_mark(
    twilio_settings: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_WELCOME_TEMPLATE = "Hi {full_name}! Mark: {shipping_mark}."
    customer = make_customer(7, job=job, first_name="Kofi", last_name="Boateng", shipping_mark="PM4 KOFI")
    sms_welcome_queue_for_import(job_id=job.id)
    message = SmsMessage.objects.get()
    assert (message.to, message.body) == (customer.phone, "Hi Kofi Boateng! Mark: PM4 KOFI.")


def test_queueing_again_adds_no_second_text(
    twilio_settings: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    make_customer(1, job=job)
    sms_welcome_queue_for_import(job_id=job.id)
    make_customer(2, job=job)
    assert sms_welcome_queue_for_import(job_id=job.id) == 1, "only the customer without a text is queued"
    assert SmsMessage.objects.filter(import_job=job).count() == 2


def test_the_sending_task_is_enqueued_only_when_the_transaction_commits(
    twilio_settings: Settings,
    job: ImportJob,
    make_customer: CustomerFactory,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[list[Callable[[], None]]]],
) -> None:
    make_customer(1, job=job)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sms_welcome_queue_for_import(job_id=job.id)
    assert sms_tasks_for(job) == 0, "the worker must not look before the texts are committed"
    for callback in callbacks:
        callback()
    assert sms_tasks_for(job) == 1


def test_a_job_that_did_not_ask_for_texts_queues_none(
    twilio_settings: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    ImportJob.objects.filter(id=job.id).update(send_sms=False)
    make_customer(1, job=job)
    assert sms_welcome_queue_for_import(job_id=job.id) == 0
    assert not SmsMessage.objects.exists()


def test_with_sms_disabled_texts_are_recorded_as_skipped_and_nothing_is_enqueued(
    sms_disabled: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    make_customer(1, job=job)
    make_customer(2, job=job)
    assert sms_welcome_queue_for_import(job_id=job.id) == 0
    assert list(SmsMessage.objects.values_list("status", "last_error").distinct()) == [
        (SmsStatus.SKIPPED, "SMS disabled")
    ]
    assert sms_tasks_for(job) == 0
    counts = sms_counts_for_import(job_id=job.id)
    assert (counts.skipped, counts.disabled) == (2, True)


def test_a_template_with_an_unknown_placeholder_is_refused_before_anything_is_written(
    twilio_settings: Settings, job: ImportJob, make_customer: CustomerFactory
) -> None:
    twilio_settings.SMS_WELCOME_TEMPLATE = "Hello {name}"
    make_customer(1, job=job)
    with pytest.raises(ImproperlyConfigured, match="'name'"):
        sms_welcome_queue_for_import(job_id=job.id)
    assert not SmsMessage.objects.exists()


def test_queueing_reads_customers_in_batches_not_one_query_each(
    twilio_settings: Settings,
    job: ImportJob,
    make_customer: CustomerFactory,
    django_assert_max_num_queries: Callable[[int], AbstractContextManager[object]],
) -> None:
    for n in range(30):
        make_customer(n, job=job)
    with django_assert_max_num_queries(10):
        assert sms_welcome_queue_for_import(job_id=job.id) == 30
