"""The media engine: signalling, the rooms it hosts and the 20 ms clock that ticks them.

One engine runs per process (inside Daphne on the embedded default, or in `manage.py runmedia`).
Every 20 ms it ticks each Room (media.room), which mixes its audible speakers, encodes the mix once
and sends the same Opus packet to every listener.

Who may be heard is never taken from the client: the engine asks its Policy (media.policy in
production) and re-reads it on refresh_room() (media.bridge calls it when a delta says so) and
every couple of seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCCertificate

from live.media_port import MediaError

from .compat import aiortc as aiortc_compat
from .fanout import ParkedTrack, take_over_sender_reports
from .room import Peer, Room
from .speaker import SpeakerInput

logger = logging.getLogger(__name__)

TICK = 0.020
REFRESH_INTERVAL = 2.0
CONNECT_TIMEOUT = 30.0


class Policy(Protocol):
    """Who may enter, publish and be heard. The Django implementation is media.policy."""

    async def entry_refusal(self, space_id: int, user_id: int | None) -> str | None: ...

    async def publisher_user_ids(self, space_id: int) -> set[int]: ...

    async def audible_user_ids(self, space_id: int) -> set[int]: ...


LevelsCallback = Callable[[int, dict[str, float]], Awaitable[None]]


def _offer_sends_audio(sdp: str) -> bool:
    """Does the client's offer carry audio towards us (sendrecv/sendonly on its audio section)?"""
    for section in re.split(r"\r?\nm=", sdp)[1:]:
        if section.startswith("audio"):
            return not re.search(r"^a=(recvonly|inactive)\s*$", section, re.M)
    return False


