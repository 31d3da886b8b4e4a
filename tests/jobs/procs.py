"""Real processes for fault tests of the jobs: a Redis broker on a port of our own (dead until started),
Celery workers and beat as subprocesses on the test database, and pointing this process's Celery app at
that broker. Everything on 127.0.0.1, every wait bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from django.conf import settings

from spaces_site.celery import app as celery_app
from tests.servers import database_url, free_port

BASE_DIR = Path(settings.BASE_DIR)


class Broker:
    """A Redis broker on its own free port: nothing listens there until ``start()``."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(lambda: _pings(client), 10, "redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def wait_for(condition: Callable[[], object], timeout: float, message: str, every: float = 0.1) -> float:
    """Poll ``condition`` until true; return how long it took. Fails after ``timeout`` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{message} (after {timeout} s)")
        time.sleep(every)
    return time.monotonic() - start


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app publishes to ``url`` (for real, not eagerly) for the duration."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)

    def reset_pools() -> None:
        # The app caches its connection and producer pools for the first broker URL it used.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    conf.broker_url, conf.task_always_eager = url, False
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        conf.broker_url, conf.task_always_eager = saved


class Celery:
    """``celery -A spaces_site <args>`` on the test database; its output goes to a log file."""

    def __init__(
        self, args: list[str], log: Path, env: dict[str, str], *, cwd: Path = BASE_DIR, clean_env: bool = False
    ) -> None:
        """``clean_env``: the process sees ``env`` and nothing else of this one's environment."""
        self.log = log
        inherited = {} if clean_env else {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
        environment = {**inherited, **env}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "spaces_site", *args],
                cwd=cwd,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes every child with it
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(lambda: "ready." in self.output() or self.process.poll() is not None, timeout, "worker not ready")
        assert self.process.poll() is None, self.output()[-3000:]

    def kill_9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_9()


def stripe_env(fake_stripe_url: str) -> dict[str, str]:
    from tests.payments.conftest import API_KEY, WEBHOOK_SECRET

    return {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": fake_stripe_url, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
