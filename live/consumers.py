"""The room's websocket: parse, validate, call live.stage, reply. No rule lives here.

The consumer has no channel of its own (channel_layer_alias = None): it subscribes to its process's hub
(live.hub), which receives room events once per process. So nothing a client sends can name a
channel-layer handler, and the layer carries one message per process per event, not one per socket.
See docs/protocol.md for the messages.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from rooms.services import RoomError

from . import hub as hubs
from . import stage
from .events import dumps
from .media_port import MediaError, negotiate

logger = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024
MAX_SDP = 12 * 1024
HANDLE_RE = re.compile(r"^@?[A-Za-z0-9_]{1,15}$")
# A client may send this many messages per RATE_WINDOW seconds; more is answered with an error.
RATE_LIMIT = 20
RATE_WINDOW = 5.0

CLOSE_REFUSED = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_TOO_BIG = 1009


class BadMessage(ValueError):
    """The message does not fit the protocol; str() is the reason sent back."""


def _validate_argument(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadMessage(f"“{name}” must be a string.")
    if name == "user" and not HANDLE_RE.match(value):
        raise BadMessage("“user” must be a handle.")
    if name == "emoji" and len(value) > 16:
        raise BadMessage("“emoji” is too long.")
    return value


def parse(text: str) -> tuple[str, dict[str, str]]:
    """A client frame -> (action, arguments). Raises BadMessage."""
    try:
        message = json.loads(text)
    except ValueError:
        raise BadMessage("The message isn't valid JSON.") from None
    if not isinstance(message, dict):
        raise BadMessage("A message is a JSON object.")
    action = message.get("action")
    if not isinstance(action, str):
        raise BadMessage("A message needs an “action”.")
    if action in stage.ACTIONS:
        spec = stage.ACTIONS[action].arguments
    elif action == "snapshot":
        spec = {}
    elif action == "webrtc_offer":
        spec = {"sdp": True, "type": True}
    else:
        raise BadMessage(f"Unknown action “{action[:40]}”.")
    arguments = {}
    for name, value in message.items():
        if name == "action":
            continue
        if name not in spec:
            raise BadMessage(f"Unexpected field “{name[:40]}”.")
        arguments[name] = _validate_argument(name, value)
    for name, required in spec.items():
        if required and name not in arguments:
            raise BadMessage(f"“{name}” is missing.")
    return action, arguments


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
        refusal = await database_sync_to_async(stage.connect_refusal)(self.space_id, self.user)
        if refusal:
            await self._error("connect", refusal)
            code = CLOSE_NOT_FOUND if refusal == "This Space doesn't exist." else CLOSE_REFUSED
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
                state = await database_sync_to_async(stage.snapshot)(self.space_id, self.user)
            finally:
                pending, self.pending = self.pending, []
            if self.hub is not None:
                self.hub.note_seq(self.space_id, state["seq"])
                count = self.hub.listener_count(self.space_id)
                if count is not None:
                    state["listener_count"] = count
            me = state["me"]
            self.is_moderator = bool(me and me["role"] in stage.MODERATOR_ROLES)
            await self.base_send({"type": "websocket.send", "text": dumps(state)})
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
        if len(text_data) > MAX_FRAME or len(text_data.encode()) > MAX_FRAME:
            await self._error(None, "The message is larger than 16 KiB.")
            await self.close_from_hub(CLOSE_TOO_BIG)
            return
        if self._over_rate():
            await self._error(None, "Slow down: too many messages.")
            return
        try:
            action, arguments = parse(text_data)
        except BadMessage as exc:
            await self._error(_action_name(text_data), str(exc))
            return
        try:
            await self._dispatch(action, arguments)
        except RoomError as exc:
            await self._error(action, str(exc))
        except Exception:
            logger.exception("room action %s failed", action)
            await self._error(action, "Something went wrong. Try again.")

    async def _dispatch(self, action: str, arguments: dict[str, str]) -> None:
        if action == "snapshot":
            await self.send_snapshot()
            return
        if action == "webrtc_offer":
            await self._webrtc_offer(arguments)
            return
        if not self.user.is_authenticated:
            raise RoomError("Log in to take part.")
        function = stage.ACTIONS[action].function
        await database_sync_to_async(function)(self.space_id, self.user, **arguments)

    async def _webrtc_offer(self, arguments: dict[str, str]) -> None:
        if arguments["type"] != "offer" or len(arguments["sdp"]) > MAX_SDP:
            raise RoomError("Send an SDP offer.")
        refusal = await database_sync_to_async(stage.connect_refusal)(self.space_id, self.user)
        if refusal:
            raise RoomError(refusal)
        try:
            answer = await negotiate(self.space_id, self.user_id, arguments["sdp"], arguments["type"])
        except MediaError as exc:  # its reason is fit to show
            raise RoomError(str(exc)) from None
        await self._send_event("webrtc_answer", {"sdp": answer["sdp"], "type": answer.get("type", "answer")})

    # --- replies ------------------------------------------------------------------------------------------

    async def _send_event(self, event: str, data: dict) -> None:
        seq = self.hub.last_seq(self.space_id) if self.hub else 0
        await self.base_send({"type": "websocket.send", "text": dumps({"event": event, "seq": seq, **data})})

    async def _error(self, action: str | None, reason: str) -> None:
        await self._send_event("error", {"action": action, "reason": reason})

    def _over_rate(self) -> bool:
        now = time.monotonic()
        self.sent_times = [t for t in self.sent_times if now - t < RATE_WINDOW]
        self.sent_times.append(now)
        return len(self.sent_times) > RATE_LIMIT


def _action_name(text: str) -> str | None:
    # Name the action in the error when the frame had one, without trusting anything else in it.
    try:
        message = json.loads(text)
    except ValueError:
        return None
    action = message.get("action") if isinstance(message, dict) else None
    return action[:40] if isinstance(action, str) else None
