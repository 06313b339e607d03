"""One phone is one account: the Django admin's add and change forms store the phone as login finds it.

A superuser signs in on the admin's own page and posts the forms as a browser
would. `024 123 4567` and `+233241234567` are one phone, so the second spelling
of a phone in use is a duplicate, and text that is no phone number is a form
error, never a server error.
"""

from typing import Any

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from users.models import User, UserRole

pytestmark = pytest.mark.django_db

ADD = "/admin/users/user/add/"


@pytest.fixture
def admin_browser(superuser: User) -> Client:
    client = Client()
    response = client.post("/admin/login/", {"username": superuser.phone, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def add_user(client: Client, phone: str) -> Any:
    return client.post(
        ADD,
        {
            "phone": phone,
            "first_name": "Yaw",
            "last_name": "Mensah",
            "user_role": UserRole.STAFF,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
        },
    )


@pytest.mark.parametrize("typed", ["024 123 4567", "0241234567", "233241234567", "+233 24 123 4567", "241234567"])
def test_the_add_form_stores_the_phone_as_login_finds_it(admin_browser: Client, typed: str) -> None:
    response = add_user(admin_browser, typed)

    assert response.status_code == 302, response.content[:3000]
    assert User.objects.filter(phone="+233241234567").count() == 1
    assert Client().login(phone="024 123 4567", password="a-long-enough-passphrase-7"), "it signs in as typed anywhere"


def test_another_spelling_of_a_phone_in_use_is_refused_as_a_duplicate(admin_browser: Client) -> None:
    User.objects.create_user("+233241234567", PASSWORD)

    response = add_user(admin_browser, "024 123 4567")

    assert response.status_code == 200, "the form is shown again with its error"
    assert "already exists" in response.content.decode()
    assert User.objects.filter(last_name="Mensah").count() == 0


@pytest.mark.parametrize("typed", ["12345", "call me", "+1 000 000"])
def test_text_that_is_no_phone_number_is_a_form_error_not_a_server_error(admin_browser: Client, typed: str) -> None:
    response = add_user(admin_browser, typed)

    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    assert User.objects.filter(last_name="Mensah").count() == 0


def test_the_change_form_stores_the_phone_as_login_finds_it(admin_browser: Client, plain_user: User) -> None:
    response = admin_browser.post(
        f"/admin/users/user/{plain_user.pk}/change/",
        {
            "phone": "020 555 0001",
            "first_name": plain_user.first_name,
            "last_name": plain_user.last_name,
            "email": "",
            "user_role": plain_user.user_role,
            "is_active": "on",
            "date_joined_0": plain_user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": plain_user.date_joined.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302, response.content[:3000]
    plain_user.refresh_from_db()
    assert plain_user.phone == "+233205550001"
