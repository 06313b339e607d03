"""The users app: staff accounts, customers and their spreadsheet imports."""

import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("users.sms")


class UsersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "users"
    verbose_name = "Customers and imports"

    def ready(self) -> None:
        from users.accounts import receivers  # noqa: F401 - connects the sign-in defences' signal receivers

        # Said once per process, at start-up, so ops see straight away whether
        # SMS can go out. Never the credentials themselves.
        if settings.TWILIO_ENABLED:
            logger.info("Twilio configured — SMS functionality enabled")
        else:
            logger.warning("Twilio not configured — SMS functionality disabled")
