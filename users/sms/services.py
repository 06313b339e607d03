"""Welcome texts for the customers an import created: queue them, then send each at most once.

Every text is an SmsMessage row, unique per (customer, import), so queueing twice
adds nothing. Sending claims a row queued→sending with an optimistic
`filter(...).update(...)` and commits that before calling Twilio: a second run
can't claim it too, and a row a dead worker left in `sending` is marked failed
("outcome unknown"), never sent again — at most once beats a double text.

Two limits keep texts from being abused (users/sms/limits.py): a number outside
SMS_ALLOWED_COUNTRIES is recorded `refused` when texts are queued, and once the
service has handed SMS_DAILY_LIMIT texts to Twilio today, the rest are recorded
`refused` too. Refusals are counted with the others and logged as
[SMS-REFUSED] with how many and why; nothing is dropped silently.
"""

import logging
import string
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from users.logtags import LogTag
from users.masking import mask_phone
from users.models import Customer, ImportJob, SmsMessage, SmsStatus
from users.sms.backends import SmsBackend, SmsSendError, get_backend, sms_enabled
from users.sms.limits import (
    COUNTRY_BLOCKED,
    DAILY_LIMIT,
    country_refusal_reason,
    daily_limit_reason,
    sms_country_check,
    sms_daily_slot_take,
    sms_today,
)
from users.sms.retry import TokenBucket, backoff_delay
from users.sms.tasks import enqueue_import_sms

logger = logging.getLogger(__name__)

WELCOME_FIELDS = frozenset({"first_name", "last_name", "full_name", "shipping_mark"})
# Rows per query when queueing (ids and names only, so a few hundred kB) and when sending.
QUEUE_BATCH_SIZE = 500
SEND_BATCH_SIZE = 100
DISABLED_REASON = "SMS disabled"
OUTCOME_UNKNOWN_CODE = "outcome_unknown"
OUTCOME_UNKNOWN_REASON = (
    "Outcome unknown: the worker stopped while this text was being sent. "
    "It is not sent again, so nobody is texted twice."
)


@dataclass(frozen=True)
class SmsRunResult:
    """What one run of the sending task did; `continues` says another run was queued to finish."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    refused: int = 0
    outcome_unknown: int = 0
    continues: bool = False


def sms_welcome_template_check(*, template: str) -> None:
    """Refuse a template with a placeholder we can't fill, before any row is written."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ImproperlyConfigured(f"SMS_WELCOME_TEMPLATE is not a valid template: {exc}") from exc
    if unknown := fields - WELCOME_FIELDS:
        raise ImproperlyConfigured(
            f"SMS_WELCOME_TEMPLATE uses {', '.join(sorted(map(repr, unknown)))}; "
            f"it may use only {', '.join(sorted(WELCOME_FIELDS))} in braces"
        )


def sms_welcome_body(*, template: str, first_name: str, last_name: str, shipping_mark: str) -> str:
    return template.format(
        first_name=first_name,
        last_name=last_name,
        full_name=f"{first_name} {last_name}".strip(),
        shipping_mark=shipping_mark,
    )


def _welcome_message(
    *, job_id: uuid.UUID, customer_id: int, phone: str, body: str, enabled: bool, refused_countries: Counter[str]
) -> SmsMessage:
    """A new text: queued; skipped with SMS disabled; refused when the number's country isn't allowed."""
    message = SmsMessage(customer_id=customer_id, import_job_id=job_id, to=phone, body=body)
    if not enabled:
        message.status, message.last_error = SmsStatus.SKIPPED, DISABLED_REASON
        return message
    country = sms_country_check(phone=phone)
    if not country.allowed:
        message.status, message.error_code = SmsStatus.REFUSED, COUNTRY_BLOCKED
        message.last_error = country_refusal_reason(country=country.country)
        refused_countries[country.country] += 1
    return message


def _count_texts(messages: QuerySet[SmsMessage]) -> tuple[int, int]:
    """(every text, those refused for their country) in one query."""
    counts = messages.aggregate(
        total=Count("id"), refused=Count("id", filter=Q(status=SmsStatus.REFUSED, error_code=COUNTRY_BLOCKED))
    )
    return counts["total"], counts["refused"]


