"""Staff accounts: people who sign in, with a phone number, to import customers."""

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from users.models.choices import UserRole


class UserManager(BaseUserManager["User"]):
    """Creates users with a normalised phone, so `024 123 4567` and `+233241234567` are one login."""

    use_in_migrations = True

    def normalize_phone(self, phone: str) -> str:
        from users.customers.normalise import normalise_phone

        return normalise_phone(phone, default_region=settings.IMPORT_DEFAULT_PHONE_REGION)

    def get_by_natural_key(self, username: str | None) -> "User":
        from users.customers.normalise import InvalidValue

        try:
            phone = self.normalize_phone(username or "")
        except InvalidValue:
            raise self.model.DoesNotExist from None
        return self.get(phone=phone)

    def create_user(self, phone: str, password: str | None = None, **extra: Any) -> "User":
        user = self.model(phone=self.normalize_phone(phone), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, phone: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("user_role", UserRole.SUPER_ADMIN)
        return self.create_user(phone, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A member of Primepre's staff. Customers are not users; see `Customer`."""

    phone = models.CharField("phone number", max_length=20, unique=True, help_text="E.164, e.g. +233241234567")
    first_name = models.CharField(max_length=50, blank=True)
    last_name = models.CharField(max_length=50, blank=True)
    email = models.EmailField(blank=True)
    user_role = models.CharField(max_length=20, choices=UserRole.choices, default=UserRole.STAFF)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField("staff status", default=False, help_text="May sign in to the admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["first_name", "last_name"]

    class Meta:
        verbose_name = "staff user"

    def __str__(self) -> str:
        return self.get_full_name() or self.phone

    def clean(self) -> None:
        """Store the phone as login finds it, so `024 123 4567` and `+233241234567` can't be two accounts.

        Every model form calls this (the Django admin's add and change forms
        among them) before checking that the phone is unique, so a second
        spelling of a phone in use is refused as a duplicate, and text that is
        no phone number is a form error rather than an account nobody can use.
        """
        from users.customers.normalise import InvalidValue

        super().clean()
        try:
            self.phone = type(self).objects.normalize_phone(self.phone)
        except InvalidValue as error:
            raise ValidationError({"phone": ValidationError(error.reason, code="invalid")}) from None

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.phone

    @property
    def is_admin_user(self) -> bool:
        return self.is_superuser or self.user_role in {UserRole.ADMIN, UserRole.SUPER_ADMIN}
