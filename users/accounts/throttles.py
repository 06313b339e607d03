"""DRF's request rates for the auth endpoints, per client address, counted in the shared database cache.

Two budgets: the password endpoints (login, token) and the token endpoints
(refresh, logout). The rates are read from settings on each request, so a
test can change them.
"""

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from users.accounts.clients import client_ip


class ClientRateThrottle(SimpleRateThrottle):
    """A per-minute budget for each client address, named by a setting; 0 switches it off."""

    rate_setting: str

    def get_rate(self) -> str | None:
        per_minute: int = getattr(settings, self.rate_setting)
        return f"{per_minute}/min" if per_minute > 0 else None

    def get_cache_key(self, request: Request, view: APIView) -> str:
        # The same address the lockouts count (clients.client_ip), so both agree behind a proxy.
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}


class LoginRateThrottle(ClientRateThrottle):
    """Password attempts: POST /api/auth/login/ and /api/auth/token/ share one budget."""

    scope = "auth-password"
    rate_setting = "LOGIN_RATE_PER_MINUTE"


class TokenRateThrottle(ClientRateThrottle):
    """Token calls: POST /api/auth/token/refresh/ and /api/auth/logout/ share one budget."""

    scope = "auth-token"
    rate_setting = "TOKEN_RATE_PER_MINUTE"
