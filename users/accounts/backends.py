"""The authentication backends every way in goes through: the lockout check, then the phone and password.

All four ways in (/api/auth/login/, /api/auth/token/, /accounts/login/ and
/admin/login/) call Django's `authenticate(request=...)`, which asks these in
order (settings.AUTHENTICATION_BACKENDS).
"""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from users.accounts.lockout import lockout_clear
from users.models import User


class LockoutBackend(AxesStandaloneBackend):
    """django-axes's check: a locked-out phone or address is refused before its password is even hashed.

    `authenticate()` without a request comes from code running on the server
    (Django's test client's login(), a shell), never from a client over HTTP:
    there is no client to count, so it goes on to the password check, where
    axes's own backend would raise instead. Every HTTP way in passes its
    request, and tests/accounts/test_lockout.py proves each one is counted.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class PhoneBackend(ModelBackend):
    """Django's phone-and-password check (the manager normalises the phone), clearing the phone's failures on success.

    Only the phone's own failures are cleared, from whatever address: failures
    from this client's address on other phones still count, so an account of
    one's own can't be used to wipe the record of guessing at someone else's.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            lockout_clear(phone=user.phone)
        return user
