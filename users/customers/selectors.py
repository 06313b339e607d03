"""Reads over customers: search and list for the admin pages, and the upload statistics.

Every function here is a bounded number of queries whatever the table's size:
a list is a lazy QuerySet the caller pages through; the statistics are three
aggregate queries.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from users.customers.normalise import InvalidValue, clean_text, normalise_phone
from users.models import Customer, Region

# A search is split on spaces into at most this many words; each must match somewhere.
SEARCH_MAX_WORDS = 6
# Fields a list may be ordered by (each also descending with a leading '-').
CUSTOMER_ORDER_FIELDS = frozenset(
    {"created_at", "updated_at", "shipping_mark", "first_name", "last_name", "email", "phone", "region", "id"}
)
DEFAULT_ORDERING = "-created_at"
# A digit word this long starting with one 0 is read as the start of a national number too.
NATIONAL_PREFIX_MIN_DIGITS = 4
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{6,}$")


def _word_matches(word: str) -> Q:
    matches = (
        Q(shipping_mark__icontains=word)
        | Q(first_name__icontains=word)
        | Q(last_name__icontains=word)
        | Q(email__icontains=word)
        | Q(phone__contains=word)
    )
    if word.isdigit() and len(word) >= NATIONAL_PREFIX_MIN_DIGITS and word[0] == "0" and word[1] != "0":
        # Stored phones are E.164 (+233241…); a typed national number starts with the trunk 0 (0241…).
        matches |= Q(phone__contains=word[1:])
    return matches


def customer_search_filter(search: str) -> Q:
    """The condition a free-text search puts on customers.

    Each word of the search must match part of the mark, a name, the email or
    the phone, so `ama mensah` finds Ama Mensah and `PM4 SAMPLE` finds that mark;
    a search that is a whole phone number in any form the importer accepts
    (`024 123 4567`, `+233 24 123 4567`) also matches the stored E.164 exactly.
    """
    text = clean_text(search)
    words = text.split(" ")[:SEARCH_MAX_WORDS] if text else []
    condition = Q()
    for word in words:
        condition &= _word_matches(word)
    if _PHONE_LIKE.match(text):
        try:
            phone = normalise_phone(text, default_region=settings.IMPORT_DEFAULT_PHONE_REGION)
        except InvalidValue:
            pass  # not a phone number: the word matches above are the whole search
        else:
            condition |= Q(phone=phone)
    return condition


def customer_list(*, search: str = "", region: str = "", ordering: str = DEFAULT_ORDERING) -> QuerySet[Customer]:
    """Customers matching `search` (see `customer_search_filter`) and `region`, in a stable order.

    `ordering` is one of CUSTOMER_ORDER_FIELDS, optionally with a leading '-';
    anything else falls back to newest first. The id breaks ties, so pages
    never repeat or skip a customer.
    """
    customers = Customer.objects.all()
    if region:
        customers = customers.filter(region=region)
    if clean_text(search):
        customers = customers.filter(customer_search_filter(search))
    field_name = ordering.removeprefix("-")
    if field_name not in CUSTOMER_ORDER_FIELDS:
        ordering, field_name = DEFAULT_ORDERING, DEFAULT_ORDERING.removeprefix("-")
    tie_breaker = "-id" if ordering.startswith("-") else "id"
    return customers.order_by(ordering, tie_breaker) if field_name != "id" else customers.order_by(ordering)


@dataclass(frozen=True)
class RegionCount:
    region: str
    label: str
    count: int


@dataclass(frozen=True)
class UploaderCount:
    user_id: int
    first_name: str
    last_name: str
    count: int

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class CustomerStats:
    """How many customers there are, how many arrived lately, where they live and who added them."""

    total: int
    recent: int
    recent_days: int
    by_region: list[RegionCount]
    by_uploader: list[UploaderCount]


def customer_stats(*, recent_days: int = 30, top_uploaders: int = 10, now: datetime | None = None) -> CustomerStats:
    """Totals for the upload statistics: three aggregate queries, however many customers there are."""
    since = (now or timezone.now()) - timedelta(days=recent_days)
    totals = Customer.objects.aggregate(total=Count("id"), recent=Count("id", filter=Q(created_at__gte=since)))
    labels = dict(Region.choices)
    by_region = [
        RegionCount(region=row["region"], label=str(labels.get(row["region"], row["region"])), count=row["count"])
        for row in Customer.objects.values("region").annotate(count=Count("id")).order_by("-count", "region")
    ]
    by_uploader = [
        UploaderCount(
            user_id=row["created_by"],
            first_name=row["created_by__first_name"],
            last_name=row["created_by__last_name"],
            count=row["count"],
        )
        for row in Customer.objects.filter(created_by__isnull=False)
        .values("created_by", "created_by__first_name", "created_by__last_name")
        .annotate(count=Count("id"))
        .order_by("-count", "created_by")[:top_uploaders]
    ]
    return CustomerStats(
        total=totals["total"],
        recent=totals["recent"],
        recent_days=recent_days,
        by_region=by_region,
        by_uploader=by_uploader,
    )
