"""The Celery app. Tasks are enqueued with `transaction.on_commit`, so a worker never sees a row that
the enqueuing transaction later rolled back."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_site.settings")

app = Celery("spaces_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
