"""Signing in as the frontend does: phone + password for JWTs, the profile, token refresh."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from users.models import User, UserRole

LOGIN = "/api/auth/login/"
PROFILE = "/api/auth/profile/"
USER_FIELDS = {
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "user_role",
    "is_admin_user",
    "is_active",
}


def login(client: APIClient, phone: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"phone": phone, "password": password}, format="json")


@pytest.mark.django_db
def test_login_answers_the_user_and_a_token_pair_in_the_frontends_shape(
    api_client: APIClient, admin_user: User
) -> None:
    response = login(api_client, "0241000001")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["user"]) == USER_FIELDS, "the auth store reads exactly these user fields"
    assert body["user"] == {
        "id": admin_user.id,
        "first_name": "Ama",
        "last_name": "Admin",
        "full_name": "Ama Admin",
        "email": "",
        "phone": "+233241000001",
        "user_role": "ADMIN",
        "is_admin_user": True,
        "is_active": True,
    }
    assert body["tokens"]["access"] and body["tokens"]["refresh"]
    assert (body["access"], body["refresh"]) == (body["tokens"]["access"], body["tokens"]["refresh"]), (
        "authService.ts reads the tokens at the top level"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["0241000001", "+233241000001", "233241000001", "024 100 0001", "+233 24 100 0001"])
def test_login_accepts_the_phone_in_any_form_the_normaliser_accepts(
    api_client: APIClient, admin_user: User, typed: str
) -> None:
    response = login(api_client, typed)

    assert response.status_code == 200, f"{typed!r} should sign in as +233241000001: {response.content!r}"


@pytest.mark.django_db
def test_login_records_the_last_login(api_client: APIClient, admin_user: User) -> None:
    login(api_client, "0241000001")

    admin_user.refresh_from_db()
    assert admin_user.last_login is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("phone", "password"),
    [("0241000001", "wrong-password"), ("0249999999", PASSWORD), ("not a phone", PASSWORD)],
    ids=["wrong-password", "unknown-phone", "not-a-phone"],
)
def test_wrong_credentials_answer_401_with_detail(
    api_client: APIClient, admin_user: User, phone: str, password: str
) -> None:
    response = login(api_client, phone, password)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"] == "The phone number or password is incorrect."
    assert body["success"] is False
    assert "tokens" not in body
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_an_inactive_account_cannot_sign_in(api_client: APIClient, admin_user: User) -> None:
    admin_user.is_active = False
    admin_user.save()

    response = login(api_client, "0241000001")

    assert response.status_code == 401


@pytest.mark.django_db
def test_login_with_a_missing_password_is_a_json_400(api_client: APIClient, admin_user: User) -> None:
    response = api_client.post(LOGIN, {"phone": "0241000001"}, format="json")

    assert response.status_code == 400
    assert response.json()["message"].startswith("password")


@pytest.mark.django_db
def test_a_stale_token_left_in_the_browser_does_not_block_a_new_login(
    api_client: APIClient, admin_user: User
) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    response = login(api_client, "0241000001")

    assert response.status_code == 200


@pytest.mark.django_db
def test_profile_answers_the_same_user_object_as_login(api_client: APIClient, admin_user: User) -> None:
    tokens = login(api_client, "0241000001").json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['tokens']['access']}")

    response = api_client.get(PROFILE)

    assert response.status_code == 200
    assert response.json() == tokens["user"]


@pytest.mark.django_db
def test_profile_tells_the_frontend_the_staff_role(api_client: APIClient) -> None:
    User.objects.create_user("0241000005", PASSWORD, first_name="Mo", last_name="Manager", user_role=UserRole.MANAGER)
    access = login(api_client, "0241000005").json()["tokens"]["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    body = api_client.get(PROFILE).json()

    assert (body["user_role"], body["is_admin_user"]) == ("MANAGER", False)


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["no-token", "bad-token"])
def test_profile_without_a_valid_token_is_a_json_401(api_client: APIClient, authorization: str | None) -> None:
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)

    response = api_client.get(PROFILE)

    assert response.status_code == 401
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_refresh_exchanges_the_refresh_token_for_a_working_access_token(
    api_client: APIClient, admin_user: User
) -> None:
    refresh = login(api_client, "0241000001").json()["tokens"]["refresh"]

    response = api_client.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")

    assert response.status_code == 200
    access = response.json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get(PROFILE).status_code == 200


@pytest.mark.django_db
def test_refresh_with_a_bad_token_is_a_json_401(api_client: APIClient) -> None:
    response = api_client.post("/api/auth/token/refresh/", {"refresh": "nonsense"}, format="json")

    assert response.status_code == 401
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_scripts_get_a_pair_from_simplejwts_token_endpoint(api_client: APIClient, admin_user: User) -> None:
    response = api_client.post("/api/auth/token/", {"phone": "024 100 0001", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.django_db
def test_simplejwts_token_endpoint_refuses_a_wrong_password_with_401(api_client: APIClient, admin_user: User) -> None:
    response = api_client.post("/api/auth/token/", {"phone": "0241000001", "password": "nope"}, format="json")

    assert response.status_code == 401
    assert response.json()["success"] is False
