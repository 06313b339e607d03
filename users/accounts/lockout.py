"""django-axes's hooks: which phone a failed sign-in counts against, what a lockout answers, how long it lasts.

axes counts failed passwords in the database per client address and per phone
(settings: "Sign-in defences"). The phone is counted in the form the user
manager stores it, so `0241234567`, `+233 24 123 4567` and `233241234567` are
one phone to the lockout as they are one account to the login. A success clears
the phone's own failures (backends.PhoneBackend).

A lockout answers 429 with Retry-After and a sentence, in each way in's own
shape: the API raises its JSON error (users/api/auth.py), the sign-in pages show
the sentence in the form (forms.py), and axes's middleware gives those pages
their 429 through `lockout_response` below.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.request import Request

from users.logtags import LogTag
from users.masking import mask_phone

logger = logging.getLogger(__name__)

# axes keeps the phone in a 255-character column; anything longer is not a phone anyway.
USERNAME_MAX_LENGTH = 255
# Where the phone arrives: `phone` from the API and simplejwt, `username` from Django's sign-in forms.
PHONE_KEYS = ("phone", "username")

AnyRequest = HttpRequest | Request


@dataclass(frozen=True)
class Lockout:
    """A refused sign-in: how long until this phone and this address may try again."""

    seconds: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.seconds / 60))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        return (
            f"Too many failed sign-ins for this phone number or from your network. Try again in {self.minutes} {unit}."
        )


def lockout_phone(request: AnyRequest, credentials: Mapping[str, Any] | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the phone of a sign-in, normalised as the user manager stores it.

    Text that isn't a phone number can't be anyone's login; it is counted as
    typed (trimmed), so the client's address still accrues the failure.
    """
    raw = _first_value(credentials or {})
    if raw is None:
        raw = _first_value(getattr(request, "data", None) or request.POST)
    if raw is None or not str(raw).strip():
        return None
    from users.customers.normalise import InvalidValue
    from users.models import User

    try:
        return User.objects.normalize_phone(str(raw))
    except InvalidValue:
        return str(raw).strip()[:USERNAME_MAX_LENGTH]


def _first_value(data: Mapping[str, Any]) -> Any:
    for key in PHONE_KEYS:
        value = data.get(key)
        if value is not None:
            return value
    return None


def sign_in_lockout(request: AnyRequest) -> Lockout | None:
    """The lockout this request's sign-in ran into, or None.

    axes flags the request when it refuses a locked-out phone or address, and
    when this very failure reached the limit.
    """
    if not getattr(request, "axes_locked_out", False):
        return None
    return Lockout(seconds=_seconds_left(request, getattr(request, "axes_credentials", None)))


def _seconds_left(request: AnyRequest, credentials: Mapping[str, Any] | None) -> int:
    """Seconds until every lock on this request's phone and address has lifted.

    Failures are rows (one per phone, address and browser) that expire a
    cool-off after their latest failure. For each of the phone and the address
    that is over the limit, the oldest rows expire first; the lock lifts when
    what is left falls below the limit.
    """
    limit = get_failure_limit(request, credentials)
    cool_off: timedelta = get_cool_off(request)
    now = timezone.now()
    lifted = now
    for attempts in AxesProxyHandler.get_implementation().get_user_attempts(request, credentials):
        rows = list(attempts.order_by("attempt_time").values_list("attempt_time", "failures_since_start"))
        remaining = sum(failures for _, failures in rows)
        for attempt_time, failures in rows:
            if remaining < limit:
                break
            remaining -= failures
            lifted = max(lifted, attempt_time + cool_off)
    return max(1, math.ceil((lifted - now).total_seconds()))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Mapping[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the answer to a request whose sign-in ran into a lockout.

    The sign-in pages already show the lockout's sentence in their form
    (forms.py), so their page is kept and only its status becomes 429. Anything
    else gets the sentence alone: JSON under /api/, plain text elsewhere.
    """
    lockout = Lockout(seconds=_seconds_left(request, credentials))
    if request.path.startswith("/api/"):
        from users.api.errors import error_body

        response: HttpResponse = JsonResponse(error_body("locked_out", lockout.message), status=429)
    elif original_response is not None and original_response.get("Content-Type", "").startswith("text/html"):
        response = original_response
        response.status_code = 429
    else:
        response = HttpResponse(lockout.message, content_type="text/plain; charset=utf-8", status=429)
    response["Retry-After"] = str(lockout.seconds)
    return response


def lockout_log(*, request: AnyRequest, phone: str | None, ip_address: str | None) -> None:
    """Say once, tagged, that a phone or an address has just been locked out: never the password.

    axes signals every refused attempt; only the failure that reached the limit
    has its count worked out (axes_failures_since_start), so only it is logged.
    The lockout it starts lasts the whole cool-off.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    minutes = round(get_cool_off(request).total_seconds() / 60)
    masked = mask_phone(phone or "")
    logger.warning(
        "%s phone %s from %s: %s failed sign-ins; locked for %s minutes",
        LogTag.LOGIN_LOCKOUT,
        masked,
        ip_address or "an unknown address",
        failures,
        minutes,
        extra={"phone": masked, "ip_address": ip_address, "failures": failures},
    )


def lockout_clear(*, phone: str) -> None:
    """Forget a phone's failed sign-ins: its owner has just given the right password."""
    AxesProxyHandler.reset_attempts(username=phone)
