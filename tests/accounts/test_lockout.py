"""No password can be guessed: after LOGIN_LOCKOUT_FAILURES wrong passwords a phone, or a client address, is locked out.

Each of the four ways in is driven over HTTP through the whole middleware stack
with real credentials, as its own client uses it: JSON for the API, a form post
for the sign-in pages. The counts live in the database (django-axes), so what
one request records the next one sees, whichever process serves it
(test_shared_counters.py proves that across gunicorn workers).
"""

import logging
from typing import Any

import pytest

from tests.accounts.conftest import CLIENT_IP, LOCKOUT_SENTENCE, OTHER_IP, PROXY_IP, WayIn
from tests.conftest import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

PHONE = "0241000001"  # admin_user's phone, +233241000001
WRONG = "not-the-password"
LIMIT = 5  # LOGIN_LOCKOUT_FAILURES's default
COOL_OFF_SECONDS = 15 * 60  # LOGIN_LOCKOUT_MINUTES's default


@pytest.fixture(autouse=True)
def _no_request_rates(settings: Any) -> None:
    """Only the lockout under test: DRF's per-minute rates are tested in test_rate_limits.py."""
    settings.LOGIN_RATE_PER_MINUTE = 0


def fail(way_in: WayIn, times: int, *, phone: str = PHONE, **client: Any) -> list[int]:
    return [way_in.attempt(phone, WRONG, **client).status_code for _ in range(times)]


def assert_locked_out(way_in: WayIn, response: Any) -> None:
    """429, Retry-After, and the sentence in the way in's own shape: the JSON envelope, or the page's own form."""
    assert response.status_code == 429, f"{way_in.name} answered {response.status_code}, not 429"
    retry_after = int(response["Retry-After"])
    assert COOL_OFF_SECONDS - 5 <= retry_after <= COOL_OFF_SECONDS, f"Retry-After {retry_after}"
    if way_in.is_api:
        body = response.json()
        assert body["success"] is False and body["code"] == "locked_out", body
        assert body["message"].startswith(LOCKOUT_SENTENCE) and "Try again in 15 minutes." in body["message"]
        assert "tokens" not in body and "access" not in body
    else:
        html = response.content.decode()
        assert LOCKOUT_SENTENCE in html and "Try again in 15 minutes." in html
        page_look = 'class="card auth"' if way_in.name == "/accounts/login/" else 'id="login-form"'
        assert page_look in html, "the sentence is shown in the sign-in page itself, not axes's bare text"


def test_wrong_passwords_are_refused_then_the_phone_is_locked_out_with_429(admin_user: User, way_in: WayIn) -> None:
    refused = fail(way_in, LIMIT - 1)
    locking = way_in.attempt(PHONE, WRONG)

    assert refused == [way_in.failure_status] * (LIMIT - 1), "below the limit a wrong password is just refused"
    assert_locked_out(way_in, locking)


def test_the_right_password_is_refused_during_the_lockout(admin_user: User, way_in: WayIn) -> None:
    fail(way_in, LIMIT)

    response = way_in.attempt(PHONE, PASSWORD)

    assert_locked_out(way_in, response)


def test_another_phone_from_another_address_is_unaffected(admin_user: User, other_admin: User, way_in: WayIn) -> None:
    fail(way_in, LIMIT)

    response = way_in.attempt("0241000003", PASSWORD, ip=OTHER_IP)

    assert response.status_code == way_in.success_status, response.content[:300]


def test_the_locked_phone_stays_locked_from_any_address(admin_user: User, way_in: WayIn) -> None:
    fail(way_in, LIMIT)

    response = way_in.attempt(PHONE, PASSWORD, ip=OTHER_IP)

    assert_locked_out(way_in, response)


