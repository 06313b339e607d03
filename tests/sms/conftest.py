"""Fixtures for the SMS tests: a Twilio stub server, settings that point at it, an import with customers."""

from collections.abc import Callable, Iterator

import pytest
from django_tasks_db.models import DBTaskResult
from pytest_django.fixtures import Settings

from tests.sms.stub import TwilioStub
from users.models import Customer, ImportJob, ImportStatus, Region

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "stub-auth-token-never-logged"
FROM_NUMBER = "+15005550006"


@pytest.fixture
def twilio_stub() -> Iterator[TwilioStub]:
    stub = TwilioStub(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    yield stub
    stub.stop()


@pytest.fixture
def twilio_settings(settings: Settings, twilio_stub: TwilioStub) -> Settings:
    """Twilio on, pointed at the stub, with delays short enough for a test and no throttling to speak of."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_PHONE_NUMBER = FROM_NUMBER
    settings.TWILIO_ENABLED = True
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = twilio_stub.url
    settings.TWILIO_TIMEOUT = 0.5
    settings.SMS_MESSAGES_PER_SECOND = 1000.0
    settings.SMS_MAX_RETRIES = 3
    settings.SMS_BASE_DELAY = 0.02
    settings.SMS_MAX_DELAY = 0.1
    settings.SMS_TASK_MAX_SECONDS = 30.0
    return settings


@pytest.fixture
def sms_disabled(settings: Settings) -> Settings:
    """As on a server with no Twilio variables and DEBUG off."""
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_PHONE_NUMBER = ""
    settings.TWILIO_ENABLED = False
    settings.SMS_BACKEND = "disabled"
    return settings


@pytest.fixture
def job(db: None) -> ImportJob:
    return ImportJob.objects.create(status=ImportStatus.COMPLETE, send_sms=True)


CustomerFactory = Callable[..., Customer]


@pytest.fixture
def make_customer(db: None) -> CustomerFactory:
    """A customer in normal form, unique by `n`; pass `job` to make it one that import created."""

    def make(n: int, *, job: ImportJob | None = None, **overrides: object) -> Customer:
        values: dict[str, object] = {
            "shipping_mark": f"PM{n:05d}",
            "first_name": f"Ama{n}",
            "last_name": "Mensah",
            "email": "",
            "phone": f"+23324{n:07d}",
            "region": Region.GREATER_ACCRA,
            "import_job": job,
        }
        values.update(overrides)
        return Customer.objects.create(**values)

    return make


def sms_runs_queued_for(job: ImportJob) -> list[DBTaskResult]:
    """The sending runs waiting in django-tasks-db's queue for this job."""
    runs = DBTaskResult.objects.filter(task_path="users.sms.tasks.send_import_sms", status="READY")
    return [run for run in runs if run.args_kwargs["args"] == [str(job.id)]]
