"""Fixtures shared by the whole suite: users with each role and authenticated API clients."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from users.models import User, UserRole

# The real-worker fixtures (live_worker …) for every test module.
pytest_plugins = ["tests.workers"]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _media_in_a_temporary_folder(settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Uploaded files from tests land in a throwaway folder, never in the project's media/."""
    settings.MEDIA_ROOT = tmp_path_factory.getbasetemp() / "media"


@pytest.fixture
def admin_user(db: None) -> User:
    """A staff admin who may import customers with every option: add, view and change customers, send texts."""
    user = User.objects.create_user(
        "0241000001", PASSWORD, first_name="Ama", last_name="Admin", user_role=UserRole.ADMIN, is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_customer", "view_customer", "change_customer", "send_welcome_sms"]
        )
    )
    return user


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("0241000009", PASSWORD, first_name="Super", last_name="User")


@pytest.fixture
def plain_user(db: None) -> User:
    """An active account with no staff role or permissions: must be refused."""
    return User.objects.create_user("0241000002", PASSWORD, first_name="Kofi", last_name="Plain")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_client(admin_user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def importer_client(admin_user: User) -> APIClient:
    """admin_user signed in with a real JWT, as the frontend is: needed for bodies over 4 KB to the import
    endpoints, whose limit is chosen from the credentials before DRF (and force_authenticate) is reached."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(admin_user).access_token}")
    return client


def pytest_configure() -> None:
    # The SQLite test database is a file under .run/ (see settings); make sure its folder exists.
    from django.conf import settings

    Path(settings.BASE_DIR, ".run").mkdir(exist_ok=True)
