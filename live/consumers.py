"""The room's websocket: parse, validate, call live.stage, reply. No rule lives here.

The consumer has no channel of its own (channel_layer_alias = None): it subscribes to its process's hub
(live.hub), which receives room events once per process. So nothing a client sends can name a
channel-layer handler, and the layer carries one message per process per event, not one per socket.
See docs/protocol.md for the messages.

Whatever ends a socket — a close, a crash, Daphne cancelling a consumer that was slow to finish — it
leaves the hub and the per-user counts in a `finally` (`__call__`), so no ghost stays counted. Limits
are counted in memory before any database hop (live.guard): sockets per user / per address, a message
budget per user over all their sockets, and a socket whose client stops reading is dropped once
SPACES_MAX_SEND_BUFFER_KB are waiting for it, so it never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import msgspec
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from rooms.services import RoomError

from . import daphne_compat, guard, protocol, stage, state
from . import hub as hubs
from .media_port import MediaError, negotiate

logger = logging.getLogger(__name__)

ABUSE_FACTOR = 3  # a socket that sends this many times its budget within the window is closed (4029)
SLOW_DOWN_EVERY = 1.0  # seconds between "Slow down" answers to one socket


class RoomConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # the hub subscribes for the whole process

    space_id: int
    user_id: int | None = None
    handle: str | None = None
    session_key: str | None = None
    is_moderator = False
    fast_write: Callable[[bytes], None] | None = None
    hub: hubs.Hub | None = None
    admitted = False
    closing = False
    resync_task: asyncio.Task | None = None
    slowed_at = 0.0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._leave()

    async def connect(self) -> None:
        self.space_id = int(self.scope["url_route"]["kwargs"]["space_id"])
        self.user = self.scope.get("user") or AnonymousUser()
        if isinstance(self.user, User):
            self.user_id, self.handle = self.user.pk, self.user.handle
            self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.address = guard.client_address(self.scope)
        self.media_id = uuid.uuid4().hex  # the media engine replaces this socket's peer on its next offer
        self.budget = guard.budget_key(self.user_id, self.address)
        self.ready = False  # until the first snapshot is sent, deltas wait in `pending`
        self.pending: list[str] = []
        self.snapshot_lock = asyncio.Lock()
        self.sent_times: list[float] = []
        self.outgoing = daphne_compat.outgoing(self.base_send)
        self.max_buffer = settings.SPACES_MAX_SEND_BUFFER_KB * 1024
        await self.accept()
        # Counted before anything reaches the database.
        too_many = guard.guard().admit(self.user_id, self.address)
        if too_many:
            await self._error("connect", too_many)
            await self.close_from_hub(protocol.CLOSE_TOO_MANY)
            return
        self.admitted = True
        refusal = await database_sync_to_async(state.connect_refusal)(self.space_id, self.user)
        if refusal:
            await self._error("connect", refusal)
            code = protocol.CLOSE_NOT_FOUND if refusal == "This Space doesn't exist." else protocol.CLOSE_REFUSED
            await self.close_from_hub(code)
            return
        self.hub = await hubs.join(self.space_id, self)
        await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        self._leave()

    def _leave(self) -> None:
        """Out of the hub and the counts: runs on close, and in __call__'s finally whatever ended it."""
        self.closing = True
        self.fast_write = None
        if self.hub is not None:
            self.hub.unsubscribe(self.space_id, self)
        if self.admitted:
            self.admitted = False
            guard.guard().release(self.user_id, self.address)
        if self.resync_task is not None:
            self.resync_task.cancel()

    # --- what the hub calls -------------------------------------------------------------------------

    async def deliver(self, text: str) -> None:
        if self.closing:
            return
        if not self.ready:
            self.pending.append(text)
            return
        await self._write(text)

    async def close_from_hub(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            self.fast_write = None
            await self.close(code)

    def resync(self) -> None:
        if not self.closing:
            self.resync_task = asyncio.get_running_loop().create_task(self.send_snapshot())

    # --- snapshot -------------------------------------------------------------------------------------

    async def send_snapshot(self) -> None:
        async with self.snapshot_lock:
            if self.closing:
                return
            self.ready = False
            self.fast_write = None
            try:
                room = await database_sync_to_async(state.snapshot)(self.space_id, self.user)
            finally:
                pending, self.pending = self.pending, []
            if self.hub is not None:
                self.hub.note_seq(self.space_id, room.seq)
                count = self.hub.listener_count(self.space_id)
                if count is not None:  # (a copy: anonymous visitors share their snapshot)
                    room = msgspec.structs.replace(room, listener_count=count)
            self.is_moderator = bool(room.me and room.me.role in protocol.MODERATOR_ROLES)
            await self._write(protocol.encode(room))
            # Deltas that arrived while the snapshot was read: the client drops those it already has.
            for text in pending:
                await self._write(text)
            for text in self.pending:
                await self._write(text)
            self.pending = []
            if self.closing:
                return
            self.ready = True
            self.fast_write = self._frame_writer()

    def _frame_writer(self) -> Callable[[bytes], None] | None:
        """A direct writer to Daphne's socket (live.daphne_compat), or None (another server, or the test
        communicator). It drops a client that has stopped reading instead of buffering for it forever."""
        write = daphne_compat.frame_writer(self.base_send)
        if write is None or self.outgoing is None:
            return write

        def write_unless_stuck(frame: bytes) -> None:
            write(frame)
            self._check_backlog()

        return write_unless_stuck

    async def _write(self, text: str) -> None:
        if self.closing:
            return
        await self.base_send({"type": "websocket.send", "text": text})
        self._check_backlog()

    def _check_backlog(self) -> None:
        """The slow-client policy: a socket with more than SPACES_MAX_SEND_BUFFER_KB unsent is dropped
        (a close frame would queue behind the backlog). Its client reconnects and gets a snapshot."""
        if self.outgoing is None or self.closing or self.outgoing.buffered() <= self.max_buffer:
            return
        logger.info("dropping a socket of %s in space %s: its client stopped reading", self.handle, self.space_id)
        self.closing = True
        self.fast_write = None
        self.outgoing.abort()

    # --- client messages ----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.hub is None:
            return
        # Both budgets before anything else, above all before the database: this socket's, then its user's
        # over all their sockets. A socket far over its own budget is not a client that got carried away.
        sent = self._count_frame()
        if sent > protocol.RATE_LIMIT * ABUSE_FACTOR:
            await self._error(None, "Too many messages: this connection is closed.")
            await self.close_from_hub(protocol.CLOSE_TOO_MANY)
            return
        if sent > protocol.RATE_LIMIT or not guard.guard().spend(self.budget):
            now = time.monotonic()
            if now - self.slowed_at >= SLOW_DOWN_EVERY:  # one answer per second, not one per frame
                self.slowed_at = now
                await self._error(None, "Slow down: too many messages.")
            return
        if text_data is None:
            await self._error(None, "Binary frames aren't part of the protocol.")
            return
        try:
            action = protocol.decode_frame(text_data)
        except protocol.TooBig as exc:
            await self._error(None, str(exc))
            await self.close_from_hub(protocol.CLOSE_TOO_BIG)
            return
        except protocol.BadMessage as exc:
            await self._error(exc.action, str(exc))
            return
        name = protocol.action_name(action)
        try:
            await self._dispatch(action)
        except RoomError as exc:
            await self._error(name, str(exc))
        except Exception:
            logger.exception("room action %s failed", name)
            await self._error(name, "Something went wrong. Try again.")

    async def _dispatch(self, action: protocol.Action) -> None:
        if isinstance(action, protocol.actions.Snapshot):
            await self.send_snapshot()
        elif isinstance(action, protocol.actions.WebrtcOffer):
            await self._webrtc_offer(action)
        else:
            await database_sync_to_async(stage.perform)(self.space_id, self.user, action)

    async def _webrtc_offer(self, offer: protocol.actions.WebrtcOffer) -> None:
        if offer.type != "offer":
            raise RoomError("Send an SDP offer.")
        refusal = await database_sync_to_async(state.connect_refusal)(self.space_id, self.user)
        if refusal:
            raise RoomError(refusal)
        try:
            answer = await negotiate(self.space_id, self.user_id, offer.sdp, offer.type, socket_id=self.media_id,
                                     address=self.address)  # fmt: skip
        except MediaError as exc:  # its reason is fit to show
            raise RoomError(str(exc)) from None
        await self._send(protocol.WebrtcAnswer(sdp=answer["sdp"], type=answer.get("type", "answer")))

    # --- replies ------------------------------------------------------------------------------------------

    async def _send(self, event: protocol.Event) -> None:
        seq = self.hub.last_seq(self.space_id) if self.hub else 0
        await self._write(protocol.encode(msgspec.structs.replace(event, seq=seq)))

    async def _error(self, action: str | None, reason: str) -> None:
        await self._send(protocol.Error(action=action, reason=reason))

    def _count_frame(self) -> int:
        """Count a frame from the client; how many it sent in the last RATE_WINDOW seconds."""
        now = time.monotonic()
        self.sent_times = [t for t in self.sent_times if now - t < protocol.RATE_WINDOW]
        self.sent_times.append(now)
        return len(self.sent_times)
