"""The settings failsafes: each one loads settings in a fresh interpreter with a chosen environment."""

import base64
import functools
import hashlib
import json
import os
import secrets
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from primepre.secret_key import PUBLISHED_DEVELOPMENT_KEY, development_secret_key

ROOT = Path(__file__).resolve().parent.parent
# What `python -c 'import secrets; print(secrets.token_urlsafe(50))'` prints: a key Django's deploy check accepts.
REAL_KEY = secrets.token_urlsafe(50)

PROBE = """
import django, hashlib, json
from django.conf import settings
from django.urls import reverse
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key_sha256": hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest(),
    "secret_key_length": len(settings.SECRET_KEY),
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "proxy_ssl_header": settings.SECURE_PROXY_SSL_HEADER,
    "hsts": [settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD],
    "secure_cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "httponly_cookies": [settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_HTTPONLY],
    "admin_url": reverse("admin:index"),
    "twilio": settings.TWILIO_ENABLED,
    "cors_all": settings.CORS_ALLOW_ALL_ORIGINS,
    "cors": settings.CORS_ALLOWED_ORIGINS,
    "sms_backend": settings.SMS_BACKEND,
    "twilio_imported": __import__("sys").modules.get("twilio") is not None,
    "file_upload_max": settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
    "data_upload_max": settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    "fields_max": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
}))
"""

