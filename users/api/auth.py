"""Sign-in for the frontend: phone and password for a JWT pair, the signed-in user's profile, token refresh, logout.

The React frontend keeps the tokens in the browser and sends
`Authorization: Bearer <access>`; these endpoints keep the shapes it already
reads (tests/api/test_frontend_*.py hold them to it). simplejwt's own pair and
refresh views serve scripts and the frontend's silent refresh.

Every password endpoint counts failures per phone and per client address and
locks out after too many (users/accounts/lockout.py), and every endpoint here
but the profile has a per-address request rate (users/accounts/throttles.py):
both answer 429 with Retry-After and a sentence. Refresh tokens can be revoked
(users/accounts/tokens.py).
"""

import logging
import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from users.accounts.clients import client_ip
from users.accounts.lockout import sign_in_lockout
from users.accounts.throttles import LoginRateThrottle, TokenRateThrottle
from users.accounts.tokens import RefreshInputSerializer, token_pair_issue, token_revoke
from users.api.schema import ErrorSerializer, error_responses
from users.models import User

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "The phone number or password is incorrect."


class SignInLockedOut(exceptions.APIException):
    """429: this phone or this address has failed too often; DRF's handler turns `wait` into Retry-After."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, *, wait: int, detail: str) -> None:
        self.wait = wait
        super().__init__(detail)


class TooManyRequests(exceptions.APIException):
    """429: this address has used its auth endpoint budget for the minute; Retry-After says when it refills."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "throttled"

    def __init__(self, *, wait: float | None) -> None:
        self.wait = max(1, math.ceil(wait or 1))
        unit = "second" if self.wait == 1 else "seconds"
        super().__init__(f"Too many requests from your network. Try again in {self.wait} {unit}.")


class RateLimitedMixin:
    """Says a DRF throttle's refusal as a sentence, in the same 429 shape as a lockout."""

    def throttled(self, request: Request, wait: float | None) -> None:
        raise TooManyRequests(wait=wait)


def user_sign_in(*, request: Request, phone: str, password: str) -> User:
    """The user with this phone and password, or an API error: 401 for wrong credentials, 429 when locked out.

    The phone may be written in any form the importer's normaliser accepts
    (`0241234567`, `+233 24 123 4567`): the user manager normalises it before
    the lookup. Inactive accounts are refused like wrong passwords, so the
    answer never tells which accounts exist. A locked-out phone or address is
    refused before its password is checked, even the right one.
    """
    user = authenticate(request, phone=phone, password=password)
    if user is not None:
        return user
    if lockout := sign_in_lockout(request):
        raise SignInLockedOut(wait=lockout.seconds, detail=lockout.message)
    logger.info("Login refused", extra={"remote_addr": client_ip(request) or ""})
    raise exceptions.AuthenticationFailed(INVALID_CREDENTIALS, code="invalid_credentials")


@dataclass(frozen=True)
class LoginResult:
    user: User
    access: str
    refresh: str


def user_login(*, request: Request, phone: str, password: str) -> LoginResult:
    """Sign in as the React app does, for a JWT pair whose refresh token it may send again and again.

    The app never stores a rotated refresh token (users/accounts/tokens.py), so
    this pair's refresh token is reusable: it refreshes without rotating until
    it expires, is sent to logout, or the password changes.
    """
    user = user_sign_in(request=request, phone=phone, password=password)
    tokens = token_pair_issue(user=user, reusable=True)
    logger.info("Login: user id %s", user.pk, extra={"user_id": user.pk})
    return LoginResult(user=user, access=tokens.access, refresh=tokens.refresh)


TOO_MANY_REQUESTS = OpenApiResponse(
    ErrorSerializer,
    description=(
        "Too many requests from this address, or (`code: locked_out`) too many failed passwords for this phone "
        "or from this address. `Retry-After` gives the seconds to wait; `message` says it in a sentence."
    ),
)


@extend_schema_serializer(component_name="LoginTokens")
class TokensSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(
        help_text="Exchange at /api/auth/token/refresh/ for a new access token; send to /api/auth/logout/ to end it."
    )


@extend_schema_serializer(component_name="FrontendUser")
class UserOutputSerializer(serializers.ModelSerializer):
    """The signed-in staff member as the frontend's auth store keeps it."""

    full_name = serializers.CharField(source="get_full_name", read_only=True)
    # Plain text, not an `email`-format string: staff may have none, and then it is "".
    email = serializers.CharField(read_only=True)
    is_admin_user = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = (
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "user_role",
            "is_admin_user",
            "is_active",
        )
        read_only_fields = fields


