"""HTTPS and the browser protections, over HTTP, as the service answers on Render.

The security settings are the ones primepre/settings.py computes with RENDER=true,
DEBUG unset and a real key, read from a fresh interpreter (tests/test_settings.py
checks the values themselves); here Django's test client sends requests through
the real middleware with them: plain HTTP, HTTPS as Render's proxy reports it in
X-Forwarded-Proto, and Render's own health check.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import Morsel
from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from tests.test_settings import ROOT, SCRUBBED
from users.models import User

SECURITY_SETTINGS = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
)

READ = f"""
import json
from django.conf import settings
print(json.dumps({{name: getattr(settings, name, None) for name in {SECURITY_SETTINGS!r}}}))
"""

# What reaches the service through Render's proxy: the browser's Host, and the scheme the browser used.
FROM_THE_INTERNET_OVER_HTTPS = {"HTTP_HOST": "testserver", "HTTP_X_FORWARDED_PROTO": "https"}
FROM_THE_INTERNET_OVER_HTTP = {"HTTP_HOST": "testserver", "HTTP_X_FORWARDED_PROTO": "http"}


@pytest.fixture(scope="module")
def render_security() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(RENDER="true", SECRET_KEY=secrets.token_urlsafe(50), DJANGO_SETTINGS_MODULE="primepre.settings")
    result = subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def on_render(settings: Any, render_security: dict[str, Any]) -> Iterator[Client]:
    """A client of a service configured as on Render (a new Client loads the middleware with these settings)."""
    for name, value in render_security.items():
        setattr(settings, name, value)
    yield Client()


def test_a_plain_http_request_is_redirected_to_https(on_render: Client) -> None:
    for extra in ({}, FROM_THE_INTERNET_OVER_HTTP):
        response = on_render.get("/imports/?next=1", **extra)
        assert response.status_code == 301, f"plain HTTP ({extra or 'no proxy header'}) must not be served"
        assert response["Location"] == "https://testserver/imports/?next=1"


@pytest.mark.django_db
def test_renders_health_check_over_plain_http_is_answered_not_redirected(on_render: Client) -> None:
    response = on_render.get("/health")
    assert response.status_code == 200, "Render's health check calls /health over HTTP from inside Render"
    assert "Strict-Transport-Security" not in response, "HSTS is only ever sent over HTTPS"


def test_https_through_renders_proxy_is_served_with_hsts(on_render: Client) -> None:
    response = on_render.get("/accounts/login/", **FROM_THE_INTERNET_OVER_HTTPS)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_pages_carry_the_browser_protections(on_render: Client) -> None:
    response = on_render.get("/accounts/login/", **FROM_THE_INTERNET_OVER_HTTPS)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def assert_locked_down(cookie: Morsel[str]) -> None:
    assert cookie["secure"] is True, f"{cookie.key} would travel over plain HTTP"
    assert cookie["httponly"] is True, f"{cookie.key} is readable by the page's scripts"
    assert cookie["samesite"] == "Lax", f"{cookie.key} SameSite is {cookie['samesite']!r}"


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure_httponly_and_same_site(on_render: Client, admin_user: User) -> None:
    on_render.get("/accounts/login/", **FROM_THE_INTERNET_OVER_HTTPS)
    signed_in = on_render.post(
        "/accounts/login/", {"username": "0241000001", "password": PASSWORD}, **FROM_THE_INTERNET_OVER_HTTPS
    )
    assert signed_in.status_code == 302, "the staff member signed in"
    assert_locked_down(on_render.cookies["csrftoken"])
    assert_locked_down(on_render.cookies["sessionid"])


@pytest.mark.django_db
def test_the_import_page_posts_with_the_token_from_the_page_though_the_cookie_is_httponly(
    settings: Any, render_security: dict[str, Any], admin_user: User
) -> None:
    for name, value in render_security.items():
        setattr(settings, name, value)
    browser = Client(enforce_csrf_checks=True, HTTP_ORIGIN="https://testserver", **FROM_THE_INTERNET_OVER_HTTPS)
    browser.force_login(admin_user)
    page = browser.get("/imports/").content.decode()
    token = re.search(r'"csrfToken": "([^"]+)"', page)
    assert token, "the page hands its script the CSRF token"

    without = browser.post("/api/imports/", {})
    with_token = browser.post("/api/imports/", {}, HTTP_X_CSRFTOKEN=token[1])
    assert without.status_code == 403, "a session POST without the token is refused"
    assert with_token.status_code == 400, f"the page's token passes, the empty form fails: {with_token.content!r}"
