"""Where a text goes — Twilio, the log, or nowhere — chosen by settings.SMS_BACKEND.

SMS is optional: with Twilio unconfigured nothing here fails, and the
twilio library is imported only when a message is actually sent through it, so
the web process and imports never pay for it. Each backend reports a failure as
an `SmsSendError` that says whether trying again could help, so the retry code
in services stays a single `if`.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from users.masking import mask_personal_data, mask_phone

if TYPE_CHECKING:
    from twilio.rest import Client

logger = logging.getLogger(__name__)


class BackendName(StrEnum):
    TWILIO = "twilio"
    CONSOLE = "console"
    DISABLED = "disabled"


@dataclass(frozen=True)
class SendResult:
    """What a backend did with one text: `sid` is the provider's id, empty when no provider saw it."""

    sent: bool
    sid: str = ""


class SmsSendError(Exception):
    """A text was not accepted; `transient` says whether the same request may succeed later.

    Transient: Twilio's 429 and 5xx, timeouts, connection failures. Permanent:
    every other 4xx, e.g. 21211 (invalid 'To') or 21614 (not a mobile number),
    which no retry can fix.
    """

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


class SmsBackend(Protocol):
    name: BackendName

    def send(self, *, to: str, body: str) -> SendResult: ...


class DisabledBackend:
    """SMS is off: nothing is sent. The one warning is logged at start-up (users/apps.py)."""

    name = BackendName.DISABLED

    def send(self, *, to: str, body: str) -> SendResult:
        return SendResult(sent=False)


class ConsoleBackend:
    """Development: the text goes to the log instead of a phone, with the number masked as in every log line."""

    name = BackendName.CONSOLE

    def send(self, *, to: str, body: str) -> SendResult:
        logger.info("SMS (console backend, not sent) to=%s body=%r", mask_phone(to), mask_personal_data(body))
        return SendResult(sent=True)


class TwilioBackend:
    """Twilio's Messages API through the official client, one HTTP session per backend instance."""

    name = BackendName.TWILIO

    def __init__(
        self, *, account_sid: str, auth_token: str, from_number: str, api_base_url: str = "", timeout: float = 10.0
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from_number = from_number
        self._api_base_url = api_base_url
        self._timeout = timeout
        self._client: Client | None = None

    def __repr__(self) -> str:
        # Never the token, even in a traceback's locals.
        return f"TwilioBackend(account_sid={self._account_sid!r}, from_number={self._from_number!r})"

    def _get_client(self) -> "Client":
        if self._client is None:
            from twilio.rest import Client

            from users.sms.twilio_http import RebasedTwilioHttpClient

            http_client = RebasedTwilioHttpClient(base_url=self._api_base_url, timeout=self._timeout)
            self._client = Client(self._account_sid, self._auth_token, http_client=http_client)
        return self._client

    def send(self, *, to: str, body: str) -> SendResult:
        from requests import exceptions as http_errors
        from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

        client = self._get_client()
        try:
            message = client.messages.create(to=to, from_=self._from_number, body=body)
        except TwilioRestException as exc:
            raise _api_error(status=exc.status, code=exc.code, message=exc.msg) from exc
        except TwilioServiceException as exc:
            raise _api_error(status=exc.status, code=exc.code, message=exc.detail or exc.title) from exc
        except http_errors.Timeout as exc:
            # Includes ConnectTimeout, so it must come before ConnectionError.
            raise SmsSendError("timeout", f"Twilio did not answer within {self._timeout:g} s", transient=True) from exc
        except http_errors.ConnectionError as exc:
            raise SmsSendError("connection_error", "Could not connect to Twilio", transient=True) from exc
        except TwilioException as exc:
            raise SmsSendError("twilio_error", str(exc), transient=False) from exc
        return SendResult(sent=True, sid=message.sid or "")


def _api_error(*, status: int, code: int | None, message: str) -> SmsSendError:
    transient = status == 429 or status >= 500
    return SmsSendError(str(code or status), message or f"Twilio answered HTTP {status}", transient=transient)


def backend_name() -> BackendName:
    """The backend that will really be used: `twilio` without its three settings means disabled."""
    name = BackendName(settings.SMS_BACKEND)
    if name is BackendName.TWILIO and not settings.TWILIO_ENABLED:
        return BackendName.DISABLED
    return name


def sms_enabled() -> bool:
    return backend_name() is not BackendName.DISABLED


def get_backend() -> SmsBackend:
    """A new backend for the current settings; keep it for a run of sends so Twilio's connection is reused."""
    name = backend_name()
    if name is BackendName.TWILIO:
        return TwilioBackend(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_PHONE_NUMBER,
            api_base_url=settings.TWILIO_API_BASE_URL,
            timeout=settings.TWILIO_TIMEOUT,
        )
    if name is BackendName.CONSOLE:
        return ConsoleBackend()
    return DisabledBackend()


def send_sms(*, to: str, body: str) -> SendResult:
    """Send one text now through the configured backend; raises SmsSendError if it was not accepted.

    No retries and no record: welcome texts go through services.sms_send_for_import,
    which adds both. This is for one-off texts (and the shell).
    """
    return get_backend().send(to=to, body=body)
