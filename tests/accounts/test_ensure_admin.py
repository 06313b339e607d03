"""The first admin login: made once, and never with a password printed into a production log."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from users.models import User


def run(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, str]:
    for name in ("DJANGO_SUPERUSER_PHONE", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out, err = StringIO(), StringIO()
    call_command("ensure_admin", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_in_debug_a_generated_password_is_printed_once(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DEBUG = True
    out, _ = run(monkeypatch)
    assert "Generated password (shown once, keep it): " in out
    password = out.rsplit(": ", 1)[1].strip()
    assert User.objects.get(is_superuser=True).check_password(password)


@pytest.mark.django_db
def test_outside_debug_no_password_is_generated_into_the_build_log(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    out, err = run(monkeypatch)
    assert not User.objects.exists(), "no admin with a password nobody was told"
    assert "Generated password" not in out + err
    assert "Set DJANGO_SUPERUSER_PHONE and DJANGO_SUPERUSER_PASSWORD" in err


@pytest.mark.django_db
def test_a_weak_password_from_the_environment_is_refused(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="too weak"):
        run(monkeypatch, DJANGO_SUPERUSER_PHONE="0241234567", DJANGO_SUPERUSER_PASSWORD="12345678")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_a_password_from_the_environment_makes_the_admin_and_is_never_printed(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    out, err = run(
        monkeypatch, DJANGO_SUPERUSER_PHONE="024 123 4567", DJANGO_SUPERUSER_PASSWORD="a-long-real-passphrase"
    )
    assert User.objects.get(phone="+233241234567").check_password("a-long-real-passphrase")
    assert "a-long-real-passphrase" not in out + err
