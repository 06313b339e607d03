"""Customers: the people whose goods Primepre ships, created mostly by imports."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Lower, Upper
from django.db.models.lookups import GreaterThanOrEqual

from users.models.choices import Region


class Customer(models.Model):
    """A customer, stored in normal form so database constraints decide uniqueness.

    The normalisers in `users.customers.normalise` produce that form; the check
    constraints below refuse anything else, so a mark typed as `pm4  sample`
    can't slip past the unique index that `PM4 SAMPLE` holds, on either engine.
    """

    shipping_mark = models.CharField(max_length=100)
    first_name = models.CharField(max_length=50)
    last_name = models.CharField(max_length=50)
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=20, help_text="E.164, e.g. +233241234567")
    region = models.CharField(max_length=20, choices=Region.choices, default=Region.GREATER_ACCRA)
    # No index: only the upload stats group by it, and every index costs each imported row a write.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    import_job = models.ForeignKey(
        "users.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    import_row_number = models.PositiveIntegerField(null=True, blank=True, help_text="The source row it came from.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipping_mark"], name="customer_unique_shipping_mark"),
            models.UniqueConstraint(fields=["phone"], name="customer_unique_phone"),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="customer_unique_email_ci"
            ),
            models.CheckConstraint(
                condition=Q(shipping_mark=Upper("shipping_mark"))
                & ~Q(shipping_mark__contains="  ")
                & ~Q(shipping_mark__startswith=" ")
                & ~Q(shipping_mark__endswith=" ")
                & Q(GreaterThanOrEqual(Length("shipping_mark"), 2)),
                name="customer_shipping_mark_normalised",
            ),
            models.CheckConstraint(
                condition=Q(phone__startswith="+") & Q(GreaterThanOrEqual(Length("phone"), 8)),
                name="customer_phone_e164",
            ),
            models.CheckConstraint(
                condition=~Q(first_name="") & ~Q(last_name=""),
                name="customer_names_present",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shipping_mark} — {self.full_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
