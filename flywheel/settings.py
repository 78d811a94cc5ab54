"""Django settings, read from the environment (every variable is listed in .env.example).

With no variable set, Flywheel runs on the embedded default: SQLite under var/ and jobs
executed in-process on a background thread. DATABASE_URL switches to PostgreSQL, REDIS_URL to
Celery on Redis. FLYWHEEL_PRODUCTION=1 turns on the HTTPS-only settings that
`manage.py check --deploy` asks for.

Every variable is read here, once, at start-up, through a `Section` (flywheel/env.py): typed,
range-checked, failing loudly, and recorded in the catalog that docs/settings.md is generated
from (`python -m flywheel.settings_doc`). The apps read `settings.FLYWHEEL_...` when they use
a value, so tests change it with the `settings` fixture (override_settings).
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from flywheel.env import Section, private_dir, private_file_create, private_value
from flywheel.llm.prices import prices_parse

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ---------------------------------------------------------------------------------
core = Section("Core")
VAR_DIR = core.path(
    "FLYWHEEL_VAR_DIR",
    BASE_DIR / "var",
    shown="./var",
    doc="SQLite file, secret key, uploads, models and run directories (created 0700)",
)
# The secret key, the user-id salt, the SQLite database and uploaded logs live here: this user only.
private_dir(VAR_DIR)

PRODUCTION = core.bool(
    "FLYWHEEL_PRODUCTION", False, example="1", doc="HTTPS-only cookies, HSTS, SSL redirect; requires DJANGO_SECRET_KEY"
)
DEBUG = core.bool("DJANGO_DEBUG", False, doc="Django's debug pages (never in production)")


def _secret_key(configured: str) -> str:
    if configured:
        return configured
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set")
    # Embedded default: one random key per installation, kept (0600) so sessions survive restarts.
    return private_value(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(64))


SECRET_KEY = _secret_key(
    core.str(
        "DJANGO_SECRET_KEY", example="change-me", doc="required in production; otherwise generated into var/secret_key"
    )
)
ALLOWED_HOSTS = core.list(
    "DJANGO_ALLOWED_HOSTS",
    [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"],
    shown="127.0.0.1,localhost,[::1] (none in production)",
    example="flywheel.example.com",
    doc="host names the site answers to",
)
CSRF_TRUSTED_ORIGINS = core.list(
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    [],
    example="https://flywheel.example.com",
    doc="origins allowed to post forms (behind a proxy on another scheme or port)",
)
FLYWHEEL_LOG_LEVEL = core.str("FLYWHEEL_LOG_LEVEL", "INFO", doc="level of the root logger")

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
    "flywheel.curation",
    "flywheel.runs",
    "flywheel.evaluation",
    "flywheel.dashboard",
    "flywheel.demo",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language: the person's choice (a cookie the switcher and the login set from
    # their profile), else the browser's Accept-Language, else English.
    "django.middleware.locale.LocaleMiddleware",
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
            # ({% translate %} and {% blocktranslate %} need no {% load i18n %}.)
            "builtins": [
                "django.contrib.humanize.templatetags.humanize",
                "django.templatetags.i18n",
                "flywheel.ui.templatetags.flywheel_ui",
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "flywheel.accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
database = Section("Database")
DATABASE_URL = database.str(
    "DATABASE_URL",
    example="postgres://flywheel:secret@127.0.0.1:5432/flywheel",
    doc="PostgreSQL; unset: SQLite under FLYWHEEL_VAR_DIR",
)
_conn_max_age = database.int("DB_CONN_MAX_AGE", 60, doc="seconds a PostgreSQL connection is kept for reuse")
# Lets concurrent test runs on one server use separate test databases.
_test_db_name = database.str("FLYWHEEL_TEST_DB_NAME", doc="tests only: name of the test database")
database.elsewhere(
    "FLYWHEEL_SHARED_DATASETS", doc="tests only: where the public samples are (default ../shared/datasets)"
)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age)}
    if _test_db_name:
        DATABASES["default"]["TEST"] = {"NAME": _test_db_name}
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
jobs = Section("Jobs and queues")
REDIS_URL = jobs.str(
    "REDIS_URL",
    example="redis://127.0.0.1:6379/0",
    doc="Celery broker and cache; unset: jobs run in threads of the web process",
)
# Several installations (or test runs) can share one Redis without sharing queues.
FLYWHEEL_REDIS_PREFIX = jobs.str("FLYWHEEL_REDIS_PREFIX", doc="key prefix, to share one Redis between installations")
# celery: jobs go to Celery workers on Redis. thread: in-process background threads (the
# embedded default). sync: run inline at commit time (foreground commands such as `demo`).
FLYWHEEL_TASK_MODE = jobs.choice(
    "FLYWHEEL_TASK_MODE",
    "celery" if REDIS_URL else "thread",
    {"celery", "thread", "sync"},
    shown="celery with REDIS_URL, else thread",
    example="celery",
    doc="where jobs run: Celery workers, threads of this process, or inline (scripts)",
)
# A job that stops heartbeating for this long is considered lost and is re-driven.
FLYWHEEL_JOB_LEASE_S = jobs.int(
    "FLYWHEEL_JOB_LEASE_S", 300, minimum=5, doc="a job silent this long is handed to another worker"
)
# A queued job whose broker message has not been picked up for this long is re-sent.
FLYWHEEL_JOB_REQUEUE_AFTER_S = jobs.int(
    "FLYWHEEL_JOB_REQUEUE_AFTER_S", 600, minimum=5, doc="a queued job not picked up this long is sent again"
)
FLYWHEEL_SWEEP_INTERVAL_S = jobs.int(
    "FLYWHEEL_SWEEP_INTERVAL_S", 60, minimum=1, doc="seconds between sweeps for lost jobs (Celery beat)"
)
# Longest single task (a training run waits on its trainer process); the broker's
# visibility timeout must exceed it or Redis redelivers a message that is still being worked.
FLYWHEEL_LONGEST_TASK_S = jobs.int(
    "FLYWHEEL_LONGEST_TASK_S", 24 * 3600, minimum=60, doc="the broker's visibility timeout is set an hour above this"
)

# Readers of new rows (bad-case sources, routing rules) re-read the rows their cursor passed in
# this many seconds before its last move: a row whose transaction was still open when the cursor
# passed it is read once it commits (flywheel/pipeline/cursors.py). Must exceed the longest
# transaction that writes their source tables (an import or ingest batch of feedback, a labeling
# or continuity batch, a cleaning batch) plus one reader's run. 0 re-reads nothing: safe only on
# SQLite, which has one writer at a time.
FLYWHEEL_CURSOR_REREAD_S = jobs.int(
    "FLYWHEEL_CURSOR_REREAD_S",
    600,
    minimum=0,
    doc="readers of new rows re-read what they passed this long before; above the longest writing transaction",
)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None  # job rows in the database are the source of truth
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": FLYWHEEL_LONGEST_TASK_S + 3600,
    "global_keyprefix": FLYWHEEL_REDIS_PREFIX,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Beat runs the sweep for lost jobs itself, on a thread (flywheel/celery.py), not as a task.
CELERY_BEAT_SCHEDULE = {}

# --- Cache --------------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "flywheel.cache.PooledRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": FLYWHEEL_REDIS_PREFIX,
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
logins = Section("Login throttling")
FLYWHEEL_LOGIN_ACCOUNT_FAILURES = logins.int(
    "FLYWHEEL_LOGIN_ACCOUNT_FAILURES", 5, minimum=1, doc="failed logins (from any address) that lock an account"
)
FLYWHEEL_LOGIN_ADDRESS_FAILURES = logins.int(
    "FLYWHEEL_LOGIN_ADDRESS_FAILURES", 20, minimum=1, doc="failed logins (across accounts) that lock an address"
)
FLYWHEEL_LOGIN_LOCKOUT_MINUTES = logins.int(
    "FLYWHEEL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1, doc="a lock lasts this long after the last failure"
)
# Reverse proxies in front of Flywheel that append the client's address to X-Forwarded-For.
# 0: the address is the connection's own (REMOTE_ADDR), and X-Forwarded-For is ignored (a
# client could write anything there). Behind one proxy, every client would otherwise share the
# proxy's address and lock each other out.
FLYWHEEL_TRUSTED_PROXIES = logins.int(
    "FLYWHEEL_TRUSTED_PROXIES",
    0,
    minimum=0,
    doc="reverse proxies appending to X-Forwarded-For; 0: the connection's address",
)
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
ingest = Section("Ingest and imports")
# The ingest endpoint refuses bodies above this before reading them whole (413).
FLYWHEEL_INGEST_MAX_BYTES = ingest.int(
    "FLYWHEEL_INGEST_MAX_BYTES",
    5 * 1024 * 1024,
    minimum=1024,
    doc="a larger ingest request is refused (413) before it is read",
)
FLYWHEEL_INGEST_MAX_ITEMS = ingest.int(
    "FLYWHEEL_INGEST_MAX_ITEMS", 1000, minimum=1, doc="most items in one ingest request"
)
# Django's own limit must not pre-empt ours with a different error for the same body.
DATA_UPLOAD_MAX_MEMORY_SIZE = FLYWHEEL_INGEST_MAX_BYTES + 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# An uploaded log file larger than this is refused (and its bytes discarded as they arrive).
FLYWHEEL_UPLOAD_MAX_BYTES = ingest.int(
    "FLYWHEEL_UPLOAD_MAX_BYTES",
    2 * 1024**3,
    minimum=1024,
    doc="an uploaded log file over this is refused, nothing stored",
)
FILE_UPLOAD_HANDLERS = [
    "flywheel.ingest.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Limits of a file import (upload or `import_logs`), each refused with its own error: the bytes
# a compressed file may expand to (a gzip bomb stops here), one JSONL line, one item of a JSON
# array file. And how deep JSON may nest: in an item of a JSON array file, and in a session's
# metadata (imports and the ingest API alike).
FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES = ingest.int(
    "FLYWHEEL_IMPORT_MAX_DECOMPRESSED_BYTES",
    20 * 1024**3,
    minimum=1024,
    doc="a .gz import expanding past this stops (gzip bombs)",
)
FLYWHEEL_IMPORT_MAX_LINE_BYTES = ingest.int(
    "FLYWHEEL_IMPORT_MAX_LINE_BYTES",
    16 * 1024**2,
    minimum=1024,
    doc="a longer JSONL line is refused (never held whole)",
)
FLYWHEEL_IMPORT_MAX_ITEM_BYTES = ingest.int(
    "FLYWHEEL_IMPORT_MAX_ITEM_BYTES",
    16 * 1024**2,
    minimum=1024,
    doc="a larger item of a JSON array file stops the import there",
)
FLYWHEEL_JSON_MAX_DEPTH = ingest.int(
    "FLYWHEEL_JSON_MAX_DEPTH",
    64,
    minimum=8,
    doc="deepest nesting in session metadata and in a JSON array import's items",
)
# Anonymised user ids are keyed hashes; the key makes them useless outside this installation.
# Unset: a random key of its own, kept (0600) in the var directory. Several hosts that do not
# share that directory must all be given the same value.
FLYWHEEL_USER_ID_SALT = ingest.str(
    "FLYWHEEL_USER_ID_SALT", doc="key for hashing user ids; unset: generated into var/user_id_salt (0600)"
) or private_value(VAR_DIR / "user_id_salt", lambda: secrets.token_urlsafe(32))

# --- LLM and models (used by labeling, construction, evaluation) -------------------------
llm = Section("LLM (any OpenAI-compatible server: vLLM, Ollama, a hosted API)")
OPENAI_BASE_URL = llm.str(
    "OPENAI_BASE_URL",
    example="http://127.0.0.1:8001/v1",
    doc="the server's /v1 address; unset: no LLM (the offline labeler is used)",
)
OPENAI_API_KEY = llm.str("OPENAI_API_KEY", doc="the server's key, if it asks for one")
FLYWHEEL_LABEL_MODEL = llm.str("FLYWHEEL_LABEL_MODEL", "gpt-4o", doc="model that labels sessions")
_teacher = llm.str("FLYWHEEL_TEACHER_MODEL", doc="model that writes better answers; default: FLYWHEEL_LABEL_MODEL")
FLYWHEEL_TEACHER_MODEL = _teacher or FLYWHEEL_LABEL_MODEL
_judge = llm.str("FLYWHEEL_JUDGE_MODEL", doc="model that scores and compares answers; default: FLYWHEEL_LABEL_MODEL")
FLYWHEEL_JUDGE_MODEL = _judge or FLYWHEEL_LABEL_MODEL
FLYWHEEL_LLM_TIMEOUT_S = llm.float("FLYWHEEL_LLM_TIMEOUT_S", 60.0, doc="seconds one request may take")
FLYWHEEL_LLM_CONCURRENCY = llm.int("FLYWHEEL_LLM_CONCURRENCY", 4, minimum=1, doc="requests running at once per process")
FLYWHEEL_LLM_MAX_RETRIES = llm.int(
    "FLYWHEEL_LLM_MAX_RETRIES", 5, minimum=0, doc="retries of a failed or rate-limited request"
)
# model=input:output prices in USD per million tokens, comma-separated ("gpt-4o=2.5:10,
# gpt-4o-mini=0.15:0.6"); a model not listed costs 0 (unknown), never a guess.
FLYWHEEL_LLM_PRICES = prices_parse(
    llm.str(
        "FLYWHEEL_LLM_PRICES", doc="model=input:output USD per million tokens, e.g. gpt-4o=2.5:10,gpt-4o-mini=0.15:0.6"
    )
)
# First back-off delay when the server gives no Retry-After (doubles per attempt, with jitter).
FLYWHEEL_LLM_BACKOFF_BASE_S = llm.float(
    "FLYWHEEL_LLM_BACKOFF_BASE_S", 1.0, doc="first back-off delay in seconds (doubles per attempt)"
)
# Longest single wait inside one call; a longer Retry-After ends the call with
# LLMUnavailable(retry_after_s=...), so the job is retried later instead of holding a worker.
FLYWHEEL_LLM_BACKOFF_MAX_S = llm.float(
    "FLYWHEEL_LLM_BACKOFF_MAX_S", 60.0, doc="longest wait inside a call; a longer Retry-After goes to the job system"
)
# Turn off for servers that reject response_format.
FLYWHEEL_LLM_JSON_MODE = llm.bool(
    "FLYWHEEL_LLM_JSON_MODE", True, doc='send response_format={"type": "json_object"} with JSON calls'
)
# A local sentence-transformers directory, or a packaged model's name ("use-multilingual-v3",
# "all-MiniLM-L6-v2"); empty means the packaged use-multilingual-v3 (reads Chinese and English).
FLYWHEEL_EMBEDDING_MODEL = llm.str(
    "FLYWHEEL_EMBEDDING_MODEL",
    doc="embedding model: a packaged model's name or a local directory; empty: the packaged default",
)

# --- Training runs ------------------------------------------------------------------------
runs = Section("Training runs")
FLYWHEEL_RUNS_DIR = runs.path(
    "FLYWHEEL_RUNS_DIR", VAR_DIR / "runs", shown="./var/runs", doc="where each run's directory is made"
)
# Directories base models may be taken from (a run's own final model is under FLYWHEEL_RUNS_DIR,
# so a trained model can be the base of the next run: flywheel.runs.conf.model_roots()). Paths
# outside them are refused.
_model_roots = runs.list("FLYWHEEL_MODEL_ROOTS", [], shown="./var/models", doc="directories base models may come from")
FLYWHEEL_MODEL_ROOTS = [Path(root) for root in _model_roots] or [VAR_DIR / "models"]
FLYWHEEL_TRAIN_PROCESSES = runs.int(
    "FLYWHEEL_TRAIN_PROCESSES", 0, minimum=0, doc="trainer processes per run; 0: one per GPU the gpu worker sees"
)
# A GPU host may keep torch in another environment.
_train_python = runs.str("FLYWHEEL_TRAIN_PYTHON", doc="Python that runs the trainer; default: this one")
FLYWHEEL_TRAIN_PYTHON = _train_python or sys.executable
# How often the worker reads new metrics and checks for a cancel request (at least 0.1 s).
FLYWHEEL_TRAIN_POLL_S = max(
    0.1, runs.float("FLYWHEEL_TRAIN_POLL_S", 1.0, doc="seconds between reads of a run's metrics and cancel checks")
)
FLYWHEEL_TRAIN_LOG_LINES = runs.int(
    "FLYWHEEL_TRAIN_LOG_LINES", 60, minimum=1, doc="lines of the trainer's log kept on the run page"
)
runs.elsewhere("HF_HUB_OFFLINE", example="1", doc="read by Hugging Face libraries: 1 = nothing is downloaded")

FLYWHEEL_MEDIA_DIR = core.path(
    "FLYWHEEL_MEDIA_DIR", VAR_DIR / "media", shown="./var/media", doc="uploaded files (log imports)"
)
MEDIA_ROOT = FLYWHEEL_MEDIA_DIR
MEDIA_URL = "/media/"

# --- i18n, static -------------------------------------------------------------------------
# English and Simplified Chinese. Translations live in flywheel/locale/ (docs/engineers.md says
# how to add a string); the compiled .mo files are committed, so nothing is compiled at start-up.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "flywheel" / "locale"]
# Our date formats per language (flywheel/formats/<locale>/formats.py), over Django's own.
FORMAT_MODULE_PATH = ["flywheel.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = core.path(
    "FLYWHEEL_STATIC_ROOT",
    BASE_DIR / "staticfiles",
    shown="./staticfiles",
    doc="where collectstatic writes (production)",
)
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
# The page language's cookie (flywheel/accounts/language.py): no script reads it.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
_ssl_redirect = core.bool(
    "DJANGO_SECURE_SSL_REDIRECT", True, doc="production only: redirect HTTP to HTTPS; 0 when a proxy already does"
)
_hsts_seconds = core.int("DJANGO_HSTS_SECONDS", 31536000, doc="production only: HSTS max-age")
if PRODUCTION:
    SECURE_SSL_REDIRECT = _ssl_redirect
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = _hsts_seconds
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"one_line_refusals": {"()": "flywheel.ui.logging.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": FLYWHEEL_LOG_LEVEL},
    # axes logs every login at INFO (with names and addresses masked); lockouts are warnings.
    # A 403 is one line, not a traceback (flywheel/ui/logging.py).
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["one_line_refusals"]},
    },
}


# === The apps' settings ====================================================================

# --- Cleaning -----------------------------------------------------------------------------
cleaning = Section("Cleaning")
# Sessions cleaned per batch (one transaction, one progress report).
FLYWHEEL_CLEANING_BATCH_SIZE = cleaning.int(
    "FLYWHEEL_CLEANING_BATCH_SIZE", 200, minimum=1, doc="sessions per cleaning batch"
)


def _language_codes(codes: list[str]) -> tuple[str, ...]:
    from lingua import IsoCode639_1  # a light import; the language models load on first use

    codes = tuple(code.lower() for code in codes)
    if len(codes) < 2:
        raise ImproperlyConfigured("FLYWHEEL_CLEANING_LANGUAGES needs at least two language codes")
    unknown = [code for code in codes if not hasattr(IsoCode639_1, code.upper())]
    if unknown:
        raise ImproperlyConfigured(f"FLYWHEEL_CLEANING_LANGUAGES: unknown ISO 639-1 codes {', '.join(unknown)}")
    return codes


# Languages lingua chooses among for text that is not Chinese/Japanese/Korean (those are told
# apart by script). Fewer languages: faster and fewer confusions; at least two.
FLYWHEEL_CLEANING_LANGUAGES = _language_codes(
    cleaning.list(
        "FLYWHEEL_CLEANING_LANGUAGES",
        ["en", "fr", "de", "es", "it", "pt", "nl", "ru", "id", "tr"],
        doc="ISO 639-1 codes lingua chooses among for text that is not Chinese, Japanese or Korean",
    )
)
# Longer texts are not scrubbed at all (fail-closed): they never go to an LLM.
FLYWHEEL_PII_MAX_CHARS = cleaning.int(
    "FLYWHEEL_PII_MAX_CHARS", 200_000, minimum=1000, doc="longer text fails PII scrubbing (fail-closed)"
)
# Estimated Jaccard similarity of shingle sets from which two texts count as near-duplicates.
FLYWHEEL_DEDUP_THRESHOLD = cleaning.float(
    "FLYWHEEL_DEDUP_THRESHOLD", 0.7, between=(0.3, 1.0), doc="estimated Jaccard similarity that makes a near-duplicate"
)

# --- Labeling -----------------------------------------------------------------------------
labeling = Section("Labeling")
FLYWHEEL_LABEL_TAXONOMY = labeling.str(
    "FLYWHEEL_LABEL_TAXONOMY", doc="path of a JSON taxonomy; empty: the built-in one"
)
FLYWHEEL_LABEL_BATCH_SIZE = labeling.int(
    "FLYWHEEL_LABEL_BATCH_SIZE", 20, minimum=1, doc="sessions per labeling job on the llm queue"
)
FLYWHEEL_LABEL_REVIEW_BELOW = labeling.int(
    "FLYWHEEL_LABEL_REVIEW_BELOW", 3, minimum=1, doc="labels with overall quality below this go to label review"
)
# The offline labeler's calibrated probability of its task type; below it the label is stored as
# uncertain and goes to label review (see docs/engineers.md, "The offline labeler").
FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE = labeling.float(
    "FLYWHEEL_LABEL_OFFLINE_MIN_CONFIDENCE",
    0.5,
    between=(0, 1),
    doc="offline task types less likely than this are stored as uncertain and go to label review",
)
# Longer transcripts keep their start and end (the middle is cut and marked as cut).
FLYWHEEL_LABEL_MAX_CHARS = labeling.int(
    "FLYWHEEL_LABEL_MAX_CHARS", 12_000, minimum=500, doc="longest transcript sent to the labeler"
)

# --- Continuity ---------------------------------------------------------------------------
continuity = Section("Continuity")
FLYWHEEL_CONTINUITY_PSEUDO_SHARE = continuity.float(
    "FLYWHEEL_CONTINUITY_PSEUDO_SHARE",
    0.1,
    between=(0, 1),
    doc="share of pseudo multi-turn samples the dataset builder keeps whole (the rest as their segments)",
)
# Empty: the threshold tuned on validation data when the model was trained.
FLYWHEEL_CONTINUITY_THRESHOLD = continuity.float(
    "FLYWHEEL_CONTINUITY_THRESHOLD",
    None,
    doc="P(continue) below which a turn is a topic switch, for every language; "
    "empty: the model version's own per-language thresholds",
)
if FLYWHEEL_CONTINUITY_THRESHOLD is not None and not 0.0 < FLYWHEEL_CONTINUITY_THRESHOLD < 1.0:
    raise ImproperlyConfigured(f"FLYWHEEL_CONTINUITY_THRESHOLD={FLYWHEEL_CONTINUITY_THRESHOLD} must be between 0 and 1")
FLYWHEEL_CONTINUITY_REVIEW_BAND = continuity.float(
    "FLYWHEEL_CONTINUITY_REVIEW_BAND", 0.1, doc="predictions this close to the threshold go to continuity review"
)
FLYWHEEL_CONTINUITY_BATCH = continuity.int(
    "FLYWHEEL_CONTINUITY_BATCH", 200, minimum=1, doc="sessions per prediction batch (one embedding call each)"
)
FLYWHEEL_CONTINUITY_MIN_SESSIONS = continuity.int(
    "FLYWHEEL_CONTINUITY_MIN_SESSIONS", 20, minimum=2, doc="fewest multi-turn sessions a bootstrap training accepts"
)

# --- Review -------------------------------------------------------------------------------
review = Section("Review")
# At most 9 (one digit key each). Empty: the labeling taxonomy's top-level types, so a
# reviewer's correction and a label put the same kind of data in the same loss channel.
FLYWHEEL_REVIEW_TASK_TYPES = review.list(
    "FLYWHEEL_REVIEW_TASK_TYPES", [], doc="task types offered to annotators; default: the labeling taxonomy's"
)
FLYWHEEL_REVIEW_DAILY_TARGET = review.int(
    "FLYWHEEL_REVIEW_DAILY_TARGET", 200, minimum=1, doc='items per annotator per day (the "my day" progress bar)'
)
# Until then the decision is not applied: no dataset, label or bad case sees it yet.
FLYWHEEL_REVIEW_UNDO_SECONDS = review.int(
    "FLYWHEEL_REVIEW_UNDO_SECONDS",
    30,
    minimum=0,
    doc="seconds a submitted decision can be undone before it is final and applied; 0: final at once",
)
FLYWHEEL_REVIEW_BULK_INLINE_MAX = review.int(
    "FLYWHEEL_REVIEW_BULK_INLINE_MAX", 2000, minimum=1, doc="bulk actions on more items than this run as a job"
)
# A Hugging Face model directory with a chat template. Empty: a tiny offline model made on
# first use under FLYWHEEL_VAR_DIR.
FLYWHEEL_REVIEW_TOKENIZER = review.str(
    "FLYWHEEL_REVIEW_TOKENIZER", doc='tokenizer for the "which tokens carry loss" preview; default: a tiny model'
)

# --- Construction (bad cases, Best-of-N, synthesis) ---------------------------------------
# Each of the run settings is a default that a run can override from the UI or the command line.
construction = Section("Construction (bad cases, Best-of-N, synthesis)")
FLYWHEEL_CONSTRUCTION_N = construction.int(
    "FLYWHEEL_CONSTRUCTION_N", 4, between=(1, 16), doc="teacher answers asked per bad case (the bad answer is one more)"
)
FLYWHEEL_CONSTRUCTION_TEMPERATURE = construction.float(
    "FLYWHEEL_CONSTRUCTION_TEMPERATURE", 0.9, between=(0.0, 2.0), doc="the teacher's sampling temperature"
)
# A chosen/rejected pair is kept only when the chosen answer's judge score (1..10) exceeds the
# rejected one's by at least this much.
FLYWHEEL_CONSTRUCTION_PAIR_MARGIN = construction.float(
    "FLYWHEEL_CONSTRUCTION_PAIR_MARGIN",
    2.0,
    between=(0.1, 9.0),
    doc="judge score points (1..10) a chosen answer must lead a rejected one by",
)
# Two candidates whose pointwise scores are at most this far apart are "close": the judge then
# compares them pairwise, in both orders, before one is preferred.
FLYWHEEL_CONSTRUCTION_PAIRWISE_BAND = construction.float(
    "FLYWHEEL_CONSTRUCTION_PAIRWISE_BAND",
    1.0,
    between=(0.0, 9.0),
    doc="candidates scored at most this far apart are compared pairwise",
)
# Fewer distinct teacher answers than this (capped at N) means the teacher is not sampling:
# there is nothing to choose from, and the bad case is refused instead of judged.
FLYWHEEL_CONSTRUCTION_MIN_DISTINCT = construction.int(
    "FLYWHEEL_CONSTRUCTION_MIN_DISTINCT", 2, minimum=1, doc="fewest distinct teacher answers worth judging"
)
# Budgets of one run (job): LLM requests that returned an answer, and cost in USD (0: no cost
# limit; costs are known only for models priced in FLYWHEEL_LLM_PRICES).
FLYWHEEL_CONSTRUCTION_MAX_CALLS = construction.int(
    "FLYWHEEL_CONSTRUCTION_MAX_CALLS", 500, minimum=1, doc="LLM request budget of a run"
)
FLYWHEEL_CONSTRUCTION_MAX_COST_USD = construction.float(
    "FLYWHEEL_CONSTRUCTION_MAX_COST_USD", 0.0, doc="cost budget of a run in USD; 0: none"
)
# The run stops when the judge gave no valid answer for this many bad cases in a row (a
# misconfigured judge must not burn the whole budget).
FLYWHEEL_CONSTRUCTION_JUDGE_FAILURE_STOP = construction.int(
    "FLYWHEEL_CONSTRUCTION_JUDGE_FAILURE_STOP",
    3,
    minimum=1,
    doc="bad cases in a row without a valid judgement that stop the run",
)
# The conversation sent to the teacher and the judge: at most this many turns before the bad
# answer, and at most this many characters per turn.
FLYWHEEL_CONSTRUCTION_CONTEXT_TURNS = construction.int(
    "FLYWHEEL_CONSTRUCTION_CONTEXT_TURNS", 20, minimum=1, doc="turns before the bad answer sent to teacher and judge"
)
FLYWHEEL_CONSTRUCTION_TURN_MAX_CHARS = construction.int(
    "FLYWHEEL_CONSTRUCTION_TURN_MAX_CHARS", 8000, minimum=200, doc="characters per turn sent to teacher and judge"
)
# Code verifier limits (per candidate).
FLYWHEEL_VERIFIER_CPU_S = construction.int(
    "FLYWHEEL_VERIFIER_CPU_S", 5, minimum=1, doc="CPU seconds of one code verification"
)
FLYWHEEL_VERIFIER_WALL_S = construction.int(
    "FLYWHEEL_VERIFIER_WALL_S", 10, minimum=1, doc="wall-clock seconds of one code verification"
)
FLYWHEEL_VERIFIER_MEMORY_MB = construction.int(
    "FLYWHEEL_VERIFIER_MEMORY_MB", 512, minimum=64, doc="address space of one code verification, in MiB"
)
# docker-compose's `verifier` service.
FLYWHEEL_VERIFIER_SOCKET = construction.str(
    "FLYWHEEL_VERIFIER_SOCKET", doc="Unix socket of the separate verifier service; empty: the worker runs the sandbox"
)
FLYWHEEL_MINING_BATCH_SIZE = construction.int(
    "FLYWHEEL_MINING_BATCH_SIZE", 500, minimum=1, doc="bad cases mined per batch (one transaction)"
)
# Safety and hallucination flags always make a bad case.
FLYWHEEL_MINING_LABEL_QUALITY_MAX = construction.int(
    "FLYWHEEL_MINING_LABEL_QUALITY_MAX",
    2,
    between=(0, 5),
    doc="a trusted label of quality (1..5) at or below this makes the last answer a bad case",
)
# Synthesis: a new prompt whose cosine similarity to an existing prompt reaches this is a
# duplicate. With an English-only embedding model, text that is mostly Chinese is compared by
# character-bigram Jaccard instead.
FLYWHEEL_SYNTH_DEDUP_COSINE = construction.float(
    "FLYWHEEL_SYNTH_DEDUP_COSINE",
    0.9,
    between=(0.5, 1.0),
    doc="embedding similarity that makes a new prompt a duplicate",
)
FLYWHEEL_SYNTH_DEDUP_CJK_JACCARD = construction.float(
    "FLYWHEEL_SYNTH_DEDUP_CJK_JACCARD",
    0.6,
    between=(0.1, 1.0),
    doc="character-bigram Jaccard that makes a Chinese prompt a duplicate (English-only embedding models)",
)
FLYWHEEL_SYNTH_DEDUP_LOG_PROMPTS = construction.int(
    "FLYWHEEL_SYNTH_DEDUP_LOG_PROMPTS",
    2000,
    minimum=0,
    doc="recent user prompts from the logs new prompts are compared with",
)
FLYWHEEL_SYNTH_TEMPERATURE = construction.float(
    "FLYWHEEL_SYNTH_TEMPERATURE", 1.0, between=(0.0, 2.0), doc="sampling temperature of prompt synthesis"
)
FLYWHEEL_SYNTH_MAX_COUNT = construction.int(
    "FLYWHEEL_SYNTH_MAX_COUNT", 500, minimum=1, doc="most prompts one synthesis run may ask for"
)

# --- Datasets -----------------------------------------------------------------------------
datasets = Section("Datasets")
# Empty: the documented approximation (flywheel/datasets/tokens.py).
FLYWHEEL_DATASET_TOKENIZER = datasets.str(
    "FLYWHEEL_DATASET_TOKENIZER", doc="tokenizer for the manifest's length statistics; default: an approximation"
)
# The build form lists the files here, and a build may read no file outside it.
FLYWHEEL_REPLAY_DIR = datasets.path(
    "FLYWHEEL_REPLAY_DIR",
    VAR_DIR / "replay",
    shown="./var/replay",
    doc="general replay conversations (JSONL) offered to the builder",
)

evaluation = Section("Evaluation")
FLYWHEEL_EVAL_MAX_NEW_TOKENS = evaluation.int(
    "FLYWHEEL_EVAL_MAX_NEW_TOKENS",
    512,
    minimum=1,
    doc="longest answer a candidate may give to an evaluation item (tokens)",
)
FLYWHEEL_EVAL_BATCH_SIZE = evaluation.int(
    "FLYWHEEL_EVAL_BATCH_SIZE", 8, minimum=1, doc="prompts per batch when a model generates evaluation answers"
)
# Usability is on the judge's 1-10 scale: a drop of more than this in any task type blocks promotion.
FLYWHEEL_EVAL_REGRESSION_THRESHOLD = evaluation.float(
    "FLYWHEEL_EVAL_REGRESSION_THRESHOLD",
    0.5,
    between=(0, 10),
    doc="usability drop (1-10 scale) in a task type that refuses a run's promotion unless ops override",
)
