"""Spaces settings: one file that reads the environment.

With no variable set, Spaces runs on the embedded default (SQLite, in-memory channel layer, local-memory
cache, console e-mail, an in-process media engine, Celery on a filesystem broker). Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG=False, ALLOWED_HOSTS and friends.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .environment import (
    broker_transport_options,
    env,
    envbool,
    envint,
    envlist,
    recordings_storage,
    websocket_origin,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPACES_VAR_DIR", BASE_DIR / "var"))


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
# The Sites framework's record (allauth's mail subjects say "[SITE_NAME]"), kept in step with these on
# every `migrate` (spaces_site/sites.py).
SITE_DOMAIN = env("SITE_DOMAIN", urlsplit(SITE_URL).netloc or "localhost")
SITE_NAME = env("SITE_NAME", "Spaces")

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
    "lucide",  # SVG icons for controls: {% icon "mic" %} (rooms/templatetags/ui.py)
    "spaces_site",
    "jobs",
    "accounts",
    "push",
    "rooms",
    "payments",
    "live",
    "recordings",
    "reports",
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
    "csp.middleware.CSPMiddleware",
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
            # channels-redis, keeping this process's memberships alive and its receive buffer bounded.
            "BACKEND": "live.channel_layer.RedisChannelLayer",
            # redis-py 8 times a socket out after 5 s by default, exactly as long as channels-redis blocks on
            # BZPOPMIN, so every idle receive() would raise; the layer handles its own timeouts. A dead Redis
            # host fails a connect within 3 s instead of hanging.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 3}],
                "capacity": 1500,
                "expiry": 30,
                # A process that died without leaving its groups drops out of them after 5 minutes (not
                # channels-redis's 24 hours); live processes re-add their memberships every minute.
                "group_expiry": 300,
            },
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
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, VAR_DIR)
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
    "expire-recordings": {"task": "recordings.tasks.expire_recordings", "schedule": 3600.0},
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


# Content-Security-Policy (django-csp): scripts and styles only from our own static files, nothing inline
# (`json_script` data blocks are not run, so they need no exception). The room's websocket is same-origin,
# which 'self' covers in CSP 3 browsers; SITE_URL's ws(s) origin is named too for older ones, and
# CSP_CONNECT_SRC adds others (a websocket host of its own). The room plays a MediaStream (no URL), and
# blob:/data: cover images and audio the scripts may make.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF, *filter(None, [websocket_origin(SITE_URL)]), *envlist("CSP_CONNECT_SRC")],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Static files --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Recordings (recordings/): the local filesystem under the var dir by default; any S3-compatible store when
# SPACES_RECORDINGS_S3_BUCKET is set (django-storages + boto3; the site hands out presigned URLs, so the
# bucket stays private). Media workers write through the same storage, so they need the same settings.
SPACES_RECORDINGS_S3_BUCKET = env("SPACES_RECORDINGS_S3_BUCKET")
_RECORDINGS_STORAGE, _RECORDINGS_MEDIA_ORIGINS = recordings_storage(VAR_DIR)
# The replay's <audio> is redirected to presigned URLs on the store: the page's CSP must allow its origin.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["media-src"] += _RECORDINGS_MEDIA_ORIGINS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "recordings": _RECORDINGS_STORAGE,
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

# One handler, on the root logger. Django's own defaults give the "django" logger a console handler of its
# own (while DEBUG) that also propagates here, which printed every request line twice under `make run`:
# the "django" logger is reset to no handlers of its own.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "stripe": {"level": "WARNING"},
    },
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
# Room sockets, per server process (0 turns a cap off): open sockets per logged-in user, and per client
# address for anonymous visitors (behind a proxy, run Daphne with --proxy-headers); messages a user may send
# per 5 s over all their sockets and the HTTP fallback; unsent bytes after which a socket whose client
# stopped reading is dropped.
SPACES_MAX_SOCKETS_PER_USER = envint("SPACES_MAX_SOCKETS_PER_USER", "8")
SPACES_MAX_SOCKETS_PER_IP = envint("SPACES_MAX_SOCKETS_PER_IP", "32")
SPACES_MESSAGES_PER_USER = envint("SPACES_MESSAGES_PER_USER", "30")
SPACES_MAX_SEND_BUFFER_KB = envint("SPACES_MAX_SEND_BUFFER_KB", "512")
# Room chat (live/chat.py): messages a person may send to one room per window, over every socket and server
# process (counted in the cache), besides the room's own slow mode; the operator's word filter, a file (one
# word or phrase per line) or a comma-separated list: a message holding one is refused (live/wordfilter.py).
SPACES_CHAT_MESSAGES_PER_WINDOW = envint("SPACES_CHAT_MESSAGES_PER_WINDOW", "5")
SPACES_CHAT_WINDOW_SECONDS = envint("SPACES_CHAT_WINDOW_SECONDS", "10")
SPACES_CHAT_BLOCKED_WORDS = env("SPACES_CHAT_BLOCKED_WORDS")
# Reports to staff (reports/): how many a person may file per hour.
SPACES_REPORTS_PER_HOUR = envint("SPACES_REPORTS_PER_HOUR", "10")

# Media: the engine runs inside Daphne unless Redis is there to place rooms on `runmedia` workers.
SPACES_MEDIA_IN_PROCESS = envbool("SPACES_MEDIA_IN_PROCESS", "False" if REDIS_URL else "True")
SPACES_ICE_SERVERS = [{"urls": url} for url in envlist("SPACES_STUN_URLS")]
# STUN for a media worker behind NAT (its own candidates), and the Redis key prefix Daphne and workers share.
SPACES_MEDIA_ICE_SERVERS = [{"urls": url} for url in envlist("SPACES_MEDIA_STUN_URLS")]
SPACES_MEDIA_REDIS_PREFIX = env("SPACES_MEDIA_REDIS_PREFIX", "spaces:media")
# Peer connections one media engine holds (0 turns a cap off; media/limits.py): per logged-in user over all
# rooms, per client address for anonymous visitors, and in total (also bounded by the open-file limit).
SPACES_MEDIA_PEERS_PER_USER = envint("SPACES_MEDIA_PEERS_PER_USER", "4")
SPACES_MEDIA_PEERS_PER_IP = envint("SPACES_MEDIA_PEERS_PER_IP", "32")
SPACES_MEDIA_MAX_PEERS = envint("SPACES_MEDIA_MAX_PEERS", "2000")
# Admission control: past this share of a core used by its process an engine refuses new listeners (0 = off).
SPACES_MEDIA_CPU_BUDGET = float(env("SPACES_MEDIA_CPU_BUDGET", "0.8"))
TURN_URLS = envlist("TURN_URLS")
TURN_SECRET = env("TURN_SECRET")
TURN_TTL = envint("TURN_TTL", "600")

# Recordings: how long a replay (and its clips) is kept after its Space ended (0 keeps it forever); how often
# a media worker ships what it recorded to the storage (what a lost machine can lose at most); where it
# spools pages meanwhile (a worker restarted on the same machine ships what a crashed one left there).
SPACES_RECORDING_RETENTION_DAYS = envint("SPACES_RECORDING_RETENTION_DAYS", "30")
SPACES_RECORDING_CHUNK_SECONDS = envint("SPACES_RECORDING_CHUNK_SECONDS", "5")
SPACES_RECORDING_SPOOL_DIR = Path(env("SPACES_RECORDING_SPOOL_DIR", str(VAR_DIR / "recordings-spool")))

# Web Push (push/, docs/phones.md): off unless both VAPID keys are set (`manage.py vapid_keys` prints a fresh
# pair; keep the private one secret, and keep the pair: a new one orphans every device's subscription). The
# subject is how push services reach the operator (a mailto: or https: URL). Endpoints must be https on a
# push service's host (suffixes below): anything else could make the server post to the intranet.
VAPID_PUBLIC_KEY = env("VAPID_PUBLIC_KEY")
VAPID_PRIVATE_KEY = env("VAPID_PRIVATE_KEY")
_OPERATOR_CONTACT = SITE_URL if SITE_URL.startswith("https:") else f"mailto:{parseaddr(DEFAULT_FROM_EMAIL)[1]}"
VAPID_SUBJECT = env("VAPID_SUBJECT", _OPERATOR_CONTACT)
SPACES_PUSH_SERVICES = envlist(
    "SPACES_PUSH_SERVICES",
    "fcm.googleapis.com,updates.push.services.mozilla.com,push.apple.com,notify.windows.com",
)
SPACES_PUSH_TTL_SECONDS = envint("SPACES_PUSH_TTL_SECONDS", "1800")  # a push service holds one this long
SPACES_PUSH_MAX_DEVICES = envint("SPACES_PUSH_MAX_DEVICES", "10")  # per user; the oldest goes first

# Payments
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE")
SPACES_CURRENCY = env("SPACES_CURRENCY", "usd")
SPACES_TICKET_MIN = envint("SPACES_TICKET_MIN_CENTS", "100")
SPACES_TICKET_MAX = envint("SPACES_TICKET_MAX_CENTS", "99900")
SPACES_PLATFORM_FEE_PERCENT = envint("SPACES_PLATFORM_FEE_PERCENT", "3")
