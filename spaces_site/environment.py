"""Reading the environment for settings.py: typed readers that refuse a bad value with the variable's name,
and the settings that take more than one line to derive."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


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


def websocket_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}" if parts.netloc else ""


def recordings_storage(var_dir: Path) -> tuple[dict, list[str]]:
    """The `recordings` storage and the origins the page must allow its audio from.

    The local filesystem under the var dir by default; any S3-compatible store when
    SPACES_RECORDINGS_S3_BUCKET is set (django-storages + boto3; the site hands out presigned URLs, so the
    bucket stays private). Media workers write through the same storage, so they need the same settings."""
    bucket = env("SPACES_RECORDINGS_S3_BUCKET")
    if not bucket:
        location = env("SPACES_RECORDINGS_DIR", str(var_dir / "recordings"))
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        }, []
    storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": env("SPACES_RECORDINGS_S3_ENDPOINT_URL") or None,
            "region_name": env("SPACES_RECORDINGS_S3_REGION") or None,
            "access_key": env("SPACES_RECORDINGS_S3_ACCESS_KEY_ID") or None,
            "secret_key": env("SPACES_RECORDINGS_S3_SECRET_ACCESS_KEY") or None,
            "location": env("SPACES_RECORDINGS_S3_PREFIX"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": envint("SPACES_RECORDINGS_URL_SECONDS", "3600"),
            "file_overwrite": True,
        },
    }
    origins = envlist(
        "SPACES_RECORDINGS_MEDIA_ORIGINS", env("SPACES_RECORDINGS_S3_ENDPOINT_URL") or "https://*.amazonaws.com"
    )
    return storage, origins


# Publishing gives up after one quick retry: side effects go through the outbox (jobs/), which keeps a
# job the broker could not take and hands it over later, so a request never waits on a dead broker.
_PUBLISH_FAILOVER = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def broker_transport_options(broker_url: str, var_dir: Path) -> dict:
    """Celery's broker transport options: Redis in production, a filesystem broker under the var dir on
    the embedded default (so `make run` has a real worker with beat and no broker to install)."""
    if broker_url == "filesystem://":
        broker_dir = var_dir / "celery-broker"
        (broker_dir / "out").mkdir(parents=True, exist_ok=True)
        (broker_dir / "processed").mkdir(parents=True, exist_ok=True)
        return {
            **_PUBLISH_FAILOVER,
            "data_folder_in": str(broker_dir / "out"),
            "data_folder_out": str(broker_dir / "out"),
            "processed_folder": str(broker_dir / "processed"),
            "control_folder": str(broker_dir / "control"),
            "store_processed": False,
        }
    return {
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
