"""Shared by the sign-in defence tests: a fast password hasher, and each way in as a client would use it."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from users.models import User, UserRole

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Documentation addresses (RFC 5737): never anyone's real client.
CLIENT_IP = "203.0.113.10"
OTHER_IP = "198.51.100.20"
PROXY_IP = "10.0.0.2"
LOCKOUT_SENTENCE = "Too many failed sign-ins for this phone number or from your network."


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHER  # these tests are about who gets in, not about hashing


@pytest.fixture
def other_admin(db: None) -> User:
    """A second staff account, to show one phone's lockout leaves others alone."""
    from tests.conftest import PASSWORD

    return User.objects.create_user(
        "0241000003", PASSWORD, first_name="Efua", last_name="Other", user_role=UserRole.ADMIN, is_staff=True
    )


@dataclass(frozen=True)
class WayIn:
    """One way to sign in, used as its real client uses it: the API with JSON, the pages with a form."""

    name: str
    send: Callable[[str, str, dict[str, str]], Any]
    success_status: int
    failure_status: int

    def attempt(self, phone: str, password: str, *, ip: str = CLIENT_IP, forwarded: str | None = None) -> Any:
        environ = {"REMOTE_ADDR": ip}
        if forwarded is not None:
            environ["HTTP_X_FORWARDED_FOR"] = forwarded
        return self.send(phone, password, environ)

    @property
    def is_api(self) -> bool:
        return self.name.startswith("/api/")


def _api(path: str) -> Callable[[str, str, dict[str, str]], Any]:
    def send(phone: str, password: str, environ: dict[str, str]) -> Any:
        return APIClient().post(path, {"phone": phone, "password": password}, format="json", **environ)

    return send


def _page(path: str) -> Callable[[str, str, dict[str, str]], Any]:
    def send(phone: str, password: str, environ: dict[str, str]) -> Any:
        return Client().post(path, {"username": phone, "password": password}, **environ)

    return send


WAYS_IN = [
    WayIn("/api/auth/login/", _api("/api/auth/login/"), success_status=200, failure_status=401),
    WayIn("/api/auth/token/", _api("/api/auth/token/"), success_status=200, failure_status=401),
    WayIn("/accounts/login/", _page("/accounts/login/"), success_status=302, failure_status=200),
    WayIn("/admin/login/", _page("/admin/login/"), success_status=302, failure_status=200),
]


@pytest.fixture(params=WAYS_IN, ids=[way.name for way in WAYS_IN])
def way_in(request: pytest.FixtureRequest) -> WayIn:
    return request.param
