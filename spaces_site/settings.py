"""Spaces settings: one file that reads the environment.

With no variable set, Spaces runs on the embedded default (SQLite, in-memory channel layer, local-memory
cache, console e-mail, an in-process media engine, Celery on a filesystem broker). Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG=False, ALLOWED_HOSTS and friends.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPACES_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _dev_secret_key() -> str:
    # A generated key kept in var/ so sessions survive restarts on a laptop; never used in production.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


DEBUG = envbool("DEBUG", "True")
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = _dev_secret_key()

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",  # first, so that runserver serves websockets
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",
    "channels",
    "allauth",
    "allauth.account",
    "django_celery_beat",
    "spaces_site",
    "jobs",
    "accounts",
    "rooms",
    "payments",
    "live",
    "media",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

if not DEBUG:
    # Production serves collected static files itself; in development runserver serves them from the finders.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "spaces_site.urls"
ASGI_APPLICATION = "spaces_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "spaces_site.context_processors.site",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", str(VAR_DIR / "spaces.sqlite3")),
            # Several processes (Daphne, Celery) share the file on the embedded default.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times a socket out after 5 s by default, exactly as long as channels-redis blocks on
            # BZPOPMIN, so every idle receive() would raise; the layer handles its own timeouts.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "capacity": 1500, "expiry": 30},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
SITE_ID = 1

# --- Celery -----------------------------------------------------------------------------------------
# Embedded default: a filesystem broker, so `make run` can start a real worker with beat and periodic
# jobs run without Redis or RabbitMQ.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
# Publishing gives up after one quick retry: side effects go through the outbox (jobs/), which keeps a
# job the broker could not take and hands it over later, so a request never waits on a dead broker.
_PUBLISH_FAILOVER = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    **_PUBLISH_FAILOVER,
    # Redis redelivers a message nobody acknowledged within this many seconds (a worker killed mid-task).
    # It must exceed the longest task (CELERY_TASK_TIME_LIMIT), or a slow task is run twice. See
    # docs/operations.md, "Money and jobs".
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "600"),
    # Each worker looks for such messages every 5 s (kombu's default is about every 100 s).
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 3,
}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **_PUBLISH_FAILOVER,
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it finishes, not when it starts: a worker that dies mid-task leaves it for
# another (at once when a pool child dies, after visibility_timeout when the whole worker does).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", "240")
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", "300")
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "False")
# The schedule lives in the database (django-celery-beat), so beat needs no writable file: it starts on a
# fresh checkout, and the admin shows when each job last ran.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The outbox (jobs/): how often the sweeper runs, how long a handed-over job may take before it is sent
# again (doubling per attempt up to the maximum backoff), and when to give up on it.
SPACES_JOBS_SWEEP_SECONDS = envint("SPACES_JOBS_SWEEP_SECONDS", "10")
SPACES_JOBS_RETRY_AFTER = envint("SPACES_JOBS_RETRY_AFTER", "120")
SPACES_JOBS_MAX_BACKOFF = envint("SPACES_JOBS_MAX_BACKOFF", "3600")
SPACES_JOBS_MAX_ATTEMPTS = envint("SPACES_JOBS_MAX_ATTEMPTS", "20")
CELERY_BEAT_SCHEDULE: dict = {
    "sweep-jobs": {"task": "jobs.tasks.sweep", "schedule": float(SPACES_JOBS_SWEEP_SECONDS)},
    "end-overlong-spaces": {"task": "rooms.tasks.end_overlong_spaces", "schedule": 60.0},
    "cancel-no-show-spaces": {"task": "rooms.tasks.cancel_no_show_spaces", "schedule": 60.0},
    "release-expired-reservations": {"task": "payments.tasks.release_expired_reservations", "schedule": 60.0},
}

# --- Accounts (django-allauth) ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "optional" if DEBUG else "mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# allauth's defaults, stated so they are visible; "5/5m/key" means five failed logins per account. They
# guard the admin too: /admin/login/ sends staff to allauth's log-in page (spaces_site/urls.py).
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
    # Adding an address mails a stranger: allauth's 10 a minute would be 600 an hour per account.
    "manage_email": "10/m/user,30/h/user",
}
# A few addresses per account, so that adding and removing cannot mail strangers in bulk.
ACCOUNT_MAX_EMAIL_ADDRESSES = 3
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "account_login"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- E-mail ---------------------------------------------------------------------------------------
EMAIL_HOST = env("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", "587")
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Spaces <no-reply@localhost>")

# --- Security (production) -----------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_PROXY", "False") else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Static files --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "stripe": {"level": "WARNING"}},
}

# --- Spaces --------------------------------------------------------------------------------------
SPACES_MIN_FOLLOWERS_TO_HOST = envint("SPACES_MIN_FOLLOWERS_TO_HOST", "0")
SPACES_MAX_SCHEDULE_DAYS = envint("SPACES_MAX_SCHEDULE_DAYS", "30")
SPACES_MAX_DURATION = timedelta(hours=envint("SPACES_MAX_DURATION_HOURS", "12"))
SPACES_NO_SHOW_GRACE = timedelta(minutes=envint("SPACES_NO_SHOW_GRACE_MINUTES", "60"))
SPACES_NOTIFY_BATCH_SIZE = envint("SPACES_NOTIFY_BATCH_SIZE", "1000")
SPACES_MAX_COHOSTS = envint("SPACES_MAX_COHOSTS", "2")
SPACES_MAX_SPEAKERS = envint("SPACES_MAX_SPEAKERS", "10")
# Abuse limits (0 turns one off): followers hear "is live" at most once per host per this many minutes
# (reminder holders always hear), and a host creates at most this many Spaces in any hour.
SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES = envint("SPACES_GO_LIVE_NOTIFY_EVERY_MINUTES", "10")
SPACES_MAX_SPACES_PER_HOUR = envint("SPACES_MAX_SPACES_PER_HOUR", "10")
# New follows per user per hour (counted in the cache, so a follow/unfollow storm counts every follow).
SPACES_MAX_FOLLOWS_PER_HOUR = envint("SPACES_MAX_FOLLOWS_PER_HOUR", "100")
# Prometheus scrapes /metrics with "Authorization: Bearer <token>"; unset, /metrics answers 404.
SPACES_METRICS_TOKEN = env("SPACES_METRICS_TOKEN")
# A process's presence report older than this stops counting (a crashed Daphne drops out within it).
SPACES_PRESENCE_TTL = envint("SPACES_PRESENCE_TTL", "30")

# Media: the engine runs inside Daphne unless Redis is there to place rooms on `runmedia` workers.
SPACES_MEDIA_IN_PROCESS = envbool("SPACES_MEDIA_IN_PROCESS", "False" if REDIS_URL else "True")
SPACES_ICE_SERVERS = [{"urls": url} for url in envlist("SPACES_STUN_URLS")]
# STUN for a media worker behind NAT (its own candidates), and the Redis key prefix Daphne and workers share.
SPACES_MEDIA_ICE_SERVERS = [{"urls": url} for url in envlist("SPACES_MEDIA_STUN_URLS")]
SPACES_MEDIA_REDIS_PREFIX = env("SPACES_MEDIA_REDIS_PREFIX", "spaces:media")
TURN_URLS = envlist("TURN_URLS")
TURN_SECRET = env("TURN_SECRET")
TURN_TTL = envint("TURN_TTL", "600")

# Payments
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE")
SPACES_CURRENCY = env("SPACES_CURRENCY", "usd")
SPACES_TICKET_MIN = envint("SPACES_TICKET_MIN_CENTS", "100")
SPACES_TICKET_MAX = envint("SPACES_TICKET_MAX_CENTS", "99900")
SPACES_PLATFORM_FEE_PERCENT = envint("SPACES_PLATFORM_FEE_PERCENT", "3")
