"""The backends: which one settings choose, and the real twilio Client against the local stub."""

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from tests.sms.stub import TwilioStub, invalid_number, not_mobile, rate_limited, server_error, too_slow
from users.sms.backends import (
    BackendName,
    ConsoleBackend,
    DisabledBackend,
    SmsSendError,
    TwilioBackend,
    backend_name,
    get_backend,
    send_sms,
)

ROOT = Path(__file__).resolve().parents[2]
TO = "+233241234567"


def send_expecting_error(to: str = TO) -> SmsSendError:
    with pytest.raises(SmsSendError) as caught:
        send_sms(to=to, body="Hello")
    return caught.value


def test_twilio_backend_without_its_three_settings_is_disabled(settings: Settings) -> None:
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ENABLED = False
    assert backend_name() is BackendName.DISABLED
    assert isinstance(get_backend(), DisabledBackend)


def test_console_backend_logs_the_text_instead_of_sending_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.INFO, logger="users.sms.backends"):
        result = send_sms(to=TO, body="Hello Ama")
    assert isinstance(get_backend(), ConsoleBackend)
    assert result.sent and result.sid == ""
    assert "Hello Ama" in caplog.text
    assert "+23324•••4567" in caplog.text and TO not in caplog.text, "the number is masked, as in every log line"


def test_disabled_backend_does_nothing(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    settings.SMS_BACKEND = "disabled"
    with caplog.at_level(logging.DEBUG):
        result = send_sms(to=TO, body="Hello")
    assert not result.sent
    assert caplog.text == "", "the disabled backend's one warning is at start-up, not per text"


def test_twilio_backend_sends_through_the_messages_api(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    result = send_sms(to=TO, body="Hello Ama")
    [request] = twilio_stub.requests_to(TO)
    assert result.sent and result.sid.startswith("SM") and len(result.sid) == 34
    assert (request.account_sid, request.from_, request.body) == (ACCOUNT_SID, FROM_NUMBER, "Hello Ama")
    assert (request.username, request.password) == (ACCOUNT_SID, AUTH_TOKEN), "HTTP basic auth with the SID"


def test_invalid_to_number_is_a_permanent_error(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_stub.script(TO, invalid_number(TO))
    error = send_expecting_error()
    assert (error.code, error.transient) == ("21211", False)
    assert "not a valid phone number" in error.message


def test_number_that_is_not_mobile_is_a_permanent_error(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_stub.script(TO, not_mobile(TO))
    error = send_expecting_error()
    assert (error.code, error.transient) == ("21614", False)


def test_rate_limit_is_transient(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_stub.script(TO, rate_limited())
    error = send_expecting_error()
    assert (error.code, error.transient) == ("20429", True)


def test_server_error_is_transient(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_stub.script(TO, server_error())
    error = send_expecting_error()
    assert (error.code, error.transient) == ("20500", True)


def test_timeout_is_transient(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_stub.script(TO, too_slow(1.5))
    error = send_expecting_error()
    assert (error.code, error.transient) == ("timeout", True)


def test_refused_connection_is_transient(twilio_settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    twilio_settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"
    error = send_expecting_error()
    assert (error.code, error.transient) == ("connection_error", True)


def test_wrong_credentials_are_a_permanent_error(twilio_settings: Settings, twilio_stub: TwilioStub) -> None:
    twilio_settings.TWILIO_AUTH_TOKEN = "wrong"
    error = send_expecting_error()
    assert (error.code, error.transient) == ("20003", False)


def test_the_auth_token_never_shows_in_the_backend_repr(twilio_settings: Settings) -> None:
    assert AUTH_TOKEN not in repr(get_backend())
    assert isinstance(get_backend(), TwilioBackend)


def test_twilio_is_imported_only_when_a_text_is_sent_through_it() -> None:
    probe = (
        "import sys, django; django.setup()\n"
        "from users.sms.backends import get_backend\n"
        "from users.sms import services, selectors, tasks\n"
        "backend = get_backend()\n"
        "print(type(backend).__name__, 'twilio' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "primepre.settings",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_PHONE_NUMBER": FROM_NUMBER,
        "SMS_BACKEND": "twilio",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TwilioBackend", "False"], "twilio was imported before any text was sent"
    assert AUTH_TOKEN not in result.stderr
