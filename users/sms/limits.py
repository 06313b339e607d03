"""Which welcome texts may go out at all: numbers in the allowed countries, and no more than the day's limit.

Texts cost money per message and reach real people, so two limits sit in front
of Twilio (docs/sms.md):

- `SMS_ALLOWED_COUNTRIES`: checked when texts are queued, since a number's
  country never changes. A text to any other country is recorded `refused`
  with the code `country_blocked` and is never sent: SMS pumping (texts to
  premium-rate ranges that pay the fraudster) is the classic abuse of a sign-up
  text, and Primepre's customers are in Ghana.
- `SMS_DAILY_LIMIT`: checked when a text is about to be handed to Twilio, the
  moment that costs money, so texts that are skipped, cancelled or refused for
  their country never use up the day. One row per day (UTC) in
  `SmsDailyCount`; a slot is taken with a conditional
  `UPDATE … SET texts = texts + 1 WHERE texts < limit`, which the database runs
  one at a time on that row, so however many workers send at once, exactly
  `limit` texts get a slot and the rest are refused with `daily_limit`.
"""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from users.models import SmsDailyCount

COUNTRY_BLOCKED = "country_blocked"
DAILY_LIMIT = "daily_limit"
UNKNOWN_COUNTRY = "??"


@dataclass(frozen=True)
class CountryCheck:
    """Whether a number's country is allowed, and which country it is (`??` when it can't be told)."""

    allowed: bool
    country: str


def sms_country_check(*, phone: str) -> CountryCheck:
    """The country of an E.164 number against SMS_ALLOWED_COUNTRIES (phonenumbers' metadata, ~25 µs a number)."""
    import phonenumbers  # lazily: the web process never needs its metadata for this

    try:
        country = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or UNKNOWN_COUNTRY
    except phonenumbers.NumberParseException:
        country = UNKNOWN_COUNTRY
    return CountryCheck(allowed=country in settings.SMS_ALLOWED_COUNTRIES, country=country)


def country_refusal_reason(*, country: str) -> str:
    allowed = ", ".join(settings.SMS_ALLOWED_COUNTRIES)
    where = "an unknown country" if country == UNKNOWN_COUNTRY else country
    return f"Not sent: the number is in {where}, and welcome texts go only to {allowed} (SMS_ALLOWED_COUNTRIES)."


def daily_limit_reason(*, limit: int, day: date) -> str:
    return f"Not sent: the service's limit of {limit:,} welcome texts a day (SMS_DAILY_LIMIT) was reached on {day}."


def sms_today() -> date:
    """The day a text counts against: UTC, as TIME_ZONE is, so every worker agrees when the day turns."""
    return timezone.now().date()


def sms_daily_slot_take(*, day: date, limit: int) -> bool:
    """Take one of the day's `limit` slots; False once they are all taken. Safe under any concurrency.

    The conditional UPDATE is one statement: PostgreSQL locks the row and re-checks
    `texts < limit` against the latest value before writing, SQLite runs writers
    one at a time. The day's row is created on its first use, ignoring a
    concurrent creator.
    """
    if limit <= 0:
        return False
    today = SmsDailyCount.objects.filter(day=day, texts__lt=limit)
    if today.update(texts=F("texts") + 1):
        return True
    if SmsDailyCount.objects.filter(day=day).exists():
        return False
    SmsDailyCount.objects.bulk_create([SmsDailyCount(day=day, texts=0)], ignore_conflicts=True)
    return bool(today.update(texts=F("texts") + 1))


def sms_daily_count(*, day: date) -> int:
    """Texts handed to the provider on `day`, for reports."""
    return SmsDailyCount.objects.filter(day=day).values_list("texts", flat=True).first() or 0
