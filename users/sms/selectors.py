"""Reads about welcome texts, for the import job's API and page."""

import uuid
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count

from users.models import SmsMessage, SmsStatus
from users.sms.backends import sms_enabled
from users.sms.limits import COUNTRY_BLOCKED


@dataclass(frozen=True)
class SmsCounts:
    """How an import's welcome texts stand; `disabled` is true when this server can't send SMS at all.

    `refused` texts were never handed to Twilio: `refused_country` because the
    number's country isn't in SMS_ALLOWED_COUNTRIES, `refused_daily_limit`
    because the service had sent SMS_DAILY_LIMIT texts that day.
    """

    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    refused_country: int = 0
    refused_daily_limit: int = 0
    disabled: bool = False

    @property
    def refused(self) -> int:
        return self.refused_country + self.refused_daily_limit

    @property
    def pending(self) -> int:
        """Texts not finished yet: waiting, waiting for a retry, or in flight."""
        return self.queued + self.sending

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.skipped + self.refused


@dataclass(frozen=True)
class SmsFailure:
    """One text that was not sent, and why, for the page's list of failures."""

    message_id: int
    customer_id: int
    shipping_mark: str
    to: str
    error_code: str
    reason: str


def sms_counts_for_import(*, job_id: uuid.UUID) -> SmsCounts:
    """Counts by status, refusals by reason, in one query."""
    rows = (
        SmsMessage.objects.filter(import_job_id=job_id)
        .order_by()
        .values_list("status", "error_code")
        .annotate(count=Count("id"))
        .values_list("status", "error_code", "count")
    )
    by_status: Counter[str] = Counter()
    refused_by_reason: Counter[str] = Counter()
    for status, error_code, count in rows:
        by_status[status] += count
        if status == SmsStatus.REFUSED:
            refused_by_reason[error_code] += count
    return SmsCounts(
        queued=by_status[SmsStatus.QUEUED],
        sending=by_status[SmsStatus.SENDING],
        sent=by_status[SmsStatus.SENT],
        failed=by_status[SmsStatus.FAILED],
        skipped=by_status[SmsStatus.SKIPPED],
        refused_country=refused_by_reason[COUNTRY_BLOCKED],
        # Any other reason is the day's limit: the only other refusal there is.
        refused_daily_limit=by_status[SmsStatus.REFUSED] - refused_by_reason[COUNTRY_BLOCKED],
        disabled=not sms_enabled(),
    )


def sms_failures_for_import(*, job_id: uuid.UUID, limit: int = 100) -> list[SmsFailure]:
    """The first `limit` failed texts of an import, oldest first, in one query."""
    rows = (
        SmsMessage.objects.filter(import_job_id=job_id, status=SmsStatus.FAILED)
        .order_by("id")
        .values_list("id", "customer_id", "customer__shipping_mark", "to", "error_code", "last_error")[:limit]
    )
    return [
        SmsFailure(
            message_id=message_id, customer_id=customer_id, shipping_mark=mark, to=to, error_code=code, reason=reason
        )
        for message_id, customer_id, mark, to, code, reason in rows
    ]
