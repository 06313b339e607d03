"""GET /api/customers/: search and page through customers; staff with view permission only."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.conftest import PASSWORD
from users.models import Customer, Region, User, UserRole

URL = "/api/customers/"


def make_customer(number: int, **fields: str) -> Customer:
    values = {
        "shipping_mark": f"PM{number:04d}",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "email": f"customer{number}@example.com",
        "phone": f"+2332410{number:05d}",
        "region": Region.GREATER_ACCRA,
        **fields,
    }
    return Customer.objects.create(**values)


@pytest.fixture
def customers(db: None) -> list[Customer]:
    return [
        make_customer(1, first_name="Akosua", last_name="Mensah", region=Region.ASHANTI),
        make_customer(2, first_name="Kwame", last_name="Boateng", email="kwame@primepre.example"),
        make_customer(3, shipping_mark="PMX SAMPLE", first_name="Efua", last_name="Owusu", phone="+233201234567"),
    ]


def marks(response: object) -> set[str]:
    return {customer["shipping_mark"] for customer in response.json()["results"]}


def test_customers_list_answers_a_page_with_count_and_results(admin_client: APIClient, customers: list) -> None:
    response = admin_client.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 3 and body["next"] is None
    first = body["results"][0]
    assert set(first) >= {"id", "shipping_mark", "full_name", "email", "phone", "region", "region_label", "created_at"}


def test_customers_list_is_newest_first(admin_client: APIClient, customers: list) -> None:
    response = admin_client.get(URL)
    assert [c["shipping_mark"] for c in response.json()["results"]] == ["PMX SAMPLE", "PM0002", "PM0001"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("akosua", {"PM0001"}),
        ("BOATENG", {"PM0002"}),
        ("pmx samp", {"PMX SAMPLE"}),
        ("akosua mensah", {"PM0001"}),  # every word must match, each anywhere
        ("akosua boateng", set()),
        ("primepre.example", {"PM0002"}),
        ("020 123 4567", {"PMX SAMPLE"}),  # a phone as people type it matches the stored +233 form
        ("0201234567", {"PMX SAMPLE"}),
        ("+233201234567", {"PMX SAMPLE"}),
        ("nobody", set()),
    ],
)
def test_customers_search_matches_mark_name_email_and_phone_in_any_form(
    admin_client: APIClient, customers: list, search: str, expected: set[str]
) -> None:
    response = admin_client.get(URL, {"search": search})
    assert response.status_code == 200, response.content
    assert marks(response) == expected, f"search {search!r}"


def test_customers_order_by_a_field_either_way(admin_client: APIClient, customers: list) -> None:
    ascending = admin_client.get(URL, {"ordering": "last_name"}).json()["results"]
    descending = admin_client.get(URL, {"ordering": "-last_name"}).json()["results"]
    assert [c["last_name"] for c in ascending] == ["Boateng", "Mensah", "Owusu"]
    assert [c["last_name"] for c in descending] == ["Owusu", "Mensah", "Boateng"]


def test_customers_unknown_ordering_is_a_json_400(admin_client: APIClient, customers: list) -> None:
    assert admin_client.get(URL, {"ordering": "password"}).status_code == 400


def test_customers_filter_by_region(admin_client: APIClient, customers: list) -> None:
    assert marks(admin_client.get(URL, {"region": Region.ASHANTI})) == {"PM0001"}


def test_customers_unknown_region_is_a_json_400(admin_client: APIClient, customers: list) -> None:
    response = admin_client.get(URL, {"region": "ATLANTIS"})
    assert response.status_code == 400
    assert response.json()["success"] is False and response.json()["code"] == "invalid"


def test_customers_pages_follow_page_and_page_size(admin_client: APIClient, db: None) -> None:
    for number in range(7):
        make_customer(number)
    first = admin_client.get(URL, {"page_size": 3}).json()
    third = admin_client.get(URL, {"page_size": 3, "page": 3}).json()
    assert first["count"] == 7 and len(first["results"]) == 3 and "page=2" in first["next"]
    assert len(third["results"]) == 1 and third["next"] is None


def test_customers_page_size_is_capped_at_200(admin_client: APIClient, db: None) -> None:
    Customer.objects.bulk_create(
        Customer(shipping_mark=f"BULK{n:04d}", first_name="A", last_name="B", phone=f"+23324{n:07d}", email="")
        for n in range(205)
    )
    assert len(admin_client.get(URL, {"page_size": 1000}).json()["results"]) == 200


def test_customers_page_past_the_end_is_a_json_404(admin_client: APIClient, customers: list) -> None:
    response = admin_client.get(URL, {"page": 99})
    assert response.status_code == 404 and response.json()["success"] is False


def test_customers_need_authentication(api_client: APIClient, customers: list) -> None:
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["success"] is False


def test_customers_refuse_a_user_who_is_not_staff(api_client: APIClient, plain_user: User, customers: list) -> None:
    plain_user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    api_client.force_authenticate(plain_user)
    assert api_client.get(URL).status_code == 403


def test_customers_refuse_staff_without_view_permission(api_client: APIClient, customers: list) -> None:
    staff = User.objects.create_user(
        "0241000003", PASSWORD, first_name="S", last_name="T", is_staff=True, user_role=UserRole.STAFF
    )
    api_client.force_authenticate(staff)
    response = api_client.get(URL)
    assert response.status_code == 403 and "view customers" in response.json()["message"]


def test_customers_accept_a_jwt_bearer_token(api_client: APIClient, admin_user: User, customers: list) -> None:
    token = RefreshToken.for_user(admin_user).access_token
    response = api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and response.json()["count"] == 3


def test_customers_list_costs_a_count_and_a_page_query(
    admin_client: APIClient, admin_user: User, customers: list, django_assert_max_num_queries: object
) -> None:
    admin_client.get(URL)  # warms the permission cache on the forced user
    with django_assert_max_num_queries(2):  # type: ignore[operator]
        admin_client.get(URL, {"search": "mensah"})
