"""Tokens that can be revoked: rotation, logout, and a password change, over HTTP with real credentials.

Refresh tokens from /api/auth/token/ rotate: each refresh answers the next one
and refuses the one sent. The React app's sign-in (/api/auth/login/) gets a
refresh token it may send again and again, because the app never stores a
rotated one (users/accounts/tokens.py); logout and a password change refuse it
like any other.
"""

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.contrib.auth.management.commands import changepassword
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.deploy.stack import ROOT
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"
REFRESH = "/api/auth/token/refresh/"
LOGOUT = "/api/auth/logout/"
PROFILE = "/api/auth/profile/"


def sign_in(path: str = "/api/auth/login/", phone: str = "0241000001", password: str = PASSWORD) -> dict[str, str]:
    """An access and refresh token, from the frontend's sign-in or the scripts' pair endpoint."""
    response = APIClient().post(path, {"phone": phone, "password": password}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    return {"access": body["access"], "refresh": body["refresh"]}


def refresh(token: str) -> Any:
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def profile_status(access: str) -> int:
    return APIClient().get(PROFILE, HTTP_AUTHORIZATION=f"Bearer {access}").status_code


def logout(token: str, **headers: str) -> Any:
    return APIClient().post(LOGOUT, {"refresh": token}, format="json", **headers)


def test_a_scripts_refresh_token_rotates_and_the_used_one_is_refused_afterwards(admin_user: User) -> None:
    first = sign_in("/api/auth/token/")["refresh"]

    rotated = refresh(first)
    reused = refresh(first)

    assert rotated.status_code == 200 and set(rotated.json()) == {"access", "refresh"}
    assert reused.status_code == 401, "a used refresh token is refused afterwards"
    assert refresh(rotated.json()["refresh"]).status_code == 200, "the rotated one works"


def test_the_frontends_refresh_token_refreshes_again_and_again_as_the_app_sends_it(admin_user: User) -> None:
    """services/api.ts stores only `access` from a refresh and sends its sign-in's refresh token every time."""
    stored_refresh = sign_in()["refresh"]

    answers = [refresh(stored_refresh) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all(set(answer.json()) == {"access"} for answer in answers), "nothing for the app to store but `access`"
    assert {profile_status(answer.json()["access"]) for answer in answers} == {200}


@pytest.mark.parametrize("issued_by", ["/api/auth/login/", "/api/auth/token/"])
def test_logout_answers_205_and_that_refresh_token_is_refused_from_then_on(admin_user: User, issued_by: str) -> None:
    tokens = sign_in(issued_by)

    response = logout(tokens["refresh"], HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    assert (response.status_code, response.content) == (205, b"")
    assert refresh(tokens["refresh"]).status_code == 401


def test_logout_needs_no_access_token_and_a_stale_one_does_not_stop_it(admin_user: User) -> None:
    """The app's apiClient sends whatever access token it holds, expired or not, with its logout."""
    tokens = sign_in()

    response = logout(tokens["refresh"], HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    assert response.status_code == 205


@pytest.mark.parametrize("case", ["garbage", "an access token", "already logged out"])
def test_logout_with_no_live_refresh_token_is_a_json_401(admin_user: User, case: str) -> None:
    tokens = sign_in()
    sent = {"garbage": "not-a-token", "an access token": tokens["access"], "already logged out": tokens["refresh"]}
    if case == "already logged out":
        logout(tokens["refresh"])

    response = logout(sent[case])

    assert response.status_code == 401
    assert response.json()["success"] is False


def change_in_the_admin(user: User) -> None:
    """A superuser signs in on the admin's own page and uses the user's "change password" form."""
    User.objects.create_superuser("0241000099", PASSWORD, first_name="Root", last_name="Admin")
    admin = Client()
    signed_in = admin.post("/admin/login/", {"username": "0241000099", "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.content[:500]
    response = admin.post(
        f"/admin/users/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]


def change_with_set_password(user: User) -> None:
    user.set_password(NEW_PASSWORD)
    user.save()


def change_with_the_command(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # changepassword prompts twice on the terminal; answer like a person would.
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt="": NEW_PASSWORD)
    call_command("changepassword", user.phone, stdout=None)


CHANGES: dict[str, Callable[..., None]] = {
    "the Django admin": change_in_the_admin,
    "set_password and save": change_with_set_password,
    "manage.py changepassword": change_with_the_command,
}


@pytest.mark.parametrize("how", list(CHANGES))
def test_a_password_change_refuses_every_token_issued_before_it(
    admin_user: User, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, script = sign_in("/api/auth/login/"), sign_in("/api/auth/token/")
    assert {profile_status(browser["access"]), profile_status(script["access"])} == {200}

    change = CHANGES[how]
    change(admin_user, monkeypatch) if how == "manage.py changepassword" else change(admin_user)

    assert [refresh(tokens["refresh"]).status_code for tokens in (browser, script)] == [401, 401]
    assert [profile_status(tokens["access"]) for tokens in (browser, script)] == [401, 401]
    assert profile_status(sign_in(password=NEW_PASSWORD)["access"]) == 200, "the new password signs in"


def test_a_profile_edit_that_keeps_the_password_revokes_nothing(admin_user: User) -> None:
    tokens = sign_in()
    admin_user.refresh_from_db()

    admin_user.first_name = "Renamed"
    admin_user.save()

    assert (refresh(tokens["refresh"]).status_code, profile_status(tokens["access"])) == (200, 200)


def test_access_tokens_live_five_minutes_and_refresh_tokens_a_day(admin_user: User) -> None:
    tokens = sign_in()
    access = jwt.decode(tokens["access"], options={"verify_signature": False})
    refresh_claims = jwt.decode(tokens["refresh"], options={"verify_signature": False})

    assert access["exp"] - access["iat"] == 5 * 60
    assert refresh_claims["exp"] - refresh_claims["iat"] == 24 * 60 * 60


def test_a_deleted_users_refresh_token_is_a_json_401_not_a_server_error(admin_user: User) -> None:
    tokens = sign_in()
    admin_user.delete()

    response = refresh(tokens["refresh"])

    assert response.status_code == 401 and response.json()["success"] is False


def test_starting_django_leaves_the_token_code_unloaded_for_the_task_worker() -> None:
    """Every process connects the password-change receiver; only web requests need DRF's serializers (18 MB)."""
    probe = (
        "import django, sys; django.setup(); "
        "print(sorted(m for m in ('rest_framework.serializers', 'users.accounts.tokens') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "primepre.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
def test_expired_refresh_tokens_are_pruned_and_live_ones_kept(admin_user: User) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from users.accounts.tokens import expired_tokens_prune, token_pair_issue

    token_pair_issue(user=admin_user, reusable=False)
    token_pair_issue(user=admin_user, reusable=False)
    OutstandingToken.objects.filter(pk=OutstandingToken.objects.order_by("pk").first().pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert expired_tokens_prune() >= 1
    assert OutstandingToken.objects.count() == 1, "the live token stays"
