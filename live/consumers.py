"""The room's websocket: parse, validate, call live.stage, reply. No rule lives here.

The consumer has no channel of its own (channel_layer_alias = None): it subscribes to its process's hub
(live.hub), which receives room events once per process. So nothing a client sends can name a
channel-layer handler, and the layer carries one message per process per event, not one per socket.
See docs/protocol.md for the messages.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

import msgspec
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from rooms.services import RoomError

from . import hub as hubs
from . import protocol, stage, state
from .media_port import MediaError, negotiate

logger = logging.getLogger(__name__)


class RoomConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None  # the hub subscribes for the whole process

    space_id: int
    user_id: int | None = None
    handle: str | None = None
    is_moderator = False
    fast_write: Callable[[bytes], None] | None = None

    async def connect(self) -> None:
        self.space_id = int(self.scope["url_route"]["kwargs"]["space_id"])
        self.user = self.scope.get("user") or AnonymousUser()
        if self.user.is_authenticated:
            self.user_id, self.handle = self.user.pk, self.user.handle
        self.hub: hubs.Hub | None = None
        self.ready = False  # until the first snapshot is sent, deltas wait in `pending`
        self.pending: list[str] = []
        self.closing = False
        self.snapshot_lock = asyncio.Lock()
        self.resync_task: asyncio.Task | None = None
        self.sent_times: list[float] = []
        await self.accept()
        refusal = await database_sync_to_async(state.connect_refusal)(self.space_id, self.user)
        if refusal:
            await self._error("connect", refusal)
            code = protocol.CLOSE_NOT_FOUND if refusal == "This Space doesn't exist." else protocol.CLOSE_REFUSED
            await self.close_from_hub(code)
            return
        self.hub = await hubs.join(self.space_id, self)
        await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self.fast_write = None
        if self.hub is not None:
            self.hub.unsubscribe(self.space_id, self)
        if self.resync_task is not None:
            self.resync_task.cancel()

    # --- what the hub calls -------------------------------------------------------------------------

    async def deliver(self, text: str) -> None:
        if self.closing:
            return
        if not self.ready:
            self.pending.append(text)
            return
        await self.base_send({"type": "websocket.send", "text": text})

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
                if count is not None:
                    room.listener_count = count
            self.is_moderator = bool(room.me and room.me.role in protocol.MODERATOR_ROLES)
            await self.base_send({"type": "websocket.send", "text": protocol.encode(room)})
            # Deltas that arrived while the snapshot was read: the client drops those it already has.
            for text in pending:
                await self.base_send({"type": "websocket.send", "text": text})
            for text in self.pending:
                await self.base_send({"type": "websocket.send", "text": text})
            self.pending = []
            self.ready = True
            self.fast_write = self._frame_writer()

    def _frame_writer(self) -> Callable[[bytes], None] | None:
        """A direct writer to Daphne's socket, or None (another server, or the test communicator).

        Daphne hands an application `send = partial(server.handle_reply, protocol)`. Going through it
        costs a dict, two coroutines, a UTF-8 encode and Autobahn's framing per socket per event; the hub
        builds the frame once (Daphne negotiates no compression) and this writes those bytes.
        """
        send = self.base_send
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        transport = getattr(protocol, "transport", None)
        open_state = getattr(protocol, "STATE_OPEN", None)
        if transport is None or open_state is None or self.closing:
            return None

        def write(frame: bytes) -> None:
            if protocol.state == open_state:
                transport.write(frame)

        return write

    # --- client messages ----------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.hub is None:
            return
        if text_data is None:
            await self._error(None, "Binary frames aren't part of the protocol.")
            return
        if self._over_rate():
            await self._error(None, "Slow down: too many messages.")
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
            answer = await negotiate(self.space_id, self.user_id, offer.sdp, offer.type)
        except MediaError as exc:  # its reason is fit to show
            raise RoomError(str(exc)) from None
        await self._send(protocol.WebrtcAnswer(sdp=answer["sdp"], type=answer.get("type", "answer")))

    # --- replies ------------------------------------------------------------------------------------------

    async def _send(self, event: protocol.Event) -> None:
        seq = self.hub.last_seq(self.space_id) if self.hub else 0
        text = protocol.encode(msgspec.structs.replace(event, seq=seq))
        await self.base_send({"type": "websocket.send", "text": text})

    async def _error(self, action: str | None, reason: str) -> None:
        await self._send(protocol.Error(action=action, reason=reason))

    def _over_rate(self) -> bool:
        now = time.monotonic()
        self.sent_times = [t for t in self.sent_times if now - t < protocol.RATE_WINDOW]
        self.sent_times.append(now)
        return len(self.sent_times) > protocol.RATE_LIMIT
