"""SECRET_KEY: what a real one looks like, and a per-machine one for development.

SECRET_KEY signs sessions, password-reset links and every JWT, so a key someone
else can read lets them sign in as anyone. Outside DEBUG the key must come from
the environment and pass Django's own deploy check (W009: 50 characters, 5
different ones, no `django-insecure-` prefix); settings.py refuses to start
otherwise. In DEBUG, with no key in the environment, each machine makes its own
random key once and keeps it in a file only its owner can read, so a
development server never runs on a key published in the source.

Render's blueprint can generate the key (`generateValue`): 256 random bits
written as 44 base64 characters, a real secret but shorter than W009's 50. Such
a key signs through its SHA-512 digest (`signing_key`), 128 characters carrying
the same 256 bits, so a one-click deploy needs no pasted key and Django's deploy
check still passes.

Standard library and Django's constants only: settings.py imports this before
Django is set up.
"""

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

# The development key this project once shipped in settings.py: public, so never a key.
PUBLISHED_DEVELOPMENT_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

# A generated key: at least 40 characters (240 bits of base64) of at least 20 different ones. Render's 44-character
# keys have about 32 different characters; a typed phrase or a repeated pattern falls short of one rule or the other.
GENERATED_KEY_MIN_LENGTH = 40
GENERATED_KEY_MIN_UNIQUE_CHARACTERS = 20

HOW_TO_SET = (
    "Set SECRET_KEY to a long random value, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (on Render, in the service's Environment), "
    "or set DEBUG=true to run in development mode on this machine."
)


def secret_key_problem(key: str) -> str | None:
    """Why `key` must not sign anything outside DEBUG, as a start-up error for people; None if it may."""
    if not key:
        return f"SECRET_KEY is not set. It is required when DEBUG is off. {HOW_TO_SET}"
    if key == PUBLISHED_DEVELOPMENT_KEY:
        return (
            "SECRET_KEY is the development key published in this project's source: anyone could sign "
            f"sessions and tokens with it. {HOW_TO_SET}"
        )
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return (
            f"SECRET_KEY starts with {SECRET_KEY_INSECURE_PREFIX!r}, Django's mark of a key made for "
            f"development only. {HOW_TO_SET}"
        )
    if len(key) < SECRET_KEY_MIN_LENGTH and not _is_generated(key):
        return (
            f"SECRET_KEY is {len(key)} characters long; a real key has at least {SECRET_KEY_MIN_LENGTH} "
            f"(Django's deploy check W009). {HOW_TO_SET}"
        )
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"SECRET_KEY uses only {len(set(key))} different characters; a real key uses at least "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} (Django's deploy check W009). {HOW_TO_SET}"
        )
    return None


def signing_key(key: str) -> str:
    """The key Django signs with: `key` itself, or, for a generated key shorter than W009 asks, its SHA-512 digest."""
    if len(key) >= SECRET_KEY_MIN_LENGTH:
        return key
    return hashlib.sha512(key.encode()).hexdigest()


def _is_generated(key: str) -> bool:
    return len(key) >= GENERATED_KEY_MIN_LENGTH and len(set(key)) >= GENERATED_KEY_MIN_UNIQUE_CHARACTERS


def development_secret_key(path: Path) -> str:
    """This machine's development key, read from `path`, which is created (mode 0600) the first time.

    Two processes starting at once (the web server and the task worker under
    `make run`, a test and its worker) must end up with the same key: the key is
    written whole to a private temporary file first, then hard-linked into place,
    which fails if another process got there first. Whoever loses reads the
    winner's key, and no one ever reads a half-written file.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 in the key's own folder, so the link below stays on one file system.
    fd, temporary = tempfile.mkstemp(prefix=".secret-key-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(SECRET_KEY_MIN_LENGTH) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process wrote it first; its key is the machine's key
    finally:
        os.unlink(temporary)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if secret_key_problem(key):
        raise ImproperlyConfigured(
            f"{path} does not hold a usable development key; delete it and a new one is made on the next start."
        )
    return key
