"""The Clients page's customer list and the upload statistics, in the old user-list shape."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from users.models import Customer, Region, User

USERS = "/api/auth/admin/users/"
STATS = "/api/auth/customers/upload/stats/"
CLIENTS_QUERY = {"user_role": "CUSTOMER", "ordering": "-date_joined", "page": 1, "page_size": 25}
ROW_FIELDS = {
    "id",
    "shipping_mark",
    "full_name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "region",
    "user_type",
    "is_active",
    "is_verified",
    "date_joined",
}


def make_customer(n: int, **fields: Any) -> Customer:
    values = {
        "shipping_mark": f"PM {n:04d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"c{n}@example.com",
        "phone": f"+23324{n:07d}",
        **fields,
    }
    return Customer.objects.create(**values)


def page(client: APIClient, **params: Any) -> dict[str, Any]:
    response = client.get(USERS, {**CLIENTS_QUERY, **params})
    assert response.status_code == 200, response.content
    return response.json()


def marks(body: dict[str, Any]) -> list[str]:
    return [row["shipping_mark"] for row in body["results"]]


@pytest.mark.django_db
def test_the_clients_query_answers_a_page_of_customers_in_the_old_user_shape(admin_client: APIClient) -> None:
    customer = make_customer(1, first_name="Ama", last_name="Mensah", region=Region.ASHANTI)

    body = page(admin_client)

    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert body["results"] == [
        {
            "id": customer.id,
            "shipping_mark": "PM 0001",
            "full_name": "Ama Mensah",
            "first_name": "Ama",
            "last_name": "Mensah",
            "email": "c1@example.com",
            "phone": "+233240000001",
            "company_name": "",
            "region": "ASHANTI",
            "user_type": "INDIVIDUAL",
            "is_active": True,
            "is_verified": False,
            "date_joined": customer.created_at.isoformat().replace("+00:00", "Z"),
        }
    ]


@pytest.mark.django_db
def test_no_field_the_page_reads_is_ever_null(admin_client: APIClient) -> None:
    make_customer(1, email="")

    row = page(admin_client)["results"][0]

    assert set(row) == ROW_FIELDS
    assert all(value is not None for value in row.values()), row


@pytest.mark.django_db
def test_newest_customers_come_first_and_pages_follow_page_size(admin_client: APIClient) -> None:
    for n in range(1, 6):
        make_customer(n)
    Customer.objects.filter(shipping_mark="PM 0003").update(created_at=timezone.now() + timedelta(minutes=1))

    first = page(admin_client, page_size=2)
    second = page(admin_client, page_size=2, page=2)

    assert first["count"] == 5
    assert marks(first) == ["PM 0003", "PM 0005"]
    assert marks(second) == ["PM 0004", "PM 0002"]
    assert first["next"] and "page=2" in first["next"]


@pytest.mark.django_db
def test_ordering_by_date_joined_ascending_gives_oldest_first(admin_client: APIClient) -> None:
    for n in range(1, 4):
        make_customer(n)

    assert marks(page(admin_client, ordering="date_joined")) == ["PM 0001", "PM 0002", "PM 0003"]


@pytest.mark.django_db
def test_an_unknown_ordering_falls_back_to_newest_first(admin_client: APIClient) -> None:
    for n in range(1, 4):
        make_customer(n)

    assert marks(page(admin_client, ordering="password")) == ["PM 0003", "PM 0002", "PM 0001"]


@pytest.mark.django_db
def test_a_page_past_the_end_is_a_json_404(admin_client: APIClient) -> None:
    make_customer(1)

    response = admin_client.get(USERS, {**CLIENTS_QUERY, "page": 9})

    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("pm 0002", ["PM 0002"]),
        ("ama", ["PM 0002"]),
        ("Ama Mensah", ["PM 0002"]),
        ("mensah ama", ["PM 0002"]),
        ("KOFI@EXAMPLE", ["PM 0003"]),
        ("0241234567", ["PM 0002"]),
        ("024 123 4567", ["PM 0002"]),
        ("+233 24 123 4567", ["PM 0002"]),
        ("1234567", ["PM 0002"]),
        ("nobody", []),
    ],
)
def test_search_covers_mark_names_phone_and_email(admin_client: APIClient, search: str, expected: list[str]) -> None:
    make_customer(1, first_name="Kwame", last_name="Boateng")
    make_customer(2, first_name="Ama", last_name="Mensah", phone="+233241234567")
    make_customer(3, first_name="Kofi", last_name="Owusu", email="kofi@example.com")

    assert marks(page(admin_client, search=search)) == expected


@pytest.mark.django_db
def test_is_active_false_lists_nobody_because_customers_are_always_active(admin_client: APIClient) -> None:
    make_customer(1)

    assert page(admin_client, is_active="true")["count"] == 1
    assert page(admin_client, is_active="false")["count"] == 0


@pytest.mark.django_db
def test_asking_for_staff_roles_lists_no_customers(admin_client: APIClient) -> None:
    make_customer(1)

    assert page(admin_client, user_role="ADMIN")["results"] == []


@pytest.mark.django_db
def test_the_list_is_a_count_and_one_page_query_whatever_the_page_size(
    admin_client: APIClient, django_assert_max_num_queries: Any
) -> None:
    for n in range(1, 31):
        make_customer(n)

    # The user's permissions (two queries, cached for the request), then COUNT and the page.
    with django_assert_max_num_queries(4):
        body = page(admin_client, page_size=30)

    assert len(body["results"]) == 30


@pytest.mark.django_db
def test_the_list_needs_the_view_customer_permission(api_client: APIClient, plain_user: User) -> None:
    staff = User.objects.create_user("0241000003", PASSWORD, first_name="S", last_name="Staff", is_staff=True)
    api_client.force_authenticate(staff)

    response = api_client.get(USERS, CLIENTS_QUERY)

    assert response.status_code == 403
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_the_list_without_credentials_is_a_json_401(api_client: APIClient) -> None:
    response = api_client.get(USERS, CLIENTS_QUERY)

    assert response.status_code == 401
    assert response.json()["success"] is False


@pytest.mark.django_db
def test_stats_count_customers_recent_ones_regions_and_uploaders(admin_client: APIClient, admin_user: User) -> None:
    make_customer(1, region=Region.ASHANTI, created_by=admin_user)
    make_customer(2, region=Region.ASHANTI, created_by=admin_user)
    make_customer(3, region=Region.VOLTA)
    old = make_customer(4, region=Region.VOLTA, created_by=admin_user)
    Customer.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=45))

    response = admin_client.get(STATS)

    assert response.status_code == 200
    body = response.json()
    assert (body["total_customers"], body["recent_customers"], body["recent_days"]) == (4, 3, 30)
    assert body["region_distribution"] == [
        {"region": "ASHANTI", "label": "Ashanti", "count": 2},
        {"region": "VOLTA", "label": "Volta", "count": 2},
    ]
    assert body["upload_history"] == [
        {
            "created_by_id": admin_user.id,
            "name": "Ama Admin",
            "created_by__first_name": "Ama",
            "created_by__last_name": "Admin",
            "count": 3,
        }
    ]


@pytest.mark.django_db
def test_stats_are_three_queries_however_many_customers(
    admin_client: APIClient, admin_user: User, django_assert_max_num_queries: Any
) -> None:
    for n in range(1, 21):
        make_customer(n, created_by=admin_user)

    with django_assert_max_num_queries(5):  # the user's permissions (two), then three aggregates
        admin_client.get(STATS)


@pytest.mark.django_db
def test_stats_are_refused_to_a_non_staff_user(api_client: APIClient, plain_user: User) -> None:
    api_client.force_authenticate(plain_user)

    assert api_client.get(STATS).status_code == 403
