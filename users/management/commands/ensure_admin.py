"""Create the first admin login for `make run`, once.

Uses DJANGO_SUPERUSER_PHONE / DJANGO_SUPERUSER_PASSWORD when set; otherwise
generates a password and prints it once, since a fresh machine has no other
way to tell the person at the keyboard how to sign in.
"""

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand

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
        if generated:
            password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(
            phone,
            password,
            first_name=os.environ.get("DJANGO_SUPERUSER_FIRST_NAME", "Admin"),
            last_name=os.environ.get("DJANGO_SUPERUSER_LAST_NAME", "User"),
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
            user_role=UserRole.SUPER_ADMIN,
        )
        self.stdout.write(self.style.SUCCESS(f"Created admin account: phone {user.phone}"))
        if generated:
            self.stdout.write(self.style.WARNING(f"Generated password (shown once, keep it): {password}"))
