"""The settings failsafes: each one loads settings in a fresh interpreter with a chosen environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import django, json
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
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
}


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    clean.update(env, DJANGO_SETTINGS_MODULE="primepre.settings")
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def loaded(result: subprocess.CompletedProcess[str]) -> dict:
    import json

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


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
            SECRET_KEY="x" * 50,
            CORS_ALLOW_ALL_ORIGINS="true",
            CORS_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com",
        )
    )
    assert values["cors_all"] is False
    assert values["cors"] == ["https://app.example.com", "https://admin.example.com"]


def test_uploaded_files_spool_to_disk_while_json_bodies_may_be_large() -> None:
    values = loaded(load_settings(DEBUG="true"))
    assert values["file_upload_max"] <= 2 * 1024 * 1024, "uploaded files must not be held in RAM"
    assert values["data_upload_max"] == 50 * 1024 * 1024
    assert values["fields_max"] == 50_000


def test_json_log_format_writes_one_object_per_line_with_extras() -> None:
    import json
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
