"""`celery -A spaces_site beat` starts on a fresh checkout in the production shape (only DATABASE_URL,
REDIS_URL, SECRET_KEY, DEBUG=False and ALLOWED_HOSTS set; no var/ directory) and its jobs run: here the
outbox sweeper hands a stranded job to a worker, which runs it.

Real processes: beat and a worker started from a copy of the working tree, a Redis broker of our own.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from rooms.models import Space
from tests.jobs.procs import Broker, Celery, wait_for
from tests.servers import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)


def fresh_checkout(target: Path) -> Path:
    """The tracked and new (not ignored) files of the working tree, as a clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = BASE_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / "var").exists()
    return target


def test_beat_starts_on_a_fresh_checkout_with_only_production_variables_and_runs_a_job(tmp_path, make_user):
    checkout = fresh_checkout(tmp_path / "spaces")
    broker = Broker(tmp_path)
    broker.start()
    production = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker.url,
        "SECRET_KEY": "production-shaped-secret-key-for-this-test-only-0123456789",
        "DEBUG": "False",
        "ALLOWED_HOSTS": "spaces.example.com",
    }
    marathon = Space.objects.create(
        host=make_user("host"), title="Marathon", state="live", started_at=timezone.now() - timedelta(hours=13)
    )
    # A job whose hand-over was lost (the broker was down when it was written): only the sweeper sends it.
    stranded = Job.objects.create(task="rooms.tasks.end_overlong_spaces", next_attempt_at=timezone.now())

    beat = Celery(["beat", "--loglevel", "INFO"], tmp_path / "beat.log", production, cwd=checkout, clean_env=True)
    worker = Celery(
        ["worker", "--pool", "solo", "--loglevel", "INFO"],
        tmp_path / "worker.log",
        production,
        cwd=checkout,
        clean_env=True,
    )
    try:
        took = wait_for(
            lambda: Job.objects.get(pk=stranded.pk).finished_at is not None or beat.process.poll() is not None,
            settings.SPACES_JOBS_SWEEP_SECONDS + 30,
            "the stranded job never ran",
        )
        assert beat.process.poll() is None, beat.output()[-3000:]  # beat is still running
        print(f"\nfresh checkout: beat up and the stranded job done in {took:.1f} s")
    finally:
        beat.stop()
        worker.stop()
        broker.stop()
    assert "FileNotFoundError" not in beat.output() and "Traceback" not in beat.output(), beat.output()[-3000:]
    assert "DatabaseScheduler" in beat.output()
    assert Space.objects.get(pk=marathon.pk).state == Space.State.ENDED
    assert not (checkout / "var").exists()  # beat needed no file of its own