SCRUBBED = {
    "DEBUG",
    "SECRET_KEY",
    "RENDER",
    "IS_RENDER",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "CORS_ALLOW_ALL_ORIGINS",
    "CORS_ALLOWED_ORIGINS",
    "SMS_BACKEND",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "ALLOW_PLAIN_HTTP",
    "ADMIN_URL",
    "SECURE_HSTS_SECONDS",
    "IMPORT_STORAGE",
    "IMPORT_S3_BUCKET",
}


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    clean.update(env, DJANGO_SETTINGS_MODULE="primepre.settings")
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def loaded(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@functools.cache
def _settings_for(env: frozenset[tuple[str, str]]) -> dict:
    return loaded(load_settings(**dict(env)))


def settings_for(**env: str) -> dict:
    """The settings an environment gives, loaded once per environment for the whole module (each load is ~1 s)."""
    return _settings_for(frozenset(env.items()))


def test_debug_is_off_unless_asked_for_on_any_host() -> None:
    values = settings_for(SECRET_KEY=REAL_KEY)
    assert values["debug"] is False, "no DEBUG in the environment must mean production mode, Render or not"
    assert values["ssl_redirect"] and values["secure_cookies"] == [True, True], "and production's HTTPS defaults"


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error() -> None:
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_render_defaults_to_debug_off_and_requires_a_secret_key() -> None:
    result = load_settings(RENDER="true")
    assert "SECRET_KEY is not set" in result.stderr, "on Render DEBUG must default to off"


def test_missing_twilio_variables_disable_sms_with_one_warning_and_no_crash() -> None:
    result = load_settings(TWILIO_ACCOUNT_SID="AC123", DEBUG="true")
    values = loaded(result)
    assert values["twilio"] is False
    assert result.stderr.count("Twilio not configured — SMS functionality disabled") == 1
    assert "AC123" not in result.stderr, "no part of a credential is logged"


def test_all_three_twilio_variables_enable_sms_without_importing_twilio() -> None:
    result = load_settings(
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="secret-token-value",
        TWILIO_PHONE_NUMBER="+15005550006",
        DEBUG="true",
        LOG_LEVEL="INFO",
    )
    values = loaded(result)
    assert values["twilio"] is True
    assert values["sms_backend"] == "twilio"
    assert values["twilio_imported"] is False, "twilio must be imported only when a message is sent"
    assert "Twilio configured — SMS functionality enabled" in result.stderr
    assert "secret-token-value" not in result.stderr + result.stdout


def test_cors_never_allows_every_origin_outside_debug() -> None:
    values = loaded(
        load_settings(
            DEBUG="false",
            SECRET_KEY=REAL_KEY,
            CORS_ALLOW_ALL_ORIGINS="true",
            CORS_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com",
        )
    )
    assert values["cors_all"] is False
    assert values["cors"] == ["https://app.example.com", "https://admin.example.com"]


def test_uploaded_files_spool_to_disk_while_json_bodies_may_be_large() -> None:
    values = settings_for(DEBUG="true")
    assert values["file_upload_max"] <= 2 * 1024 * 1024, "uploaded files must not be held in RAM"
    assert values["data_upload_max"] == 6 * 1024 * 1024, "DRF reads JSON through it: the JSON limit"
    assert values["fields_max"] == 1000


def test_json_log_format_writes_one_object_per_line_with_extras() -> None:
    import logging

    from primepre.logging import JsonFormatter

    record = logging.LogRecord("users.imports", logging.INFO, __file__, 1, "[BULK-CREATE-START] job=%s", ("j1",), None)
    record.job_id = "j1"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert "\n" not in line
    assert payload["message"] == "[BULK-CREATE-START] job=j1"
    assert payload["level"] == "INFO" and payload["logger"] == "users.imports" and payload["time"]
    assert payload["job_id"] == "j1"


# --- SECRET_KEY ----------------------------------------------------------------------------------------------------

WEAK_KEYS = {
    "django's insecure prefix": ("django-insecure-" + secrets.token_urlsafe(50), "starts with 'django-insecure-'"),
    "the key once published in settings.py": (PUBLISHED_DEVELOPMENT_KEY, "published in this project's source"),
    "too short": (secrets.token_urlsafe(24), "a real key has at least 50"),
    "too uniform": ("ab" * 40, "uses only 2 different characters"),
}


@pytest.mark.parametrize("key", list(WEAK_KEYS))
def test_a_key_that_is_not_a_real_secret_stops_start_up_outside_debug(key: str) -> None:
    value, reason = WEAK_KEYS[key]
    result = load_settings(SECRET_KEY=value)
    assert result.returncode != 0, f"settings loaded with {key} as SECRET_KEY"
    assert reason in result.stderr and "Set SECRET_KEY to a long random value" in result.stderr, result.stderr[-800:]
    assert value not in result.stderr, "the refused key itself must not reach the log"


def test_renders_generated_key_signs_through_its_digest_so_it_meets_djangos_length() -> None:
    values = settings_for(SECRET_KEY=RENDER_GENERATED_KEY)
    assert len(RENDER_GENERATED_KEY) == 44
    assert values["secret_key_length"] == 128, "SHA-512 in hex: the same 256 bits, long enough for W009"
    assert values["secret_key_sha256"] == hashlib.sha256(
        hashlib.sha512(RENDER_GENERATED_KEY.encode()).hexdigest().encode()
    ).hexdigest(), "every process derives the same key"


def test_in_debug_each_machine_makes_its_own_key_once_and_keeps_it() -> None:
    first = settings_for(DEBUG="true")
    second = loaded(load_settings(DEBUG="true"))
    key_file = ROOT / ".run" / "development-secret-key"
    assert first["secret_key_length"] >= 50
    assert first["secret_key_sha256"] == second["secret_key_sha256"], "sessions must survive a restart"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, "only the machine's owner may read the key"
    assert first["secret_key_sha256"] != hashlib.sha256(PUBLISHED_DEVELOPMENT_KEY.encode()).hexdigest()


def test_the_development_key_file_is_created_private_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "development-secret-key"
    key = development_secret_key(path)
    assert development_secret_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key and len(key) >= 50
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"


RACE = """
import sys, time
from pathlib import Path
from primepre.secret_key import development_secret_key
start = float(sys.argv[2])
while time.time() < start:
    pass
print(development_secret_key(Path(sys.argv[1])))
"""


def test_processes_starting_at_once_agree_on_one_development_key(tmp_path: Path) -> None:
    path = tmp_path / "development-secret-key"
    start = time.time() + 1.5  # every child has imported and is spinning by then
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(path), str(start)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {child.communicate(timeout=60)[0].strip() for child in children}
    assert len(keys) == 1 and path.read_text().strip() in keys, f"{len(keys)} different keys were handed out"


@pytest.mark.slow
def test_the_test_suite_itself_runs_in_development_mode_without_any_environment() -> None:
    """pytest-env sets DEBUG=true before pytest-django loads the settings, so a bare `pytest` needs no key."""
    clean = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("PYTEST")}
    bare = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_masking.py"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bare.returncode == 0, bare.stdout[-2000:] + bare.stderr[-2000:]
    asked = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_masking.py"],
        cwd=ROOT,
        env={**clean, "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SECRET_KEY is not set" in asked.stdout + asked.stderr, "a DEBUG the environment sets is left alone"


# --- HTTPS, the deploy check and the admin's URL --------------------------------------------------------------------


# What Render's blueprint `generateValue` makes: 256 random bits, base64, 44 characters.
RENDER_GENERATED_KEY = base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.mark.parametrize("key", [REAL_KEY, RENDER_GENERATED_KEY], ids=["a pasted key", "render's generated key"])
def test_django_deploy_check_passes_on_render_with_a_real_key(key: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "RENDER": "true", "SECRET_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_on_render_https_is_required_and_the_proxy_header_trusted() -> None:
    values = settings_for(RENDER="true", SECRET_KEY=REAL_KEY)
    assert values["debug"] is False and values["ssl_redirect"] is True
    assert values["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["hsts"] == [365 * 24 * 3600, True, True]
    assert values["secure_cookies"] == [True, True] and values["httponly_cookies"] == [True, True]


def test_off_render_the_forwarded_header_is_not_trusted() -> None:
    values = settings_for(SECRET_KEY=REAL_KEY)
    assert values["proxy_ssl_header"] is None, "anyone could send X-Forwarded-Proto to a service reached directly"


def test_a_private_plain_http_deployment_must_say_so_and_keeps_the_rest() -> None:
    values = settings_for(SECRET_KEY=REAL_KEY, ALLOW_PLAIN_HTTP="true")
    assert values["ssl_redirect"] is False and values["secure_cookies"] == [False, False]
    assert values["hsts"][0] == 0, "no HSTS promise from a host that serves plain HTTP"
    assert values["httponly_cookies"] == [True, True]


def test_plain_http_is_refused_on_render() -> None:
    result = load_settings(RENDER="true", SECRET_KEY=REAL_KEY, ALLOW_PLAIN_HTTP="true")
    assert result.returncode != 0 and "ALLOW_PLAIN_HTTP is set on Render" in result.stderr


def test_the_admin_moves_to_admin_url() -> None:
    assert settings_for(DEBUG="true")["admin_url"] == "/admin/"
    assert settings_for(DEBUG="true", ADMIN_URL="/back-office-7f3e/")["admin_url"] == "/back-office-7f3e/"


def test_an_admin_url_that_would_hide_the_services_own_pages_is_refused() -> None:
    result = load_settings(DEBUG="true", ADMIN_URL="api")
    assert result.returncode != 0 and "ADMIN_URL 'api/' would hide" in result.stderr


# --- reading the environment ---------------------------------------------------------------------------------------


def test_a_misspelt_boolean_stops_start_up_instead_of_reading_as_false() -> None:
    result = load_settings(DEBUG="true", CORS_ALLOW_ALL_ORIGINS="ture")
    assert result.returncode != 0
    assert "CORS_ALLOW_ALL_ORIGINS must be true or false" in result.stderr


@pytest.mark.parametrize(("written", "read"), [("YES", True), ("on", True), ("1", True), ("Off", False), ("0", False)])
def test_booleans_read_the_usual_spellings(written: str, read: bool) -> None:
    assert settings_for(DEBUG=written, SECRET_KEY=REAL_KEY)["debug"] is read


def test_log_level_and_format_are_checked_once_for_every_process() -> None:
    result = load_settings(DEBUG="true", LOG_LEVEL="LOUD")
    assert result.returncode != 0 and "LOG_LEVEL must be one of" in result.stderr
    result = load_settings(DEBUG="true", LOG_FORMAT="xml")
    assert result.returncode != 0 and "LOG_FORMAT must be 'text' or 'json'" in result.stderr


def test_upload_storage_is_the_database_unless_a_bucket_is_named_and_a_typo_stops_start_up() -> None:
    """A misspelt storage, or a bucket asked for without a name, would lose uploads: refuse to start instead."""
    result = load_settings(DEBUG="true", IMPORT_STORAGE="dsik")
    assert result.returncode != 0 and "IMPORT_STORAGE must be database or s3, got 'dsik'" in result.stderr
    result = load_settings(DEBUG="true", IMPORT_STORAGE="s3")
    assert result.returncode != 0 and "IMPORT_STORAGE=s3 needs IMPORT_S3_BUCKET" in result.stderr
    assert loaded(load_settings(DEBUG="true", IMPORT_STORAGE="S3", IMPORT_S3_BUCKET="uploads"))["debug"] is True
