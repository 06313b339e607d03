"""Welcome text messages sent to customers an import created, and the day's count that caps them."""

from django.db import models

from users.models.choices import SmsStatus


class SmsMessage(models.Model):
    """One text to one customer for one import; unique so a retry never texts twice."""

    customer = models.ForeignKey("users.Customer", on_delete=models.CASCADE, related_name="sms_messages")
    import_job = models.ForeignKey(
        "users.ImportJob", null=True, blank=True, on_delete=models.CASCADE, related_name="sms_messages"
    )
    to = models.CharField(max_length=20)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=SmsStatus.choices, default=SmsStatus.QUEUED, db_index=True)
    twilio_sid = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "import_job"], name="sms_once_per_customer_per_import"),
        ]
        # Texts cost money and reach people: asking an import for them is a right of its own,
        # not something every importer has.
        permissions = [("send_welcome_sms", "Can have welcome texts sent to the customers an import creates")]

    def __str__(self) -> str:
        return f"SMS to {self.to} ({self.status})"


class SmsDailyCount(models.Model):
    """How many welcome texts were handed to the SMS provider on one day (UTC), service-wide.

    One row per day; a conditional `UPDATE … SET texts = texts + 1 WHERE texts < limit`
    takes a slot, so the database, not the workers, decides who gets the last one
    (users/sms/limits.py).
    """

    day = models.DateField(primary_key=True)
    texts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.texts} texts"
