"""`python manage.py runmedia`: a media worker process (needs REDIS_URL); run several per machine."""

from __future__ import annotations

import asyncio
import logging
import signal

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run an aiortc media worker that hosts the rooms Redis places on it."

    def handle(self, *args, **options) -> None:
        redis_url = settings.REDIS_URL
        if not redis_url:
            raise CommandError("runmedia needs REDIS_URL: without it the media engine runs inside Daphne.")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        asyncio.run(self._run(redis_url))

    async def _run(self, redis_url: str) -> None:
        from media.worker import MediaWorker

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = MediaWorker(
            get_channel_layer(),
            redis_url,
            ice_servers=settings.SPACES_MEDIA_ICE_SERVERS,
            prefix=settings.SPACES_MEDIA_REDIS_PREFIX,
        )
        self.stdout.write(f"media worker {worker.worker_id} starting")
        await worker.run(stop)
