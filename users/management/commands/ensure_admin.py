"""Create the first admin login, once: for `make run` and for Render's build.

Uses DJANGO_SUPERUSER_PHONE / DJANGO_SUPERUSER_PASSWORD when set. In DEBUG
without a password it generates one and prints it once, since a fresh machine
has no other way to tell the person at the keyboard how to sign in. Outside
DEBUG it never does: the output is Render's build log, which is no place for a
password, so it creates nothing and says which variable to set. A password it
is given must pass the same validators as any other (AUTH_PASSWORD_VALIDATORS).
"""

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from users.models import User, UserRole

DEFAULT_ADMIN_PHONE = "+233200000000"


class Command(BaseCommand):
    help = "Create an admin account unless one exists (DJANGO_SUPERUSER_PHONE, DJANGO_SUPERUSER_PASSWORD)."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account already exists; leaving it as it is.")
            return
        phone = os.environ.get("DJANGO_SUPERUSER_PHONE", DEFAULT_ADMIN_PHONE)
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated and not settings.DEBUG:
            self.stderr.write(
                self.style.WARNING(
                    "No admin account created: DJANGO_SUPERUSER_PASSWORD is not set, and outside DEBUG a generated "
                    "password would be printed into this log. Set DJANGO_SUPERUSER_PHONE and "
                    "DJANGO_SUPERUSER_PASSWORD in the service's environment and deploy again."
                )
            )
            return
        if generated:
            password = secrets.token_urlsafe(12)
        user = User(
            phone=phone,
            first_name=os.environ.get("DJANGO_SUPERUSER_FIRST_NAME", "Admin"),
            last_name=os.environ.get("DJANGO_SUPERUSER_LAST_NAME", "User"),
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
        )
        try:
            validate_password(password, user)
        except ValidationError as refusal:
            raise CommandError("DJANGO_SUPERUSER_PASSWORD is too weak: " + " ".join(refusal.messages)) from None
        user = User.objects.create_superuser(
            phone,
            password,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            user_role=UserRole.SUPER_ADMIN,
        )
        self.stdout.write(self.style.SUCCESS(f"Created admin account: phone {user.phone}"))
        if generated:
            self.stdout.write(self.style.WARNING(f"Generated password (shown once, keep it): {password}"))