def test_the_locked_out_address_is_refused_for_every_phone(admin_user: User, other_admin: User) -> None:
    """One address trying many phones (password spraying) is locked out by its address."""
    from tests.accounts.conftest import WAYS_IN

    api = WAYS_IN[0]
    for number in range(LIMIT):
        api.attempt(f"02410099{number:02d}", WRONG)

    response = api.attempt("0241000003", PASSWORD)

    assert_locked_out(api, response)


def test_a_success_resets_the_phones_count(admin_user: User, way_in: WayIn) -> None:
    fail(way_in, LIMIT - 1)
    assert way_in.attempt(PHONE, PASSWORD).status_code == way_in.success_status

    after_success = fail(way_in, LIMIT - 1)

    assert after_success == [way_in.failure_status] * (LIMIT - 1), "the count started again from zero"


@pytest.mark.parametrize("spellings", [("0241000001", "+233 24 100 0001", "233241000001", "024 100 0001")])
def test_the_phone_in_another_written_form_counts_as_the_same_phone(
    admin_user: User, way_in: WayIn, spellings: tuple[str, ...]
) -> None:
    # Each failure from its own address, so only the phone's count can reach the limit.
    for number in range(LIMIT - 1):
        way_in.attempt(spellings[number % len(spellings)], WRONG, ip=f"203.0.113.{100 + number}")

    response = way_in.attempt("+233241000001", WRONG, ip=OTHER_IP)

    assert_locked_out(way_in, response)


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(settings: Any, admin_user: User, way_in: WayIn) -> None:
    """A client can't dodge its address's count by inventing a new X-Forwarded-For for each guess."""
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(LIMIT):
        way_in.attempt(f"02410099{number:02d}", WRONG, forwarded=f"192.0.2.{number + 1}")

    response = way_in.attempt(PHONE, PASSWORD, forwarded="192.0.2.200")

    assert_locked_out(way_in, response)


def test_x_forwarded_for_is_honoured_behind_a_trusted_proxy(settings: Any, admin_user: User, way_in: WayIn) -> None:
    """Behind the proxy every request comes from the proxy's address; the client it names is the one counted."""
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(LIMIT):
        way_in.attempt(f"02410099{number:02d}", WRONG, ip=PROXY_IP, forwarded=CLIENT_IP)

    locked = way_in.attempt(PHONE, PASSWORD, ip=PROXY_IP, forwarded=CLIENT_IP)
    another_client = way_in.attempt(PHONE, PASSWORD, ip=PROXY_IP, forwarded=f"evil-spoof, {OTHER_IP}")

    assert_locked_out(way_in, locked)
    assert another_client.status_code == way_in.success_status, "another client behind the same proxy is not locked"


def test_the_lockout_is_logged_once_with_the_masked_phone_and_the_address_never_the_password(
    admin_user: User, way_in: WayIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        fail(way_in, LIMIT + 3)
        way_in.attempt(PHONE, PASSWORD)

    lockouts = [record.getMessage() for record in caplog.records if "[LOGIN-LOCKOUT]" in record.getMessage()]
    assert lockouts == [
        f"[LOGIN-LOCKOUT] phone +23324•••0001 from {CLIENT_IP}: {LIMIT} failed sign-ins; locked for 15 minutes"
    ]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert WRONG not in logged and PASSWORD not in logged, "a password reached the log"


@pytest.mark.parametrize("path", ["/api/auth/login/", "/api/auth/token/"])
def test_a_phone_longer_than_any_phone_is_a_400_before_any_password_check(admin_user: User, path: str) -> None:
    """A long "phone" would cost normalising time; it is refused as input, and not counted as a guess.

    3,000 digits fit the 4 KB sign-in body limit; a megabyte is refused before it is read (tests/api/test_limits.py).
    """
    from axes.models import AccessAttempt
    from rest_framework.test import APIClient

    response = APIClient().post(path, {"phone": "0" * 3_000, "password": WRONG}, format="json")

    assert response.status_code == 400 and response.json()["message"].startswith("phone")
    assert not AccessAttempt.objects.exists()
