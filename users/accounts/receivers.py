"""Signal receivers of the sign-in defences, connected when the users app is ready (users/apps.py)."""

from typing import Any

from axes.signals import user_locked_out
from django.dispatch import receiver

from users.accounts.lockout import lockout_log


@receiver(user_locked_out, dispatch_uid="users.accounts.lockout_log")
def _log_lockout(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    lockout_log(request=request, phone=username, ip_address=ip_address)
