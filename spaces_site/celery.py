"""The Celery app. Side effects are enqueued through the outbox (`jobs.enqueue`): written in the caller's
transaction, handed to the broker once it commits, re-sent by the sweeper until a worker finishes them.
Broker and beat settings are the CELERY_* names in settings.py (see docs/operations.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_site.settings")

app = Celery("spaces_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
