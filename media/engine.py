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
from typing import Any, Protocol

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCCertificate

from live.media_port import MediaError

from .compat import aiortc as aiortc_compat
from .fanout import ParkedTrack, take_over_sender_reports
from .limits import Admission, CpuLoad, PeerLimits, Refused, owner_of
from .recorder import Recorders
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

    async def demo_voice_user_id(self, space_id: int) -> int | None:
        """The speaker whose voice a recorded clip plays in this room (the demo Space only), or None."""
        ...


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
        recorders: Recorders | None = None,
        limits: PeerLimits | None = None,
    ) -> None:
        self.policy = policy
        # Caps on peer connections per socket, per user or address, and in total (media.limits).
        self.limits = limits or PeerLimits()
        # Recording rooms and feeding their plain-HTTP listeners (media.recorder); None records nothing.
        self.recorders = recorders
        if recorders is not None:
            recorders.bind(lambda: self.rooms)
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
        # bench/many_rooms.py's baseline only: the engine as before issue 14 (media.room.Room.legacy).
        self.legacy = False
        self.room_events: Any = (
            None  # the channel-layer subscription (media.bridge.RoomEvents), when one feeds this engine
        )

    # -- signalling --------------------------------------------------------------------------------

    async def negotiate(
        self, space_id: int, user_id: int | None, sdp: str, sdp_type: str, *,
        socket_id: str | None = None, address: str | None = None,
    ) -> dict:  # fmt: skip
        """Answer a client's offer. Raises MediaError on refusal.

        `socket_id` names the room socket the offer came on (its new offer replaces its old peer) and
        `address` the client's network address (an anonymous visitor's peers count against it)."""
        if sdp_type != "offer":
            raise MediaError("Expected an SDP offer.")
        refusal = await self.policy.entry_refusal(space_id, user_id)
        if refusal:
            raise MediaError(refusal)
        wants_to_send = _offer_sends_audio(sdp)
        may_publish = False
        if wants_to_send and user_id is not None:
            may_publish = user_id in await self.policy.publisher_user_ids(space_id)

        replacing = len(self._replaced_peers(space_id, user_id, socket_id))
        try:
            admission = self.limits.admit(owner_of(user_id, address), replacing=replacing, on_stage=may_publish)
        except Refused as exc:
            raise MediaError(str(exc)) from None
        try:
            return await self._answer(space_id, user_id, sdp, may_publish, socket_id, admission)
        except BaseException:
            admission.release()
            raise

    def _replaced_peers(self, space_id: int, user_id: int | None, socket_id: str | None) -> list[Peer]:
        """The peers a new offer replaces: its socket's, and a logged-in user's other one in this room."""
        room = self.rooms.get(space_id)
        if room is None:
            return []
        return [
            p for p in room.peers.values()
            if (socket_id is not None and p.socket_id == socket_id) or (user_id is not None and p.user_id == user_id)
        ]  # fmt: skip

    async def _answer(
        self, space_id: int, user_id: int | None, sdp: str, may_publish: bool, socket_id: str | None,
        admission: Admission,
    ) -> dict:  # fmt: skip
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice_servers))
        aiortc_compat.use_certificate(pc, self._certificate)
        try:
            return await self._set_up(pc, space_id, user_id, sdp, may_publish, socket_id, admission)
        except BaseException:
            await pc.close()  # a refused or failed offer holds nothing
            raise

    async def _set_up(
        self, pc: RTCPeerConnection, space_id: int, user_id: int | None, sdp: str, may_publish: bool,
        socket_id: str | None, admission: Admission,
    ) -> dict:  # fmt: skip
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:
            raise MediaError("Malformed offer.") from exc
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio:
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
        if payload_type is None:
            raise MediaError("The offer has no audio codec we can use.")
        if not self.legacy:
            # Ask for Opus DTX: a silent browser then sends a packet every 400 ms instead of 50 a second.
            for codec in codecs:
                if codec.mimeType.lower() == "audio/opus":
                    codec.parameters["usedtx"] = 1

        room = await self._room(space_id)
        for old in self._replaced_peers(space_id, user_id, socket_id):
            await self._close_peer(room, old)

        peer = Peer(next(self._peer_ids), user_id, pc, transceiver.sender, payload_type, socket_id=socket_id,
                    admission=admission)  # fmt: skip
        if may_publish:
            opus_types = {
                c.payloadType for c in codecs if c.mimeType.lower() == "audio/opus" and c.payloadType is not None
            }
            peer.speaker = SpeakerInput(payload_types=opus_types)
            peer.speaker.set_accepting(user_id in room.audible)
            # Take the parsed packets before aiortc's jitter buffer and decoder thread see them.
            aiortc_compat.divert_incoming_rtp(transceiver.receiver, peer.speaker.handle_rtp)

        @pc.on("connectionstatechange")
        async def _on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close_peer(room, peer)

        await pc.setLocalDescription(await pc.createAnswer())
        room.add_peer(peer)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    # -- room lifecycle ----------------------------------------------------------------------------

    async def _room(self, space_id: int) -> Room:
        room = self.rooms.get(space_id)
        if room is None:
            room = Room(space_id)
            room.legacy = self.legacy
            room.apply_audible(await self.policy.audible_user_ids(space_id))
            voice = await self.policy.demo_voice_user_id(space_id)
            if voice is not None:
                from .demo_voice import bot_peer, load_clip

                room.add_bot(bot_peer(voice, await asyncio.to_thread(load_clip)))
            self.rooms[space_id] = room
            self._start()
            if self.on_room_created is not None:
                await self.on_room_created(space_id)
            if self.recorders is not None:
                await self.recorders.refresh(room)
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
            if self.recorders is not None:
                await self.recorders.refresh(room)

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
        if self.recorders is not None:
            self.recorders.room_ended(room)
        for peer in list(room.peers.values()):
            await self._close_peer(room, peer)
        if self.on_room_freed is not None:
            await self.on_room_freed(space_id)

    async def _close_peer(self, room: Room, peer: Peer) -> None:
        room.drop_peer(peer)
        if peer.admission is not None:
            peer.admission.release()
        await peer.pc.close()

    def note_reaction(self, space_id: int, emoji: str) -> None:
        """A reaction in a room this engine hosts: the recording places it on the replay's clock."""
        room = self.rooms.get(space_id)
        if room is not None and room.tap is not None:
            room.tap.note_reaction(emoji)

    async def close(self) -> None:
        for space_id in list(self.rooms):
            await self.end_room(space_id)
        if self.recorders is not None:
            await self.recorders.close()
        for task in (self._clock_task, self._refresh_task, *self._background):
            if task is not None:
                task.cancel()

    # -- clock -------------------------------------------------------------------------------------

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        sampled_at = deadline
        while self.rooms:
            deadline += TICK
            delay = deadline - loop.time()
            # Always through the event loop, even when late: signalling (offers, ICE, DTLS) must get its turn
            # between ticks, or an overloaded engine would stop admitting anyone instead of refusing.
            await asyncio.sleep(max(delay, 0))
            if loop.time() - sampled_at >= CpuLoad.PERIOD:
                sampled_at = loop.time()
                self.limits.cpu.sample()  # for admission control (media.limits)
            started = time.perf_counter()
            if delay < -5 * TICK:
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
                if levels is not None:
                    if room.tap is not None:
                        room.tap.note_levels(levels)
                    if self.on_levels is not None:
                        self._spawn(self.on_levels(room.space_id, levels))
            self.limits.cpu.ticked(time.perf_counter() - started)

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
            "peers_refused": self.limits.refused,
            "busy": self.limits.busy(),
        }