def sms_welcome_queue_for_import(*, job_id: uuid.UUID) -> int:
    """Create a queued SmsMessage for each customer this import created, unless one exists; send on commit.

    Returns how many were queued to send. Does nothing unless the admin ticked
    "send SMS" (ImportJob.send_sms). A number outside SMS_ALLOWED_COUNTRIES is
    recorded `refused` (code `country_blocked`, with the reason) and never sent;
    one [SMS-REFUSED] line says how many and which countries. With SMS disabled
    the texts are recorded as `skipped` (reason "SMS disabled"), so the page can
    say why nobody was texted; they are not sent if SMS is turned on later.
    Calling it again queues only customers without a text, and starts a sending
    run if any text is still queued, so it also resumes an interrupted job.
    """
    template = settings.SMS_WELCOME_TEMPLATE
    sms_welcome_template_check(template=template)
    job = ImportJob.objects.only("id", "send_sms").get(id=job_id)
    if not job.send_sms:
        return 0
    enabled = sms_enabled()
    messages = SmsMessage.objects.filter(import_job_id=job_id)
    before, refused_before = _count_texts(messages)
    refused_countries: Counter[str] = Counter()
    customers = Customer.objects.filter(import_job_id=job_id).order_by("id")
    last_id = 0
    while batch := list(
        customers.filter(id__gt=last_id).values_list("id", "first_name", "last_name", "shipping_mark", "phone")[
            :QUEUE_BATCH_SIZE
        ]
    ):
        last_id = batch[-1][0]
        # The unique (customer, import_job) constraint skips customers who already have
        # their text, even if another process queues the same import at the same time.
        SmsMessage.objects.bulk_create(
            [
                _welcome_message(
                    job_id=job_id,
                    customer_id=customer_id,
                    phone=phone,
                    body=sms_welcome_body(
                        template=template, first_name=first_name, last_name=last_name, shipping_mark=mark
                    ),
                    enabled=enabled,
                    refused_countries=refused_countries,
                )
                for customer_id, first_name, last_name, mark, phone in batch
            ],
            ignore_conflicts=True,
        )
    after, refused_after = _count_texts(messages)
    added, refused = after - before, refused_after - refused_before
    if refused:
        logger.warning(
            "%s job=%s: %d welcome texts refused, their numbers' country is not allowed (%s); SMS_ALLOWED_COUNTRIES=%s",
            LogTag.SMS_REFUSED,
            job_id,
            refused,
            ", ".join(f"{country} {n}" for country, n in refused_countries.most_common()),
            ",".join(settings.SMS_ALLOWED_COUNTRIES),
            extra={"job_id": str(job_id), "refused": refused, "error_code": COUNTRY_BLOCKED},
        )
    added -= refused
    if not enabled:
        if added:
            logger.warning(
                "SMS disabled: %d welcome texts for job=%s recorded as skipped",
                added,
                job_id,
                extra={"job_id": str(job_id), "skipped": added},
            )
        return 0
    if messages.filter(status=SmsStatus.QUEUED).exists():
        enqueue_import_sms(job_id=job_id)
    logger.info("SMS job=%s: %d welcome texts queued", job_id, added, extra={"job_id": str(job_id), "queued": added})
    return added


def sms_send_for_import(*, job_id: uuid.UUID) -> SmsRunResult:
    """Send the import's queued texts, throttled, retrying transient errors; the body of the `sms` task.

    Runs for at most SMS_TASK_MAX_SECONDS, then queues another run and returns,
    so imports waiting for the one worker get their turn (docs/sms.md).
    """
    outcome_unknown = sms_fail_stale_sending(job_id=job_id)
    if not sms_enabled():
        # Queued while SMS was on, but the worker runs without it now.
        skipped = SmsMessage.objects.filter(import_job_id=job_id, status=SmsStatus.QUEUED).update(
            status=SmsStatus.SKIPPED, last_error=DISABLED_REASON, next_attempt_at=None, updated_at=timezone.now()
        )
        if skipped:
            logger.warning(
                "SMS disabled: %d queued texts for job=%s marked skipped",
                skipped,
                job_id,
                extra={"job_id": str(job_id), "skipped": skipped},
            )
        return SmsRunResult(skipped=skipped, outcome_unknown=outcome_unknown)
    run = _SendRun(job_id=job_id, backend=get_backend())
    run.run()
    return SmsRunResult(
        sent=run.sent,
        failed=run.failed,
        retried=run.retried,
        skipped=run.skipped,
        refused=run.refused,
        outcome_unknown=outcome_unknown,
        continues=run.continues,
    )


