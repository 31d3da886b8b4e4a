"""A real media worker process for tests: MediaWorker over Redis, with a fixed policy instead of the
database (the test database lives inside the pytest process). Run as `python -m tests.media.stub_worker`.
"""

from __future__ import annotations

import asyncio
import os
import signal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_site.settings")
django.setup()

import aioice.ice  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402

from media.worker import MediaWorker  # noqa: E402
from tests.media.conftest import StubPolicy  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def main() -> None:
    publishers = {int(x) for x in os.environ.get("STUB_PUBLISHERS", "1").split(",")}
    worker = MediaWorker(
        get_channel_layer(),
        os.environ["REDIS_URL"],
        policy=StubPolicy(publishers=publishers),
        on_levels=None,
        prefix=os.environ["SPACES_MEDIA_REDIS_PREFIX"],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(worker.worker_id, flush=True)
    await worker.run(stop)


if __name__ == "__main__":
    asyncio.run(main())
