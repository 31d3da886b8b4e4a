"""A process's channel-layer receive buffer stays bounded however often its hub stops and starts.

channels-redis keeps a queue per process-local channel; a hub cancelled while it waits in BZPOPMIN used
to leave its queue behind, and so did a message that arrived for a hub that had stopped (read into the
buffer by another reader in the process, a media engine say). Here a hub is cycled 100 times, with such
a late message every time, next to another reader, on the configured layer (Redis, or in memory).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from channels.layers import channel_layers, get_channel_layer
from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

from live import hub as hubs
from live.channel_layer import buffered_channels
from live.events import room_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]

SPACE_ID = 987_654  # no such Space: the hub's count writes touch no row
EXPIRY = 1  # seconds a message may wait in the layer (30 in production): what the sweep waits for too
CYCLES = 100
PACE = 0.1  # seconds per cycle at least: 100 cycles span ten times the expiry
# What is left is what arrived within the last expiry (and one sweep interval), not one queue per cycle.
BOUND = int((EXPIRY * 1.5 + 1) / PACE) + 3


class Listener:
    """A socket as the hub sees it (live.delivery.Subscriber)."""

    user_id = None
    handle = None
    is_moderator = False
    fast_write = None

    def __init__(self) -> None:
        self.received: list[str] = []

    async def deliver(self, text: str) -> None:
        self.received.append(text)

    async def close_from_hub(self, code: int) -> None: ...

    def resync(self) -> None: ...


def volatile() -> dict:
    return {"type": "room.volatile", "space_id": SPACE_ID, "event": {"event": "speaking", "levels": {}}}


@pytest.fixture
def short_expiry(settings):
    config = dict(settings.CHANNEL_LAYERS["default"])
    config["CONFIG"] = {**config.get("CONFIG", {}), "expiry": EXPIRY}
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_cycling_a_hub_100_times_keeps_the_receive_buffer_bounded(short_expiry):
    layer = get_channel_layer()
    # Another reader in this process (the media engine has one): it reads for every local channel.
    other = await layer.new_channel()
    reader = asyncio.get_running_loop().create_task(_read_forever(layer, other))
    sizes = []
    try:
        for _ in range(CYCLES):
            started = asyncio.get_running_loop().time()
            hub = await hubs.get_hub()
            listener = Listener()
            assert await hub.subscribe(SPACE_ID, listener)
            await layer.group_send(room_group(SPACE_ID), volatile())
            await _until(lambda listener=listener: listener.received, 5)
            await hub.stop()  # its receive loop was waiting in BZPOPMIN
            await layer.send(hub.channel, volatile())  # too late: nobody reads it any more
            sizes.append(buffered_channels(layer))
            await asyncio.sleep(max(0.0, PACE - (asyncio.get_running_loop().time() - started)))
        # Once those late messages are older than the expiry, the next read drops their queues.
        await asyncio.sleep(EXPIRY * 1.5)
        await layer.send(other, {"type": "tick"})
        await _until(lambda: buffered_channels(layer) <= 2, 5)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    print(f"\nreceive buffer over {CYCLES} hub cycles: at most {max(sizes)} queues, {buffered_channels(layer)} after")
    assert max(sizes) <= BOUND < CYCLES  # not one per cycle
    assert buffered_channels(layer) <= 2


async def _read_forever(layer, channel: str) -> None:
    while True:
        with contextlib.suppress(Exception):
            await layer.receive(channel)


async def _until(condition, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.redis
async def test_memberships_outlive_the_group_expiry_and_are_dropped_on_shutdown(settings):
    """A short group expiry drops dead members soon; the living re-add theirs (the media engine's too)."""
    config = dict(settings.CHANNEL_LAYERS["default"])
    config["CONFIG"] = {**config["CONFIG"], "group_expiry": 2, "refresh_every": 0.5}
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()
    layer = get_channel_layer()
    group = "layer-memory-test"
    kept, dead = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(group, kept)  # this process keeps it
    await _RedisChannelLayer.group_add(layer, group, dead)  # as a process that died would have left it
    await asyncio.sleep(3.5)  # past the expiry
    await layer.group_send(group, {"type": "probe"})
    assert (await asyncio.wait_for(layer.receive(kept), 5))["type"] == "probe"
    assert await layer.connection(0).zrange(f"asgi:group:{group}", 0, -1) == [kept.encode()]  # the dead one is gone
    await layer.discard_memberships()  # a server shutting down
    assert await layer.connection(0).zrange(f"asgi:group:{group}", 0, -1) == []
