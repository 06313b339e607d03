"""Signal receivers of the sign-in defences, connected when the users app is ready (users/apps.py).

Every process loads this module, the task worker included, so what the
receivers need is imported when they run: the token code pulls in DRF's
serializers, 18 MB the task worker never uses (measured with psutil after
django.setup()).
"""

from typing import Any

from axes.signals import user_locked_out
from django.db.models.signals import pre_save
from django.dispatch import receiver

from users.models import User


@receiver(user_locked_out, dispatch_uid="users.accounts.lockout_log")
def _log_lockout(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    from users.accounts.lockout import lockout_log

    lockout_log(request=request, phone=username, ip_address=ip_address)


@receiver(pre_save, sender=User, dispatch_uid="users.accounts.revoke_on_password_change")
def _revoke_tokens_on_password_change(
    sender: type[User], instance: User, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """A new password hash refuses every token issued before it, however it was set.

    The Django admin's password form, `set_password()` then `save()`, and
    `manage.py changepassword` all end in this save. Comparing with the stored
    hash, rather than hooking set_password, catches each of them and costs one
    query only when the password column is being written.
    """
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        from users.accounts.tokens import user_tokens_revoke

        user_tokens_revoke(user=instance)
