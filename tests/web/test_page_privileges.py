"""The import page offers only what the API would allow the person signed in: no choice they'd be refused."""

from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.conftest import PASSWORD
from users.models import Customer, ImportJob, ImportStatus, User, UserRole

pytestmark = pytest.mark.django_db

UPDATE_CHOICE = 'name="on_duplicate" value="update"'
SMS_CHOICE = "Text each new customer a welcome SMS"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff(phone: str, *codenames: str) -> User:
    user = User.objects.create_user(phone, PASSWORD, first_name="Kojo", last_name="Staff", is_staff=True)
    user.user_role = UserRole.STAFF
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def signed_in(user: User) -> Client:
    """Through the real sign-in form, as a person does."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.phone, "password": PASSWORD})
    assert response.status_code == 302, "the sign-in form should accept the test user"
    return client


def test_an_importer_without_change_customer_is_not_offered_to_update_customers() -> None:
    html = signed_in(staff("0241000021", "add_customer")).get("/imports/").content.decode()

    assert UPDATE_CHOICE not in html and "<legend>On duplicates</legend>" not in html
    assert 'type="hidden" name="on_duplicate" value="skip"' in html, "the page still tells the API: skip"
    assert "is skipped and listed in the report" in html


def test_an_importer_without_the_sms_permission_is_not_offered_welcome_texts() -> None:
    html = signed_in(staff("0241000022", "add_customer")).get("/imports/").content.decode()

    assert SMS_CHOICE not in html and 'name="send_sms"' not in html


def test_an_importer_with_both_permissions_is_offered_both_choices() -> None:
    user = staff("0241000023", "add_customer", "change_customer", "send_welcome_sms")

    html = signed_in(user).get("/imports/").content.decode()

    assert UPDATE_CHOICE in html and SMS_CHOICE in html


def test_the_pages_script_learns_who_is_looking_to_hide_commit_and_cancel_from_non_owners() -> None:
    viewer = staff("0241000024", "add_customer", "view_all_importjobs")
    owner = staff("0241000025", "add_customer")
    job = ImportJob.objects.create(created_by=owner, status=ImportStatus.VALIDATED, dry_run=True)

    response = signed_in(viewer).get(f"/imports/{job.id}/")
    config = response.context["page_config"]

    assert response.status_code == 200, "a viewer of every job may follow it"
    assert (config["userId"], config["mayCancelAny"], config["canViewCustomers"]) == (viewer.pk, False, False)
    assert config["userId"] != job.created_by_id, "so the script hides Import and Cancel for this job"


def test_the_imported_customers_page_needs_view_customer() -> None:
    importer = staff("0241000026", "add_customer")
    job = ImportJob.objects.create(created_by=importer, status=ImportStatus.COMPLETE)
    Customer.objects.create(
        shipping_mark="PM 0001", first_name="Kwame", last_name="Mensah", phone="+233241111111", import_job=job
    )

    response = signed_in(importer).get(f"/imports/{job.id}/customers/")

    assert response.status_code == 403
    html = unescape(response.content.decode())
    assert "You can't view customers" in html and "Kwame" not in html