class _SendRun:
    """One task run's loop: its token bucket, time budget and counters."""

    def __init__(self, *, job_id: uuid.UUID, backend: SmsBackend) -> None:
        self.job_id = job_id
        self.backend = backend
        self.deadline = time.monotonic() + settings.SMS_TASK_MAX_SECONDS
        self.bucket = TokenBucket(rate=settings.SMS_MESSAGES_PER_SECOND)
        self.pending = SmsMessage.objects.filter(import_job_id=job_id, status=SmsStatus.QUEUED)
        # Consecutive transient errors across messages: a Twilio outage or rate limit
        # affects every text, so the pause grows with the streak, not per message.
        self.error_streak = 0
        self.sent = self.failed = self.retried = self.skipped = self.refused = 0
        self.continues = False
        self.attempted = False

    def run(self) -> None:
        while True:
            now = timezone.now()
            batch = list(
                self.pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by("id")
                .values_list("id", "to", "body", "attempts")[:SEND_BATCH_SIZE]
            )
            if not batch:
                next_due = self.pending.aggregate(at=Min("next_attempt_at"))["at"]
                if next_due is None:
                    return
                wait = (next_due - timezone.now()).total_seconds()
                if not self._fits_budget(wait):
                    self._continue_later(run_after=next_due)
                    return
                time.sleep(max(0.0, wait))
                continue
            for message_id, to, body, attempts in batch:
                wait = self.bucket.wait_time()
                # At least one text per run, so even a tiny budget makes progress.
                if self.attempted and not self._fits_budget(wait):
                    self._continue_later(run_after=timezone.now() + timedelta(seconds=wait) if wait > 0 else None)
                    return
                self.bucket.take()
                self._send_one(message_id=message_id, to=to, body=body, attempts=attempts)

    def _fits_budget(self, wait: float) -> bool:
        return time.monotonic() + max(0.0, wait) < self.deadline

    def _continue_later(self, *, run_after: datetime | None) -> None:
        # Short waits are slept through; a long one (or the end of the budget)
        # frees the worker and leaves the rest to a new run, enqueued with run_after.
        enqueue_import_sms(job_id=self.job_id, run_after=run_after)
        self.continues = True

    def _send_one(self, *, message_id: int, to: str, body: str, attempts: int) -> None:
        # The claim commits before Twilio is called. Matching `attempts` as well as
        # the status means a row another run claimed and requeued meanwhile is not taken.
        claimed = SmsMessage.objects.filter(id=message_id, status=SmsStatus.QUEUED, attempts=attempts).update(
            status=SmsStatus.SENDING, attempts=attempts + 1, updated_at=timezone.now()
        )
        if not claimed:
            return
        # The day's limit counts texts handed to Twilio, once each: a retry already holds its slot.
        if attempts == 0 and not sms_daily_slot_take(day=sms_today(), limit=settings.SMS_DAILY_LIMIT):
            self._refuse_for_today(message_id=message_id)
            return
        self.attempted = True
        attempt = attempts + 1
        log_extra = {"job_id": str(self.job_id), "message_id": message_id, "attempt": attempt}
        try:
            result = self.backend.send(to=to, body=body)
        except SmsSendError as error:
            self._record_error(message_id=message_id, to=to, attempt=attempt, error=error, log_extra=log_extra)
            return
        self.error_streak = 0
        sending = SmsMessage.objects.filter(id=message_id, status=SmsStatus.SENDING)
        if not result.sent:
            sending.update(status=SmsStatus.SKIPPED, last_error=DISABLED_REASON, updated_at=timezone.now())
            self.skipped += 1
            return
        now = timezone.now()
        sending.update(
            status=SmsStatus.SENT,
            twilio_sid=result.sid,
            sent_at=now,
            last_error="",
            error_code="",
            next_attempt_at=None,
            updated_at=now,
        )
        self.sent += 1
        logger.info(
            "%s job=%s message=%s to=%s sid=%s attempt=%d",
            LogTag.SMS_SEND,
            self.job_id,
            message_id,
            mask_phone(to),
            result.sid or "-",
            attempt,
            extra={**log_extra, "sid": result.sid},
        )

    def _refuse_for_today(self, *, message_id: int) -> None:
        """The day's limit is reached: refuse this text and the import's other texts not yet tried, in one line.

        Texts already tried once keep the slot they took and go on retrying.
        """
        now, day, limit = timezone.now(), sms_today(), settings.SMS_DAILY_LIMIT
        refusal = {
            "status": SmsStatus.REFUSED,
            "error_code": DAILY_LIMIT,
            "last_error": daily_limit_reason(limit=limit, day=day),
            "next_attempt_at": None,
            "updated_at": now,
        }
        refused = SmsMessage.objects.filter(id=message_id, status=SmsStatus.SENDING).update(**refusal)
        refused += SmsMessage.objects.filter(import_job_id=self.job_id, status=SmsStatus.QUEUED, attempts=0).update(
            **refusal
        )
        self.refused += refused
        logger.warning(
            "%s job=%s: %d welcome texts refused, the service's limit of %d texts a day (SMS_DAILY_LIMIT) "
            "was reached on %s",
            LogTag.SMS_REFUSED,
            self.job_id,
            refused,
            limit,
            day.isoformat(),
            extra={"job_id": str(self.job_id), "refused": refused, "error_code": DAILY_LIMIT},
        )

    def _record_error(
        self, *, message_id: int, to: str, attempt: int, error: SmsSendError, log_extra: dict[str, object]
    ) -> None:
        now = timezone.now()
        sending = SmsMessage.objects.filter(id=message_id, status=SmsStatus.SENDING)
        log_extra = {**log_extra, "error_code": error.code}
        # Twilio's messages quote the number; the row keeps it, the log masks it.
        logged_message = error.message.replace(to, mask_phone(to))
        if error.transient and attempt <= settings.SMS_MAX_RETRIES:
            self.error_streak += 1
            delay = backoff_delay(
                attempt=max(attempt, self.error_streak),
                base_delay=settings.SMS_BASE_DELAY,
                max_delay=settings.SMS_MAX_DELAY,
            )
            sending.update(
                status=SmsStatus.QUEUED,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=error.message,
                error_code=error.code,
                updated_at=now,
            )
            self.bucket.pause(delay)
            self.retried += 1
            logger.warning(
                "%s job=%s message=%s attempt=%d/%d code=%s; retrying in %.2f s: %s",
                LogTag.SMS_RETRY,
                self.job_id,
                message_id,
                attempt,
                settings.SMS_MAX_RETRIES + 1,
                error.code,
                delay,
                logged_message,
                extra={**log_extra, "delay": delay},
            )
            return
        prefix = f"Gave up after {attempt} attempts: " if error.transient else ""
        reason = prefix + error.message
        sending.update(
            status=SmsStatus.FAILED, last_error=reason, error_code=error.code, next_attempt_at=None, updated_at=now
        )
        self.failed += 1
        logger.warning(
            "%s job=%s message=%s attempt=%d code=%s: %s",
            LogTag.SMS_FAIL,
            self.job_id,
            message_id,
            attempt,
            error.code,
            prefix + logged_message,
            extra=log_extra,
        )