class LoginApi(RateLimitedMixin, APIView):
    """POST /api/auth/login/: phone + password → the user and a JWT pair."""

    # No authentication: a stale token left in the browser must not stop a fresh sign-in.
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (LoginRateThrottle,)

    @extend_schema_serializer(component_name="LoginInput")
    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=32, help_text="Any common form: 0241234567, +233 24 123 4567 …")
        password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})

    @extend_schema_serializer(component_name="LoginOutput")
    class OutputSerializer(serializers.Serializer):
        user = UserOutputSerializer()
        tokens = TokensSerializer(source="*")
        # The older authService.ts reads the tokens at the top level; the auth store reads `tokens`.
        access = serializers.CharField()
        refresh = serializers.CharField()

    def get_authenticate_header(self, request: Request) -> str:
        # With one, DRF answers a failed sign-in 401 (not 403) with WWW-Authenticate, as RFC 9110 asks.
        return f'{AUTH_HEADER_TYPES[0]} realm="api"'

    @extend_schema(
        operation_id="auth_login",
        summary="Sign in with phone and password",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(ErrorSerializer, description="The phone or the password is missing or too long."),
            401: OpenApiResponse(
                ErrorSerializer, description="Wrong phone or password, or the account is inactive: `{detail}`."
            ),
            429: TOO_MANY_REQUESTS,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = user_login(request=request, **payload.validated_data)
        return Response(self.OutputSerializer(result).data)


class ProfileApi(APIView):
    """GET /api/auth/profile/: the signed-in user, which the frontend reloads on every page."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="auth_profile",
        summary="The signed-in user",
        responses={200: UserOutputSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)


class TokenPairInputSerializer(TokenObtainPairSerializer):
    """simplejwt's `{phone, password}` → `{access, refresh}`, through the same sign-in as the login, lockout included.

    These refresh tokens rotate: scripts store the one each refresh answers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The login's own limits: a megabyte "phone" is a 400, not seconds of normalising before the password check.
        self.fields[self.username_field] = serializers.CharField(max_length=32, write_only=True)
        self.fields["password"] = serializers.CharField(
            max_length=128, write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        request = self.context["request"]
        user = user_sign_in(request=request, phone=attrs[self.username_field], password=attrs["password"])
        tokens = token_pair_issue(user=user, reusable=False)
        return {"refresh": tokens.refresh, "access": tokens.access}


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_obtain_pair",
        summary="A JWT pair for scripts",
        responses={200: TokenObtainPairSerializer, **error_responses(400, 401), 429: TOO_MANY_REQUESTS},
        auth=[],
    )
)
class TokenPairApi(RateLimitedMixin, TokenObtainPairView):
    """POST /api/auth/token/: simplejwt's pair view (`{phone, password}` → `{access, refresh}`), for scripts."""

    serializer_class = TokenPairInputSerializer
    throttle_classes = (LoginRateThrottle,)


@extend_schema_serializer(component_name="TokenRefreshOutput")
class TokenRefreshOutputSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="A new access token.")
    refresh = serializers.CharField(
        required=False,
        help_text=(
            "The next refresh token, when the one sent rotates (those from /api/auth/token/): the one sent is "
            "refused from now on. Absent for the sign-in's refresh token, which stays valid."
        ),
    )


@extend_schema_view(
    post=extend_schema(
        operation_id="auth_token_refresh",
        summary="A new access token",
        request=RefreshInputSerializer,
        responses={200: TokenRefreshOutputSerializer, **error_responses(400, 401), 429: TOO_MANY_REQUESTS},
        auth=[],
    )
)
class TokenRefreshApi(RateLimitedMixin, TokenRefreshView):
    """POST /api/auth/token/refresh/: `{refresh}` → `{access}` (and the next `refresh` when it rotates).

    The frontend calls it on a 401.
    """

    serializer_class = RefreshInputSerializer
    throttle_classes = (TokenRateThrottle,)


class LogoutApi(RateLimitedMixin, APIView):
    """POST /api/auth/logout/: `{refresh}` → 205, and that refresh token is refused from then on."""

    # The refresh token is the credential: an expired access token sent along must not stop a logout.
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (TokenRateThrottle,)

    def get_authenticate_header(self, request: Request) -> str:
        # Without one, DRF would answer a refused token 403; it is a 401, as RFC 9110 asks.
        return f'{AUTH_HEADER_TYPES[0]} realm="api"'

    @extend_schema_serializer(component_name="LogoutInput")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(help_text="The refresh token to end, as sign-in or a refresh answered it.")

    @extend_schema(
        operation_id="auth_logout",
        summary="Sign out: refuse a refresh token from now on",
        request=InputSerializer,
        responses={
            205: OpenApiResponse(description="Signed out: the refresh token is refused from now on. No body."),
            **error_responses(400),
            401: OpenApiResponse(
                ErrorSerializer, description="Not a live refresh token (malformed, expired or already ended)."
            ),
            429: TOO_MANY_REQUESTS,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            token_revoke(refresh=payload.validated_data["refresh"])
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        return Response(status=status.HTTP_205_RESET_CONTENT)
