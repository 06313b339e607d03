"""Shared by the account tests: a fast password hasher."""

from typing import Any

import pytest

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHER  # these tests are about who gets in, not about hashing
