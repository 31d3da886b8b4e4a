"""channels-redis, with what a long-running process needs from it: memberships that outlive the group
expiry, memberships dropped when the process stops, and a receive buffer that stays bounded.

Configure it as the channel layer (spaces_site/settings.py does with REDIS_URL):

    CHANNEL_LAYERS = {"default": {"BACKEND": "live.channel_layer.RedisChannelLayer", "CONFIG": {...}}}

- channels-redis forgets a group member `group_expiry` seconds after it joined; a short expiry (300 s)
  means a process that died without leaving its groups stops receiving their messages soon. So every
  membership this process holds (the hubs', the media engine's) is added again every `refresh_every`
  seconds (group_expiry / 5), and after Redis restarted empty.
- `discard_memberships()` leaves every group this event loop joined (a Daphne shutting down).
- channels-redis keeps a queue per process-local channel in `receive_buffer` (a private attribute) and
  leaves one behind when a reader is cancelled while it waits in BZPOPMIN, or when a message arrives for
  a channel nobody reads any more (a stopped hub, a reply that came after its timeout). Here a queue
  that no reader has touched for `expiry` seconds (when its messages would have expired in Redis too)
  is dropped, and `forget_channel()` drops one at once. `buffered_channels()` reads its size.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

logger = logging.getLogger(__name__)

SWEEP_EVERY = 10.0  # seconds between looks for abandoned receive queues


class RedisChannelLayer(_RedisChannelLayer):
    def __init__(self, *args: Any, refresh_every: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refresh_every = refresh_every or max(self.group_expiry / 5, 1.0)
        # (group, channel) pairs joined from each event loop (channels belong to the loop that reads them).
        self._memberships: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[tuple[str, str]]] = (
            weakref.WeakKeyDictionary()
        )
        self._refreshing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.TimerHandle] = (
            weakref.WeakKeyDictionary()
        )
        self._refresh_tasks: set[asyncio.Task] = set()
        self._readers: Counter[str] = Counter()
        self._touched: dict[str, float] = {}
        self._swept_at = time.monotonic()

    # --- memberships -----------------------------------------------------------------------------

    def _held(self) -> set[tuple[str, str]]:
        return self._memberships.setdefault(asyncio.get_running_loop(), set())

    async def group_add(self, group: str, channel: str) -> None:
        # Remembered first: an add that fails (Redis down) is made by the next refresh.
        self._held().add((group, channel))
        self._keep_refreshing(asyncio.get_running_loop())
        await super().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self._held().discard((group, channel))
        await super().group_discard(group, channel)

    def memberships(self) -> set[tuple[str, str]]:
        """The (group, channel) pairs this event loop holds."""
        return set(self._held())

    async def refresh_memberships(self) -> None:
        """Join every group this loop holds again (its expiry starts over). Raises when Redis fails."""
        for group, channel in list(self._held()):
            await super().group_add(group, channel)

    async def discard_memberships(self) -> None:
        """Leave every group this loop joined (a process shutting down); a failure is logged."""
        held = self._held()
        pairs = list(held)
        held.clear()
        timer = self._refreshing.pop(asyncio.get_running_loop(), None)
        if timer is not None:
            timer.cancel()
        for group, channel in pairs:
            try:
                await super().group_discard(group, channel)
            except Exception:
                logger.warning("could not leave group %s (it expires by itself)", group, exc_info=True)

    def _keep_refreshing(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop in self._refreshing:
            return
        # A timer, not a task: a loop that closes (a test's) drops it without complaint.
        self._refreshing[loop] = loop.call_later(self.refresh_every, self._refresh_due, loop)

    def _refresh_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._refreshing.pop(loop, None)
        if not self._memberships.get(loop):
            return
        task = loop.create_task(self._refresh_then_again(loop))
        self._refresh_tasks.add(task)
        task.add_done_callback(self._refresh_tasks.discard)

    async def _refresh_then_again(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await self.refresh_memberships()
        except Exception:
            logger.warning("could not refresh group memberships; trying again later", exc_info=True)
        self._keep_refreshing(loop)

    # --- the receive buffer ----------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        self._touched[channel] = time.monotonic()  # a reply may be buffered before its reader starts
        return channel

    async def receive(self, channel: str) -> dict:
        self._readers[channel] += 1
        try:
            return await super().receive(channel)
        finally:
            self._readers[channel] -= 1
            if self._readers[channel] <= 0:
                del self._readers[channel]
            self._touched[channel] = time.monotonic()
            self._sweep()

    def forget_channel(self, channel: str) -> None:
        """Its reader is gone for good: drop its queue (and its memberships from the refresh)."""
        held = self._memberships.get(asyncio.get_running_loop(), set())
        held.difference_update({pair for pair in held if pair[1] == channel})
        if channel not in self._readers:
            self.receive_buffer.pop(channel, None)
            self._touched.pop(channel, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < min(SWEEP_EVERY, self.expiry / 2):
            return
        self._swept_at = now
        for channel in list(self.receive_buffer):
            if channel not in self._readers and now - self._touched.get(channel, 0.0) > self.expiry:
                del self.receive_buffer[channel]
        for channel, touched in list(self._touched.items()):
            if channel not in self._readers and now - touched > self.expiry:
                del self._touched[channel]


def buffered_channels(layer: Any) -> int:
    """How many process-local channels the layer holds a receive queue for (channels-redis's private
    `receive_buffer`, the in-memory layer's `channels`): what must stay bounded over a process's life."""
    for attribute in ("receive_buffer", "channels"):
        queues = getattr(layer, attribute, None)
        if isinstance(queues, dict):
            return len(queues)
    return 0


def forget_channel(layer: Any, channel: str) -> None:
    """Tell the layer a channel's reader is gone for good (a no-op for layers that don't need it)."""
    forget = getattr(layer, "forget_channel", None)
    if forget is not None:
        forget(channel)