def sms_fail_stale_sending(*, job_id: uuid.UUID | None = None) -> int:
    """Mark failed each text left `sending` longer than SMS_SENDING_STALE_SECONDS: its worker died mid-send.

    Twilio may or may not have accepted it; sending it again could text the
    customer twice, so it is not retried. Returns how many were marked.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_SENDING_STALE_SECONDS)
    stale = SmsMessage.objects.filter(status=SmsStatus.SENDING, updated_at__lt=cutoff)
    if job_id is not None:
        stale = stale.filter(import_job_id=job_id)
    # Only as many rows as workers that died mid-send, so one line each is affordable.
    found = list(stale.values_list("id", "import_job_id"))
    if not found:
        return 0
    marked = stale.filter(id__in=[message_id for message_id, _ in found]).update(
        status=SmsStatus.FAILED,
        error_code=OUTCOME_UNKNOWN_CODE,
        last_error=OUTCOME_UNKNOWN_REASON,
        next_attempt_at=None,
        updated_at=now,
    )
    for message_id, message_job_id in found:
        logger.warning(
            "%s job=%s message=%s code=%s: %s",
            LogTag.SMS_FAIL,
            message_job_id,
            message_id,
            OUTCOME_UNKNOWN_CODE,
            OUTCOME_UNKNOWN_REASON,
            extra={"job_id": str(message_job_id), "message_id": message_id, "error_code": OUTCOME_UNKNOWN_CODE},
        )
    return marked


def sms_resume_stalled() -> list[uuid.UUID]:
    """Queue a sending run for each import whose due texts nobody has touched for SMS_SENDING_STALE_SECONDS.

    django-tasks-db leaves a killed worker's task RUNNING for ever, so nothing
    else would finish those texts. Meant for the worker's periodic sweep. Each
    job is claimed by touching its queued rows with an optimistic update, so
    concurrent sweeps queue it once; a duplicate run would still text nobody twice.
    """
    sms_fail_stale_sending()
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SMS_SENDING_STALE_SECONDS)
    stalled = (
        SmsMessage.objects.filter(status=SmsStatus.QUEUED, import_job__isnull=False, updated_at__lt=cutoff)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff))
        .values_list("import_job_id", flat=True)
        .distinct()
    )
    resumed: list[uuid.UUID] = []
    for job_id in list(stalled):
        claimed = SmsMessage.objects.filter(
            import_job_id=job_id, status=SmsStatus.QUEUED, updated_at__lt=cutoff
        ).update(updated_at=now)
        if claimed:
            enqueue_import_sms(job_id=job_id)
            resumed.append(job_id)
            logger.warning(
                "%s job=%s: %d queued texts untouched since %s; sending run queued again",
                LogTag.SMS_RETRY,
                job_id,
                claimed,
                cutoff.isoformat(),
                extra={"job_id": str(job_id), "queued": claimed},
            )
    return resumed
