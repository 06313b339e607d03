"""Request rates per client address on the auth endpoints: DRF's throttles, counted in the database cache.

The password endpoints (login, token) share LOGIN_RATE_PER_MINUTE; refresh and
logout share TOKEN_RATE_PER_MINUTE. Over the budget an address gets 429 with
Retry-After and a sentence in the API's error envelope, before its request is
even read; other addresses carry on.
"""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.accounts.conftest import CLIENT_IP, OTHER_IP, PROXY_IP

pytestmark = pytest.mark.django_db

BUDGET = 3
PASSWORD_ENDPOINTS = ["/api/auth/login/", "/api/auth/token/"]
TOKEN_ENDPOINTS = ["/api/auth/token/refresh/", "/api/auth/logout/"]


@pytest.fixture(autouse=True)
def _small_budgets(settings: Any) -> None:
    settings.LOGIN_RATE_PER_MINUTE = BUDGET
    settings.TOKEN_RATE_PER_MINUTE = BUDGET


def post(path: str, *, ip: str = CLIENT_IP, forwarded: str | None = None) -> Any:
    """A request each endpoint refuses on its own (400: a field is missing), so only the rate decides a 429."""
    environ = {"REMOTE_ADDR": ip, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    return APIClient().post(path, {}, format="json", **environ)


def assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429, f"{response.status_code}: {response.content[:200]!r}"
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["success"] is False and body["code"] == "throttled", body
    assert body["message"].startswith("Too many requests from your network. Try again in "), body["message"]


@pytest.mark.parametrize("endpoints", [PASSWORD_ENDPOINTS, TOKEN_ENDPOINTS], ids=["password", "token"])
def test_over_the_budget_an_address_gets_429_with_retry_after_and_a_sentence(endpoints: list[str]) -> None:
    within = [post(endpoints[number % len(endpoints)]).status_code for number in range(BUDGET)]

    over = post(endpoints[0])

    assert within == [400] * BUDGET, "within the budget each request is answered on its merits"
    assert_rate_limited(over)


@pytest.mark.parametrize("endpoints", [PASSWORD_ENDPOINTS, TOKEN_ENDPOINTS], ids=["password", "token"])
def test_another_address_keeps_its_own_budget(endpoints: list[str]) -> None:
    for _ in range(BUDGET + 1):
        post(endpoints[0])

    response = post(endpoints[-1], ip=OTHER_IP)

    assert response.status_code == 400


def test_the_password_and_token_budgets_are_separate() -> None:
    """Signing in too often must not stop the app from refreshing its tokens."""
    for _ in range(BUDGET + 1):
        post("/api/auth/login/")

    response = post("/api/auth/token/refresh/")

    assert response.status_code == 400


def test_x_forwarded_for_does_not_buy_a_fresh_budget_without_a_trusted_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(BUDGET):
        post("/api/auth/login/", forwarded=f"192.0.2.{number + 1}")

    response = post("/api/auth/login/", forwarded="192.0.2.200")

    assert_rate_limited(response)


def test_behind_a_trusted_proxy_each_client_it_names_has_its_own_budget(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(BUDGET):
        post("/api/auth/login/", ip=PROXY_IP, forwarded=CLIENT_IP)

    limited = post("/api/auth/login/", ip=PROXY_IP, forwarded=CLIENT_IP)
    another_client = post("/api/auth/login/", ip=PROXY_IP, forwarded=f"evil-spoof, {OTHER_IP}")

    assert_rate_limited(limited)
    assert another_client.status_code == 400, "another client behind the same proxy has its own budget"


def test_a_rate_of_zero_switches_the_limit_off(settings: Any) -> None:
    settings.LOGIN_RATE_PER_MINUTE = 0

    statuses = {post("/api/auth/login/").status_code for _ in range(BUDGET * 3)}

    assert statuses == {400}


def test_the_counts_are_kept_in_the_database_cache_shared_by_every_process() -> None:
    from django.db import connection

    post("/api/auth/login/")

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_cache WHERE cache_key LIKE %s", ["%throttle_auth-password_%"])
        assert cursor.fetchone()[0] == 1, "the address's request history is a row of the cache table"
