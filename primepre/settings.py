"""Settings for Primepre Import, read from environment variables.

One file, driven by the environment through the tiny typed helpers below, in the
manner of healthchecks.io: every knob has a safe default for `make run`, and
Render (which sets `RENDER`) gets production-safe defaults. docs/deploy.md lists
every variable.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from primepre.env import env_bool, env_float, env_int, env_list, env_str
from primepre.logging import TEXT_FORMAT, log_format, log_level
from primepre.secret_key import development_secret_key, secret_key_problem, signing_key

BASE_DIR = Path(__file__).resolve().parent.parent


MB = 1024 * 1024

# Render sets RENDER=true in every service; IS_RENDER lets other hosts opt in.
ON_RENDER = env_bool("RENDER") or env_bool("IS_RENDER")

# --- Safe by default: DEBUG and SECRET_KEY ---------------------------------------
# DEBUG is off unless asked for, on every host: a server started with no
# configuration must not show tracebacks to strangers or sign tokens with a key
# anyone can read. `make run` and the test suite ask for it (Makefile, and
# [tool.pytest_env] in pyproject.toml).
DEBUG = env_bool("DEBUG")

# Outside DEBUG only a real key from the environment will do (primepre/secret_key.py
# says what "real" means); in DEBUG without one, this machine's own key, made once.
SECRET_KEY = env_str("SECRET_KEY")
if DEBUG and not SECRET_KEY:
    SECRET_KEY = development_secret_key(BASE_DIR / ".run" / "development-secret-key")
elif not DEBUG:
    if secret_key_refused := secret_key_problem(SECRET_KEY):
        raise ImproperlyConfigured(secret_key_refused)
    SECRET_KEY = signing_key(SECRET_KEY)

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
    # Refresh tokens that can be refused: logout, rotation, a password change (see "Sign-in defences").
    "rest_framework_simplejwt.token_blacklist",
    # Failed sign-ins counted in the database, per phone and per client address (see "Sign-in defences").
    "axes",
    "drf_spectacular",
    # Serves Swagger UI / Redoc assets from our own static files: the docs page works on a closed network.
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "users",
]

MIDDLEWARE = [
    # First, so CORS headers reach every response, errors included.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CsrfViewMiddleware, whose process_view reads posted forms: bodies are sized before any read.
    "users.api.limits.BodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a sign-in page that ran into a lockout into a 429 (see "Sign-in defences").
    "axes.middleware.AxesMiddleware",
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

# Request body limits: users/api/limits.py holds each request to one of these before reading its body,
# and users/api/parsers.py bounds what a JSON body may build. The figures, and why:
# - Everything not listed below (sign-in, tokens, /accounts/ ...): the largest legitimate body is a
#   refresh token or a phone and 128-character password, well under 1 KB.
REQUEST_MAX_BODY_SIZE = env_int("REQUEST_MAX_BODY_SIZE", 4 * 1024)
# - Django's admin: its largest form deletes the 200 rows "Show all" lists, ~11 KB of import-job ids.
ADMIN_MAX_BODY_SIZE = env_int("ADMIN_MAX_BODY_SIZE", 64 * 1024)
# - An importer's bulk-create JSON: 10,000 customers as the upload dialog posts them measured 2.5 MB
#   (258 bytes each); 6 MB leaves room for names and emails twice as long. The worst body found at 6 MB
#   (10,000 customers of 16 keys, each value with an emoji, all rejected and echoed back) takes the web
#   worker from 62 to 148 MB; at 8 MB, to 177 MB (make bench-attack). The instance's 512 MB is shared
#   with the task worker, so the smaller of the two.
IMPORT_MAX_JSON_BODY_SIZE = env_int("IMPORT_MAX_JSON_BODY_SIZE", 6 * MB)
# - An importer's spreadsheet upload (plus 64 KB for the form around it).
IMPORT_MAX_UPLOAD_SIZE = env_int("IMPORT_MAX_UPLOAD_SIZE", 50 * MB)
# Django's own cap on request.body and on a form's non-file data. DRF reads JSON through request.body,
# so it must be at least the JSON limit; the limits above are what actually bound each request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", IMPORT_MAX_JSON_BODY_SIZE)
# Form fields per request (query string included): the admin's bulk actions post one per selected row, at
# most the 200 that "Show all" lists; the upload forms send a file and up to four fields.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
# Files per request: the upload forms send one; each spools to disk past FILE_UPLOAD_MAX_MEMORY_SIZE.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 5)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 1 * MB)

# Import engine.
BULK_CREATE_BATCH_SIZE = env_int("BULK_CREATE_BATCH_SIZE", 25)
IMPORT_TRANSACTION_ROWS = env_int("IMPORT_TRANSACTION_ROWS", 2000)
IMPORT_DEFAULT_PHONE_REGION = env_str("IMPORT_DEFAULT_PHONE_REGION", "GH")
IMPORT_INLINE_MAX_ROWS = env_int("IMPORT_INLINE_MAX_ROWS", 10_000)
# Read and validate a long file in a second process while the first writes: two cores, two stages, about
# twice as fast on a million rows, but the two processes' private pages cost the stack about 100 MB more at
# that size. render.yaml turns it off where web and worker share 512 MB (docs/performance.md measures both).
IMPORT_READ_AHEAD = env_bool("IMPORT_READ_AHEAD", default=True)
IMPORT_MAX_CUSTOMERS_PER_REQUEST = env_int("IMPORT_MAX_CUSTOMERS_PER_REQUEST", 10_000)
IMPORT_HEARTBEAT_STALE_SECONDS = env_int("IMPORT_HEARTBEAT_STALE_SECONDS", 60)
IMPORT_MAX_ATTEMPTS = env_int("IMPORT_MAX_ATTEMPTS", 5)
# The task worker lowers its CPU priority by this much, so web requests come first.
TASK_WORKER_NICE = env_int("TASK_WORKER_NICE", 10)
IMPORT_FILE_RETENTION_DAYS = env_int("IMPORT_FILE_RETENTION_DAYS", 14)
# An import may be undone this many days after it ended. A wrong file is noticed within days; after a month
# the customers it created have been shipped to and edited; the previous values it kept (customers' old names,
# phones and emails) are then dropped by the worker's hourly prune.
IMPORT_UNDO_DAYS = env_int("IMPORT_UNDO_DAYS", 30)
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_MAX_UNCOMPRESSED_BYTES", 1024 * MB)
IMPORT_MAX_COMPRESSION_RATIO = env_int("IMPORT_MAX_COMPRESSION_RATIO", 200)
# --- Import quotas: what one user may hold in the queue, and the service in its upload storage ---
# Three waiting or running imports is more than a person follows at once; a fourth waits
# its turn (429) instead of lining up hundreds of jobs in front of everyone else. 0: no limit.
IMPORT_MAX_ACTIVE_JOBS_PER_USER = env_int("IMPORT_MAX_ACTIVE_JOBS_PER_USER", 3)
# Bytes of uploads kept in storage (the database or a bucket), all users together, until retention
# deletes them. 500 MB is ten uploads of the largest size allowed, while a typical customer sheet is
# well under 1 MB; it fills at most half of the free PostgreSQL's 1 GB (docs/deploy.md says when to
# lower it). 0: no limit.
IMPORT_MAX_STORED_BYTES = env_int("IMPORT_MAX_STORED_BYTES", 500 * MB)
# --- end import quotas ---
# --- Where uploads are stored (users/imports/storage) ---
# Never the web instance's disk: Render's free tier wipes it at every restart, and a worker on
# another machine can't read it. `database` keeps them in the app's own database, in 256 KB chunks;
# `s3` in an S3-compatible bucket named by IMPORT_S3_BUCKET.
IMPORT_STORAGE = env_str("IMPORT_STORAGE", "database").lower()
IMPORT_S3_BUCKET = env_str("IMPORT_S3_BUCKET")
IMPORT_S3_ENDPOINT_URL = env_str("IMPORT_S3_ENDPOINT_URL")  # empty: AWS itself
IMPORT_S3_REGION = env_str("IMPORT_S3_REGION")
IMPORT_S3_PREFIX = env_str("IMPORT_S3_PREFIX")  # a folder inside the bucket, e.g. primepre/
IMPORT_S3_ACCESS_KEY_ID = env_str("IMPORT_S3_ACCESS_KEY_ID")  # empty: boto3's usual AWS_* variables
IMPORT_S3_SECRET_ACCESS_KEY = env_str("IMPORT_S3_SECRET_ACCESS_KEY")
if IMPORT_STORAGE not in {"database", "s3"}:
    raise ImproperlyConfigured(f"IMPORT_STORAGE must be database or s3, got {IMPORT_STORAGE!r}")
if IMPORT_STORAGE == "s3" and not IMPORT_S3_BUCKET:
    raise ImproperlyConfigured("IMPORT_STORAGE=s3 needs IMPORT_S3_BUCKET, the bucket's name")
MEMORY_WARNING_MB = env_int("MEMORY_WARNING_MB", 350)
MEMORY_LOG_INTERVAL_SECONDS = env_float("MEMORY_LOG_INTERVAL_SECONDS", 10.0)

TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        # One queue for imports and texts (priorities order them), so django-tasks-db's own db_worker runs both.
        "QUEUES": ["default"],
    }
}

# Twilio failsafe: SMS is simply off until all three are set.
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
# is marked failed, never sent again (at most once beats a double text).
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
        # The Check step (users/api/checkstep.py): the fields a column can hold, how it was matched, a row's fate.
        "CustomerFieldEnum": "users.imports.rows.Field",
        "ColumnMatchEnum": "users.imports.header.MatchKind",
        "CorrectionOutcomeEnum": "users.models.corrections.CorrectionOutcome",
    },
}
# --- Sign-in defences ---------------------------------------------------------------------------------------------
# No password can be guessed: every way in (/api/auth/login/, /api/auth/token/, /accounts/login/,
# /admin/login/) calls Django's authenticate(request=...), which django-axes watches. Failures are
# counted in the database, so every web worker and process shares them. docs/deploy.md explains each knob.
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
# Requests per minute from one client address: password endpoints, then refresh and logout (0 switches one off).
LOGIN_RATE_PER_MINUTE = env_int("LOGIN_RATE_PER_MINUTE", 20)
TOKEN_RATE_PER_MINUTE = env_int("TOKEN_RATE_PER_MINUTE", 120)
# How many proxies in front of us append to X-Forwarded-For; only that many entries from its right are believed.
# On Render a request passes Cloudflare and then Render's own proxy, so the client is the second address from
# the right; elsewhere nobody is trusted and a spoofed header changes nothing.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 2 if ON_RENDER else 0)

AUTHENTICATION_BACKENDS = [
    "users.accounts.backends.LockoutBackend",  # refuses a locked-out phone or address before any password check
    "users.accounts.backends.PhoneBackend",
]
AXES_FAILURE_LIMIT = LOGIN_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Either one locks: a phone guessed at from many addresses, or one address trying many phones.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_USERNAME_CALLABLE = "users.accounts.lockout.lockout_phone"
AXES_CLIENT_IP_CALLABLE = "users.accounts.clients.client_ip"
AXES_LOCKOUT_CALLABLE = "users.accounts.lockout.lockout_response"
# A success clears the phone's own failures (PhoneBackend), never the address's failures on other phones.
AXES_RESET_ON_SUCCESS = False
# Attempts refused during a lockout don't extend it, so Retry-After stays true for a person who retries.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # a row per successful sign-in that nothing reads
AXES_VERBOSE = False

# DRF's throttles keep their counts in the cache: a database table (created by the users app's migrations),
# shared by every worker, rather than each process's memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
}
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT

SIMPLE_JWT = {
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": True,
    # Logout can refuse a refresh token but not an access token, so an access token lives only as long as
    # a stolen one should: the frontend renews it on its first 401, one refresh call per 5 minutes of use.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # A used refresh token is refused afterwards; the React app's sign-in tokens are the exception
    # (users/accounts/tokens.py says why).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a digest of the password hash: after a password change every token is refused.
    "CHECK_REVOKE_TOKEN": True,
}
# --- end sign-in defences ---

# --- HTTPS and browser protections -----------------------------------------------
# Outside DEBUG the service is HTTPS-only: plain HTTP is redirected, browsers are
# told to never use it again (HSTS), and cookies are never sent over it. A private
# deployment on a closed network without TLS says so with ALLOW_PLAIN_HTTP=true;
# Render always has TLS, so there the switch is refused.
ALLOW_PLAIN_HTTP = env_bool("ALLOW_PLAIN_HTTP")
if ALLOW_PLAIN_HTTP and ON_RENDER:
    raise ImproperlyConfigured(
        "ALLOW_PLAIN_HTTP is set on Render, which always serves HTTPS: remove it from the service's environment."
    )
HTTPS_ONLY = not DEBUG and not ALLOW_PLAIN_HTTP
if ON_RENDER:
    # Render's proxy ends TLS and sets X-Forwarded-Proto on every request it passes
    # on; nothing else can reach the service, so the header is trusted there only.
    # (Behind a TLS proxy on the same machine, gunicorn trusts it itself: its
    # forwarded_allow_ips is 127.0.0.1 by default.)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS_ONLY
# Render's health check calls /health over plain HTTP from inside Render; a redirect would fail it.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
# One year, sub-domains included, preload allowed: the length the browsers' preload
# list asks for. The service's host serves nothing over HTTP, ever; the only
# sub-domains HSTS reaches are those of that host. 0 switches HSTS off (docs/deploy.md).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600) if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
# No script reads either cookie: the import page gets its CSRF token from the page
# itself (users/web/views.py), the React frontend signs requests with a JWT.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Lax, not Strict: a link to /imports/ from an email or chat must open signed in.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Our pages only link to themselves and Django's admin; other sites learn nothing of our URLs.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Django's admin, at a path of your choosing: bots that try passwords on /admin/ find nothing there.
ADMIN_URL = (env_str("ADMIN_URL").strip("/") or "admin") + "/"
if ADMIN_URL.split("/")[0] in {"api", "accounts", "imports", "health", "static", "media"}:
    raise ImproperlyConfigured(f"ADMIN_URL {ADMIN_URL!r} would hide the service's own pages; choose another path.")

APP_VERSION = env_str("APP_VERSION", "1.0.0")

LOG_LEVEL = log_level()
LOG_FORMAT = log_format()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": TEXT_FORMAT},
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
        # axes logs every failed sign-in with the phone and address blanked out; [LOGIN-LOCKOUT] says what matters.
        "axes": {"level": "ERROR"},
    },
}
