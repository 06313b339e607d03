"""Settings for Primepre Import, read from environment variables.

One file, driven by the environment through the tiny typed helpers below, in the
manner of healthchecks.io: every knob has a safe default for `make run`, and
Render (which sets `RENDER`) gets production-safe defaults. docs/deploy.md lists
every variable.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from primepre.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent


MB = 1024 * 1024

# Render sets RENDER=true in every service; IS_RENDER lets other hosts opt in.
ON_RENDER = env_bool("RENDER") or env_bool("IS_RENDER")

DEBUG = env_bool("DEBUG", default=not ON_RENDER)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. It is required when DEBUG is off: "
            "set SECRET_KEY in the environment (Render's blueprint generates one)."
        )
    # Development only: a fixed, clearly-insecure key so sessions survive restarts.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
if ON_RENDER and (render_host := env_str("RENDER_EXTERNAL_HOSTNAME")):
    ALLOWED_HOSTS.append(render_host)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# CORS: an explicit allowlist; allow-all only ever in DEBUG and only when asked.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = DEBUG and env_bool("CORS_ALLOW_ALL_ORIGINS")
CORS_ALLOW_CREDENTIALS = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    # Serves Swagger UI / Redoc assets from our own static files: the docs page works on a closed network.
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "users",
]

MIDDLEWARE = [
    # First, so CORS headers reach every response, errors included (#5 item 10).
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "users.api.limits.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "primepre.urls"
WSGI_APPLICATION = "primepre.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the task worker write while the web process reads; the busy
    # timeout makes writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        # Python keeps 128 prepared statements by default; an import's lookups
        # (thousands of IN parameters each) made that ~55 MB of a 100,000-row
        # validation's 190 MB peak (measured with make bench).
        "cached_statements": 16,
    }
# Tests use a file for SQLite (not :memory:) so real worker processes can share it;
# TEST_DB_SUFFIX keeps concurrent test runs on one machine apart.
_test_suffix = env_str("TEST_DB_SUFFIX")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".run" / f"test{_test_suffix}.sqlite3")}
elif _test_suffix:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}{_test_suffix}"}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/imports/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Upload limits (#2 item 3). The frontend posts large JSON bodies; uploaded
# files spool to disk past FILE_UPLOAD_MAX_MEMORY_SIZE instead of sitting in RAM.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * MB)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 50_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 1 * MB)
IMPORT_MAX_UPLOAD_SIZE = env_int("IMPORT_MAX_UPLOAD_SIZE", 50 * MB)

# Import engine (#3).
BULK_CREATE_BATCH_SIZE = env_int("BULK_CREATE_BATCH_SIZE", 25)
IMPORT_TRANSACTION_ROWS = env_int("IMPORT_TRANSACTION_ROWS", 2000)
IMPORT_DEFAULT_PHONE_REGION = env_str("IMPORT_DEFAULT_PHONE_REGION", "GH")
IMPORT_INLINE_MAX_ROWS = env_int("IMPORT_INLINE_MAX_ROWS", 10_000)
IMPORT_MAX_CUSTOMERS_PER_REQUEST = env_int("IMPORT_MAX_CUSTOMERS_PER_REQUEST", 10_000)
IMPORT_HEARTBEAT_STALE_SECONDS = env_int("IMPORT_HEARTBEAT_STALE_SECONDS", 60)
IMPORT_MAX_ATTEMPTS = env_int("IMPORT_MAX_ATTEMPTS", 5)
# The task worker lowers its CPU priority by this much, so web requests come first.
TASK_WORKER_NICE = env_int("TASK_WORKER_NICE", 10)
IMPORT_FILE_RETENTION_DAYS = env_int("IMPORT_FILE_RETENTION_DAYS", 14)
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_MAX_UNCOMPRESSED_BYTES", 1024 * MB)
IMPORT_MAX_COMPRESSION_RATIO = env_int("IMPORT_MAX_COMPRESSION_RATIO", 200)
# --- Import quotas: what one user may hold in the queue, and the service on its disk ---
# Three waiting or running imports is more than a person follows at once; a fourth waits
# its turn (429) instead of lining up hundreds of jobs in front of everyone else. 0: no limit.
IMPORT_MAX_ACTIVE_JOBS_PER_USER = env_int("IMPORT_MAX_ACTIVE_JOBS_PER_USER", 3)
# Bytes of uploads kept on disk, all users together, until retention deletes them. 500 MB is
# ten uploads of the largest size allowed, while a typical customer sheet is well under 1 MB.
# It leaves room on a free instance's ephemeral disk (shared with the code and /tmp, its size
# unpublished) and fills at most half of a 1 GB persistent disk. 0: no limit.
IMPORT_MAX_STORED_BYTES = env_int("IMPORT_MAX_STORED_BYTES", 500 * MB)
# --- end import quotas ---
MEMORY_WARNING_MB = env_int("MEMORY_WARNING_MB", 350)
MEMORY_LOG_INTERVAL_SECONDS = env_float("MEMORY_LOG_INTERVAL_SECONDS", 10.0)

TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "imports", "sms"],
    }
}

# Twilio failsafe (#2 item 4): SMS is simply off until all three are set.
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_PHONE_NUMBER = env_str("TWILIO_PHONE_NUMBER")
TWILIO_ENABLED = bool(TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER)
# Empty counts as unset: the default follows Twilio's settings and DEBUG.
SMS_BACKEND = env_str("SMS_BACKEND").lower() or ("twilio" if TWILIO_ENABLED else ("console" if DEBUG else "disabled"))
SMS_MESSAGES_PER_SECOND = env_float("SMS_MESSAGES_PER_SECOND", 5.0)
SMS_MAX_RETRIES = env_int("SMS_MAX_RETRIES", 5)
SMS_BASE_DELAY = env_float("SMS_BASE_DELAY", 1.0)
SMS_MAX_DELAY = env_float("SMS_MAX_DELAY", 60.0)
SMS_WELCOME_TEMPLATE = env_str(
    "SMS_WELCOME_TEMPLATE",
    "Hello {first_name}, welcome to Primepre Logistics. Your shipping mark is {shipping_mark}.",
)
if SMS_BACKEND not in {"twilio", "console", "disabled"}:
    raise ImproperlyConfigured(f"SMS_BACKEND must be 'twilio', 'console' or 'disabled', got {SMS_BACKEND!r}")
# --- SMS limits: who may be texted, and how many a day (docs/sms.md) ---
# Two-letter ISO country codes of the numbers welcome texts may go to; empty means the default.
# Customers are in Ghana: a number elsewhere in an import is a typo or an abuse (SMS pumping
# to premium-rate ranges), and costs more per text either way.
SMS_ALLOWED_COUNTRIES = [code.upper() for code in env_list("SMS_ALLOWED_COUNTRIES")] or ["GH"]
if bad_codes := [code for code in SMS_ALLOWED_COUNTRIES if len(code) != 2 or not code.isalpha()]:
    raise ImproperlyConfigured(f"SMS_ALLOWED_COUNTRIES takes two-letter country codes such as GH, got {bad_codes}")
# Welcome texts the whole service may hand to Twilio in one day (UTC). A normal day brings tens
# to a few hundred new customers; 500 covers that, and caps what a stolen importer account or a
# wrong file can cost in one day at 500 texts. Raise it for a migration day; 0 sends none.
SMS_DAILY_LIMIT = env_int("SMS_DAILY_LIMIT", 500)
if SMS_DAILY_LIMIT < 0:
    raise ImproperlyConfigured(f"SMS_DAILY_LIMIT must be 0 (no texts) or more, got {SMS_DAILY_LIMIT}")
# --- end SMS limits ---
# Empty means Twilio's own API; the tests point it at a local stub server (docs/sms.md).
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL")
TWILIO_TIMEOUT = env_float("TWILIO_TIMEOUT", 10.0)
# One SMS task run sends for at most this long, then queues itself again, so an
# import waiting for the single worker is not stuck behind thousands of texts.
SMS_TASK_MAX_SECONDS = env_float("SMS_TASK_MAX_SECONDS", 60.0)
# A text still `sending` after this long was in flight when its worker died: it
# is marked failed, never sent again (at most once beats a double text, #6).
SMS_SENDING_STALE_SECONDS = env_int("SMS_SENDING_STALE_SECONDS", 300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "users.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "users.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Primepre Import API",
    "DESCRIPTION": "Customer spreadsheet imports for Primepre Logistics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response shapes differ (a multipart file in, a job out); split components keep both honest.
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    # No CDN: the docs page loads Swagger UI and Redoc from drf-spectacular-sidecar's static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Named after our TextChoices, not drf-spectacular's guesses (StatusEnum, CodeEnum ...).
    "ENUM_NAME_OVERRIDES": {
        "ImportStatusEnum": "users.models.choices.ImportStatus",
        "ImportSourceEnum": "users.models.choices.ImportSource",
        "DuplicatePolicyEnum": "users.models.choices.DuplicatePolicy",
        "RowOutcomeEnum": "users.models.choices.RowOutcome",
        "RowErrorCodeEnum": "users.models.choices.RowErrorCode",
        "RegionEnum": "users.models.choices.Region",
    },
}
SIMPLE_JWT = {
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": True,
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=ON_RENDER)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=ON_RENDER)
    SECURE_CONTENT_TYPE_NOSNIFF = True

APP_VERSION = env_str("APP_VERSION", "1.0.0")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "primepre.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "django_tasks": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django_tasks_db": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # twilio's HTTP client logs every request at INFO; our [SMS-*] lines say what matters.
        "twilio": {"level": "WARNING"},
    },
}
