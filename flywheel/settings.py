"""Django settings, read from the environment (every variable is listed in .env.example).

With no variable set, Flywheel runs on the embedded default: SQLite under var/ and jobs
executed in-process on a background thread. DATABASE_URL switches to PostgreSQL, REDIS_URL to
Celery on Redis. FLYWHEEL_PRODUCTION=1 turns on the HTTPS-only settings that
`manage.py check --deploy` asks for.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from flywheel.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
    private_dir,
    private_file_create,
    private_value,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FLYWHEEL_VAR_DIR", str(BASE_DIR / "var")))
# The secret key, the user-id salt, the SQLite database and uploaded logs live here: this user only.
private_dir(VAR_DIR)

PRODUCTION = env_bool("FLYWHEEL_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    if PRODUCTION:
        return env_required("DJANGO_SECRET_KEY")
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    # Embedded default: one random key per installation, kept (0600) so sessions survive restarts.
    return private_value(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(64))


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "csp",
    "flywheel.ui",
    "flywheel.accounts",
    "flywheel.jobs",
    "flywheel.ingest",
    "flywheel.pipeline",
    "flywheel.llm",
    "flywheel.cleaning",
    "flywheel.labeling",
    "flywheel.continuity",
    "flywheel.review",
    "flywheel.construction",
    "flywheel.datasets",
    "flywheel.runs",
    "flywheel.dashboard",
    "flywheel.demo",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a login refused for too many failures into the lockout page (last, as axes asks).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "flywheel.urls"
WSGI_APPLICATION = "flywheel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # Available in every template without {% load %}.
            "builtins": ["django.contrib.humanize.templatetags.humanize", "flywheel.ui.templatetags.flywheel_ui"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "flywheel.accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    # Lets concurrent test runs on one server use separate test databases.
    if env_str("FLYWHEEL_TEST_DB_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": env_str("FLYWHEEL_TEST_DB_NAME")}
else:
    # SQLite would create the file 0644 (and its -wal/-shm files with the same mode): create it
    # empty and 0600 first; an empty file is a valid new database.
    private_file_create(VAR_DIR / "flywheel.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "flywheel.sqlite3",
            # Background job threads write while requests read: wait for the lock, don't fail.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Jobs and Celery ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# celery: jobs go to Celery workers on Redis. thread: in-process background threads (the
# embedded default). sync: run inline at commit time (foreground commands such as `demo`).
FLYWHEEL_TASK_MODE = env_choice(
    "FLYWHEEL_TASK_MODE", "celery" if REDIS_URL else "thread", {"celery", "thread", "sync"}
)
# A job that stops heartbeating for this long is considered lost and is re-driven.
FLYWHEEL_JOB_LEASE_S = env_int("FLYWHEEL_JOB_LEASE_S", 300, minimum=5)
# A queued job whose broker message has not been picked up for this long is re-sent.
FLYWHEEL_JOB_REQUEUE_AFTER_S = env_int("FLYWHEEL_JOB_REQUEUE_AFTER_S", 600, minimum=5)
FLYWHEEL_SWEEP_INTERVAL_S = env_int("FLYWHEEL_SWEEP_INTERVAL_S", 60, minimum=1)
# Longest single task (a training run waits on its trainer process); the broker's
# visibility timeout must exceed it or Redis redelivers a message that is still being worked.
FLYWHEEL_LONGEST_TASK_S = env_int("FLYWHEEL_LONGEST_TASK_S", 24 * 3600, minimum=60)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None  # job rows in the database are the source of truth
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": FLYWHEEL_LONGEST_TASK_S + 3600,
    # Several installations (or test runs) can share one Redis without sharing queues.
    "global_keyprefix": env_str("FLYWHEEL_REDIS_PREFIX", ""),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "sweep-lost-jobs": {"task": "flywheel.jobs.tasks.jobs_sweep", "schedule": FLYWHEEL_SWEEP_INTERVAL_S},
}

# --- Cache --------------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "flywheel.cache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("FLYWHEEL_REDIS_PREFIX", ""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = [
    # Refuses every login (right password or not) of a locked account or address; must come first.
    "axes.backends.AxesStandaloneBackend",
    # Django's own, plus every Django admin permission for the admin role.
    "flywheel.accounts.backends.RoleModelBackend",
]

# Login throttling (django-axes, on /accounts/login/ and /admin/login/; API keys are not
# logins and are never throttled). Failed logins are counted per account (from any address)
# and per address (across accounts); either count reaching its limit locks that account or
# that address out for the cool-off, whatever password comes next.
FLYWHEEL_LOGIN_ACCOUNT_FAILURES = env_int("FLYWHEEL_LOGIN_ACCOUNT_FAILURES", 5, minimum=1)
FLYWHEEL_LOGIN_ADDRESS_FAILURES = env_int("FLYWHEEL_LOGIN_ADDRESS_FAILURES", 20, minimum=1)
FLYWHEEL_LOGIN_LOCKOUT_MINUTES = env_int("FLYWHEEL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Reverse proxies in front of Flywheel that append the client's address to X-Forwarded-For.
# 0: the address is the connection's own (REMOTE_ADDR), and X-Forwarded-For is ignored (a
# client could write anything there). Behind one proxy, every client would otherwise share the
# proxy's address and lock each other out.
FLYWHEEL_TRUSTED_PROXIES = env_int("FLYWHEEL_TRUSTED_PROXIES", 0, minimum=0)
AXES_HANDLER = "flywheel.accounts.lockout.AccountAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = "flywheel.accounts.lockout.failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=FLYWHEEL_LOGIN_LOCKOUT_MINUTES)
# Failures during a lockout do not extend it, so the page can say when it ends; a success does
# not reset the counts, or an attacker could clear an address's count with an account of their own.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "flywheel.accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "flywheel.accounts.views.lockout_response"
AXES_VERBOSE = False  # no banner on every start; failed logins are still logged

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "flywheel.accounts.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["flywheel.accounts.permissions.HasAllowedRole"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "flywheel.accounts.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flywheel API",
    "DESCRIPTION": "Batch ingest of chat sessions, messages and feedback.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The ingest body is described by pydantic models, whose optional fields are `null` types:
    # valid in OpenAPI 3.1, not in 3.0.
    "OAS_VERSION": "3.1.0",
}
# The ingest endpoint refuses bodies above this before reading them whole (413).
FLYWHEEL_INGEST_MAX_BYTES = env_int("FLYWHEEL_INGEST_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
FLYWHEEL_INGEST_MAX_ITEMS = env_int("FLYWHEEL_INGEST_MAX_ITEMS", 1000, minimum=1)
# Django's own limit must not pre-empt ours with a different error for the same body.
DATA_UPLOAD_MAX_MEMORY_SIZE = FLYWHEEL_INGEST_MAX_BYTES + 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# An uploaded log file larger than this is refused (and its bytes discarded as they arrive).
FLYWHEEL_UPLOAD_MAX_BYTES = env_int("FLYWHEEL_UPLOAD_MAX_BYTES", 2 * 1024**3, minimum=1024)
FILE_UPLOAD_HANDLERS = [
    "flywheel.ingest.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Limits of a file import (upload or `import_logs`), each refused with its own error: the bytes
# a compressed file may expand to (a gzip bomb stops here), one JSONL line, one item of a JSON
# array file. And how deep JSON may nest: in an item of a JSON array file, and in a session's
# metadata (imports and the ingest API alike).
FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES = env_int("FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES", 20 * 1024**3, minimum=1024)
FLYWHEEL_IMPORT_MAX_LINE_BYTES = env_int("FLYWHEEL_IMPORT_MAX_LINE_BYTES", 16 * 1024**2, minimum=1024)
FLYWHEEL_IMPORT_MAX_ITEM_BYTES = env_int("FLYWHEEL_IMPORT_MAX_ITEM_BYTES", 16 * 1024**2, minimum=1024)
FLYWHEEL_JSON_MAX_DEPTH = env_int("FLYWHEEL_JSON_MAX_DEPTH", 64, minimum=8)
# Anonymised user ids are keyed hashes; the key makes them useless outside this installation.
# Unset: a random key of its own, kept (0600) in the var directory. Several hosts that do not
# share that directory must all be given the same value.
FLYWHEEL_USER_ID_SALT = env_str("FLYWHEEL_USER_ID_SALT") or private_value(
    VAR_DIR / "user_id_salt", lambda: secrets.token_urlsafe(32)
)

# --- LLM and models (used by labeling, construction, evaluation) -------------------------
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "")
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
FLYWHEEL_LABEL_MODEL = env_str("FLYWHEEL_LABEL_MODEL", "gpt-4o")
FLYWHEEL_TEACHER_MODEL = env_str("FLYWHEEL_TEACHER_MODEL", FLYWHEEL_LABEL_MODEL)
FLYWHEEL_JUDGE_MODEL = env_str("FLYWHEEL_JUDGE_MODEL", FLYWHEEL_LABEL_MODEL)
FLYWHEEL_LLM_TIMEOUT_S = env_float("FLYWHEEL_LLM_TIMEOUT_S", 60.0)
FLYWHEEL_LLM_CONCURRENCY = env_int("FLYWHEEL_LLM_CONCURRENCY", 4, minimum=1)
FLYWHEEL_LLM_MAX_RETRIES = env_int("FLYWHEEL_LLM_MAX_RETRIES", 5, minimum=0)
# A local sentence-transformers directory, or a packaged model's name ("use-multilingual-v3",
# "all-MiniLM-L6-v2"); empty means the packaged use-multilingual-v3 (reads Chinese and English).
FLYWHEEL_EMBEDDING_MODEL = env_str("FLYWHEEL_EMBEDDING_MODEL", "")

# --- Training runs ------------------------------------------------------------------------
FLYWHEEL_RUNS_DIR = Path(env_str("FLYWHEEL_RUNS_DIR", str(VAR_DIR / "runs")))
FLYWHEEL_MEDIA_DIR = Path(env_str("FLYWHEEL_MEDIA_DIR", str(VAR_DIR / "media")))
MEDIA_ROOT = FLYWHEEL_MEDIA_DIR
MEDIA_URL = "/media/"

# --- i18n, static -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("FLYWHEEL_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it even before collectstatic
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # npm packages, served as they were installed (never copied into the repository).
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    ("vendor/pico", BASE_DIR / "node_modules" / "@picocss" / "pico" / "css"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security -----------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FLYWHEEL_LOG_LEVEL", "INFO")},
    # axes logs every login at INFO (with names and addresses masked); lockouts are warnings.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
