"""Uniqueness is the database's job: these go around Python and hit the constraints directly."""

import pytest
from django.db import IntegrityError, transaction

from users.customers.normalise import normalise_email, normalise_phone, normalise_shipping_mark
from users.models import Customer, Region

pytestmark = pytest.mark.django_db


def make_customer(**overrides: str) -> Customer:
    values = {
        "shipping_mark": "PM4 SAMPLE",
        "first_name": "Ama",
        "last_name": "Mensah",
        "email": "ama@example.com",
        "phone": "+233241234567",
        "region": Region.GREATER_ACCRA,
    }
    values.update(overrides)
    return Customer.objects.create(**values)


def assert_refused(**overrides: str) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_customer(**overrides)


def test_marks_differing_only_in_case_and_spacing_are_one_mark() -> None:
    make_customer(shipping_mark=normalise_shipping_mark("pm4  sample"))
    assert normalise_shipping_mark("PM4 SAMPLE") == "PM4 SAMPLE"
    assert_refused(shipping_mark=normalise_shipping_mark("PM4 SAMPLE"), phone="+233241234568", email="")


def test_a_mark_that_is_not_normalised_is_refused_by_the_database() -> None:
    assert_refused(shipping_mark="pm4 sample")
    assert_refused(shipping_mark="PM4  SAMPLE")
    assert_refused(shipping_mark=" PM4")
    assert_refused(shipping_mark="P")


def test_emails_are_unique_regardless_of_case() -> None:
    make_customer(email=normalise_email("A@X.COM"))
    assert_refused(shipping_mark="OTHER", phone="+233241234568", email="a@x.com")


def test_many_customers_may_have_no_email() -> None:
    make_customer(email="")
    make_customer(shipping_mark="OTHER", phone="+233241234568", email="")
    assert Customer.objects.filter(email="").count() == 2


def test_phones_are_unique_in_e164_form() -> None:
    make_customer(phone=normalise_phone("024 123 4567", default_region="GH"))
    assert_refused(shipping_mark="OTHER", email="", phone=normalise_phone("+233 24 123 4567", default_region="GH"))


def test_a_phone_not_in_e164_form_is_refused_by_the_database() -> None:
    assert_refused(phone="0241234567")


def test_names_are_required_by_the_database() -> None:
    assert_refused(first_name="")
    assert_refused(last_name="")
