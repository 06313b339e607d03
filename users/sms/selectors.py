"""Reads about welcome texts, for the import job's API and page."""

import uuid
from dataclasses import dataclass

from django.db.models import Count

from users.models import SmsMessage, SmsStatus
from users.sms.backends import sms_enabled


@dataclass(frozen=True)
class SmsCounts:
    """How an import's welcome texts stand; `disabled` is true when this server can't send SMS at all."""

    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    disabled: bool = False

    @property
    def pending(self) -> int:
        """Texts not finished yet: waiting, waiting for a retry, or in flight."""
        return self.queued + self.sending

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.skipped


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
    """Counts by status in one query."""
    by_status = dict(
        SmsMessage.objects.filter(import_job_id=job_id)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    )
    return SmsCounts(
        queued=by_status.get(SmsStatus.QUEUED, 0),
        sending=by_status.get(SmsStatus.SENDING, 0),
        sent=by_status.get(SmsStatus.SENT, 0),
        failed=by_status.get(SmsStatus.FAILED, 0),
        skipped=by_status.get(SmsStatus.SKIPPED, 0),
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
