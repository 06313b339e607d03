"""JWT pairs that can be revoked: sign-in, refresh (rotating), logout, and every token refused after a password change.

Refresh tokens are recorded by simplejwt's token_blacklist app, so each can be
refused later: after logout, after it has been rotated, and (all of a user's at
once) after a password change. Access tokens can't be listed, so they are kept
short (settings.SIMPLE_JWT) and carry a digest of the password hash
(CHECK_REVOKE_TOKEN): a password change refuses them at once too.

Rotation, and the one exception. A refresh through /api/auth/token/refresh/
answers a new refresh token and refuses the one sent from then on, so a stolen
refresh token dies the first time its owner's client refreshes. The React app
can't follow that: its refresh code (services/api.ts) stores the new access
token and drops the new refresh token, sending the one from its sign-in again
next time, and several requests failing at once each refresh with it. Rotating
that token would sign every user out a few minutes after signing in. So the
refresh token /api/auth/login/ issues is marked reusable: refreshing it answers
an access token only, and it stays valid until it expires (a day after sign-in,
never extended), is sent to logout, or its user's password changes or the
account is deactivated. Tokens for scripts (/api/auth/token/) always rotate.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import update_last_login
from django.utils import timezone
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from users.models import User

# Marks a refresh token that refreshes without rotating (the React app's sign-in; see the module's docstring).
REUSABLE_CLAIM = "reusable"


class ReusableRefreshToken(RefreshToken):
    """A refresh token the client may send again and again: refreshing it answers an access token only."""

    # Access tokens made from it don't need the mark.
    no_copy_claims = (*RefreshToken.no_copy_claims, REUSABLE_CLAIM)

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        super().__init__(token, verify)
        if token is None:
            # Set before for_user() records the token, so the recorded token is the one issued.
            self[REUSABLE_CLAIM] = True


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def token_pair_issue(*, user: User, reusable: bool) -> TokenPair:
    """A fresh access and refresh token for a user who has just given the right password."""
    token_class = ReusableRefreshToken if reusable else RefreshToken
    refresh = token_class.for_user(user)
    if jwt_settings.UPDATE_LAST_LOGIN:
        update_last_login(None, user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def token_revoke(*, refresh: str) -> None:
    """Refuse this refresh token from now on (logout). TokenError if it is not a valid, live refresh token."""
    RefreshToken(refresh).blacklist()


def user_tokens_revoke(*, user: User) -> int:
    """Refuse every refresh token the user holds that hasn't expired; how many were live.

    Their access tokens need nothing here: they carry a digest of the old
    password hash, which no longer matches (CHECK_REVOKE_TOKEN).
    """
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("id", flat=True)
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in live], ignore_conflicts=True
    )
    return len(revoked)


class RefreshInputSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, rotation included; but a reusable token doesn't rotate, and no token outlives its password.

    simplejwt checks the password digest of access tokens only; a refresh token
    minted before a password change is refused here as well, even if its
    blacklisting was missed.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])  # signature, expiry, type, blacklist: TokenError → 401
        _check_token_user(refresh)
        if refresh.get(REUSABLE_CLAIM):
            return {"access": str(refresh.access_token)}
        return super().validate(attrs)


def _check_token_user(refresh: RefreshToken) -> None:
    """Refuse the token unless its user exists, is active, and still has the password it was issued for."""
    user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: refresh.get(jwt_settings.USER_ID_CLAIM)}).first()
    if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    if jwt_settings.CHECK_REVOKE_TOKEN and refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(
        user.password
    ):
        raise AuthenticationFailed("The user's password has been changed.", code="password_changed")


def expired_tokens_prune() -> int:
    """Forget refresh tokens past their expiry, as simplejwt's flushexpiredtokens does; return how many.

    Every sign-in and every rotation adds a row (and a rotation a blacklist row
    too); an expired token is refused by its own `exp` whatever the tables say,
    so its rows only cost space. The task worker calls this once an hour.
    """
    deleted, _ = OutstandingToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
