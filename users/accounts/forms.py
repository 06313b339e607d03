"""The sign-in forms of /accounts/login/ and /admin/login/: a lockout is said in the page, not as a wrong password."""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from users.accounts.lockout import sign_in_lockout


class LockoutMessageMixin:
    """Replaces "wrong phone or password" with the lockout's sentence when the sign-in ran into one.

    axes's middleware then answers the page with status 429 and Retry-After
    (lockout.lockout_response).
    """

    request: Any

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()  # type: ignore[misc]
        except ValidationError:
            lockout = sign_in_lockout(self.request) if self.request is not None else None
            if lockout is None:
                raise
            raise ValidationError(lockout.message, code="locked_out") from None


class SignInForm(LockoutMessageMixin, AuthenticationForm):
    """The import pages' sign-in (/accounts/login/)."""


class AdminSignInForm(LockoutMessageMixin, AdminAuthenticationForm):
    """Django admin's sign-in (/admin/login/)."""