class MediaEngine:
    """All rooms hosted by this process."""

    def __init__(
        self,
        policy: Policy,
        *,
        on_levels: LevelsCallback | None = None,
        on_room_created: Callable[[int], Awaitable[None]] | None = None,
        on_room_freed: Callable[[int], Awaitable[None]] | None = None,
        ice_servers: list[dict] | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        self.policy = policy
        self.on_levels = on_levels
        self.on_room_created = on_room_created
        self.on_room_freed = on_room_freed
        # aiortc falls back to a public STUN server when given None; the server needs none by default.
        self.ice_servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in (ice_servers or [])
        ]
        self.refresh_interval = refresh_interval
        self.rooms: dict[int, Room] = {}
        self._peer_ids = itertools.count(1)
        # One DTLS certificate for every connection: generating a key per peer costs ~1 ms of CPU
        # and memory, and the fingerprint is per-session anyway (sent in each answer).
        self._certificate = RTCCertificate.generateCertificate()
        self._clock_task: asyncio.Task | None = None
        self._refresh_task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.tick_overruns = 0
        self.room_events = None  # the channel-layer subscription, when one feeds this engine

    # -- signalling --------------------------------------------------------------------------------

    async def negotiate(self, space_id: int, user_id: int | None, sdp: str, sdp_type: str) -> dict:
        """Answer a client's offer. Raises MediaError on refusal."""
        if sdp_type != "offer":
            raise MediaError("Expected an SDP offer.")
        refusal = await self.policy.entry_refusal(space_id, user_id)
        if refusal:
            raise MediaError(refusal)
        wants_to_send = _offer_sends_audio(sdp)
        may_publish = False
        if wants_to_send and user_id is not None:
            may_publish = user_id in await self.policy.publisher_user_ids(space_id)

        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        aiortc_compat.use_certificate(pc, self._certificate)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            await pc.close()
            raise MediaError("Malformed offer.") from exc
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            await pc.close()
            raise MediaError("The offer has no audio.")
        transceiver = audio[0]
        for extra in audio[1:] + [t for t in pc.getTransceivers() if t.kind != "audio"]:
            extra.direction = "inactive"
        transceiver.sender.replaceTrack(ParkedTrack())
        take_over_sender_reports(transceiver.sender)
        # A listener's transceiver is receive-only for them: we answer sendonly, so aiortc never
        # starts a receiver and whatever RTP they send finds no route.
        transceiver.direction = "sendrecv" if may_publish else "sendonly"
        codecs = aiortc_compat.negotiated_codecs(transceiver)
        payload_type = codecs[0].payloadType

        room = await self._room(space_id)
        if user_id is not None:
            for old in [p for p in room.peers.values() if p.user_id == user_id]:
                await self._close_peer(room, old)

        peer = Peer(next(self._peer_ids), user_id, pc, transceiver.sender, payload_type)
        if may_publish:
            opus_types = {c.payloadType for c in codecs if c.mimeType.lower() == "audio/opus"}
            peer.speaker = SpeakerInput(payload_types=opus_types)
            peer.speaker.set_accepting(user_id in room.audible)
            # Take the parsed packets before aiortc's jitter buffer and decoder thread see them.
            aiortc_compat.divert_incoming_rtp(transceiver.receiver, peer.speaker.handle_rtp)

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close_peer(room, peer)

        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        room.add_peer(peer)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    # -- room lifecycle ----------------------------------------------------------------------------

    async def _room(self, space_id: int) -> Room:
        room = self.rooms.get(space_id)
        if room is None:
            room = Room(space_id)
            room.apply_audible(await self.policy.audible_user_ids(space_id))
            self.rooms[space_id] = room
            self._start()
            if self.on_room_created is not None:
                await self.on_room_created(space_id)
        return room

    def _start(self) -> None:
        if self._clock_task is None or self._clock_task.done():
            self._clock_task = asyncio.ensure_future(self._run_clock())
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._run_refresh())

    async def refresh_room(self, space_id: int) -> None:
        """Re-read who may be heard now (called on room events and periodically)."""
        room = self.rooms.get(space_id)
        if room is None:
            return
        audible = await self.policy.audible_user_ids(space_id)
        if self.rooms.get(space_id) is room:
            room.apply_audible(audible)

    async def remove_user(self, space_id: int, user_id: int) -> None:
        room = self.rooms.get(space_id)
        if room is None:
            return
        for peer in [p for p in room.peers.values() if p.user_id == user_id]:
            await self._close_peer(room, peer)
        await self.refresh_room(space_id)

    async def end_room(self, space_id: int) -> None:
        """The Space ended: close every peer connection and free the room."""
        room = self.rooms.pop(space_id, None)
        if room is None:
            return
        for peer in list(room.peers.values()):
            await self._close_peer(room, peer)
        if self.on_room_freed is not None:
            await self.on_room_freed(space_id)

    async def _close_peer(self, room: Room, peer: Peer) -> None:
        room.drop_peer(peer)
        await peer.pc.close()

    async def close(self) -> None:
        for space_id in list(self.rooms):
            await self.end_room(space_id)
        for task in (self._clock_task, self._refresh_task, *self._background):
            if task is not None:
                task.cancel()

    # -- clock -------------------------------------------------------------------------------------

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while self.rooms:
            deadline += TICK
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -5 * TICK:
                # Far behind (a stalled loop): resynchronise rather than send a burst.
                self.tick_overruns += 1
                deadline = loop.time()
                for room in self.rooms.values():
                    room.catch_up()
            for room in list(self.rooms.values()):
                try:
                    levels = room.tick()
                except Exception:
                    logger.exception("media tick failed in space %s", room.space_id)
                    continue
                if levels is not None and self.on_levels is not None:
                    self._spawn(self.on_levels(room.space_id, levels))

    async def _run_refresh(self) -> None:
        while self.rooms:
            await asyncio.sleep(self.refresh_interval)
            now = time.monotonic()
            for space_id, room in list(self.rooms.items()):
                for peer in list(room.pending):
                    if now - peer.created > CONNECT_TIMEOUT:
                        await self._close_peer(room, peer)
                try:
                    await self.refresh_room(space_id)
                except Exception:
                    logger.exception("policy refresh failed in space %s", space_id)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- load, for placement -----------------------------------------------------------------------

    def load(self) -> dict:
        return {
            "rooms": len(self.rooms),
            "peers": sum(len(r.peers) for r in self.rooms.values()),
            "speakers": sum(len(r.speakers) for r in self.rooms.values()),
        }
