"""The media engine: peer connections per room, the 20 ms clock, the mixer and the fan-out.

One engine runs per process (inside Daphne on the embedded default, or in `manage.py runmedia`).
Every 20 ms each room pulls one frame per audible speaker, sums them in int32, limits, encodes the
room mix once and sends the same Opus packet to every listener. A speaker who is talking gets a mix
without their own voice (mix-minus), encoded for them alone.

Who may be heard is never taken from the client: the engine asks its Policy (live.stage in
production) and re-reads it on room events, on refresh_room() and every couple of seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription, clock
from aiortc.rtcdtlstransport import RTCCertificate

from live.media_port import MediaError

from .fanout import ParkedTrack, RtpOutput, Scratch, fan_out, send_sender_reports, take_over_sender_reports
from .mixer import TALKING_RMS, Limiter, OpusEncoder, level_from_rms, rms
from .speaker import FRAME_SAMPLES, SpeakerInput, intercept_rtp

logger = logging.getLogger(__name__)

TICK = 0.020
# A speaker keeps their mix-minus stream this long after their last loud frame, so short pauses
# do not flip them between two encoders.
TALKING_HANGOVER_TICKS = 10
LEVEL_EVERY_TICKS = 10  # speaking levels at most 5 times a second
# Each stream gets an RTCP sender report every this many ticks (1 s), a fiftieth of them each tick.
SENDER_REPORT_EVERY_TICKS = 50
REFRESH_INTERVAL = 2.0
# An Opus TOC byte for one 20 ms SILK wideband frame followed by an empty (all-zero) frame: decoders
# play it as silence. Used when no one is audible instead of encoding 960 zeros every tick.
SILENT_PACKET = b"\xf8\xff\xfe"
CONNECT_TIMEOUT = 30.0
# Events after which who-may-be-heard must be read again.
POLICY_EVENTS = frozenset({"speaker_muted", "speaker_unmuted", "role_changed", "removed", "speaker_added",
                           "speaker_removed", "stage_changed"})  # fmt: skip


class Policy(Protocol):
    """Who may enter, publish and be heard. The Django implementation is media.policy."""

    async def entry_refusal(self, space_id: int, user_id: int | None) -> str | None: ...

    async def publisher_user_ids(self, space_id: int) -> set[int]: ...

    async def audible_user_ids(self, space_id: int) -> set[int]: ...


LevelsCallback = Callable[[int, dict[str, float]], Awaitable[None]]


@dataclass(eq=False)
class Peer:
    peer_id: int
    user_id: int | None
    pc: RTCPeerConnection
    sender: object
    payload_type: int
    speaker: SpeakerInput | None = None
    output: RtpOutput | None = None
    created: float = field(default_factory=time.monotonic)
    talking_ticks: int = 0
    level_peak: float = 0.0
    encoder: OpusEncoder | None = None
    limiter: Limiter | None = None


class Room:
    """One live Space on this engine."""

    def __init__(self, space_id: int) -> None:
        self.space_id = space_id
        self.peers: dict[int, Peer] = {}
        # The peers with a SpeakerInput, so a tick never walks the whole audience.
        self.publishers: list[Peer] = []
        self.outputs: list[RtpOutput] = []
        self.pending: list[Peer] = []
        self.audible: set[int] = set()
        self.encoder = OpusEncoder()
        self.limiter = Limiter()
        self.scratch = Scratch()
        self.mix = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        self.timestamp = 0
        self.ticks = 0  # also the packet index: every output gets exactly one packet per tick
        self.levels_were_silent = True
        self.packets_sent = 0
        self.octets = 0  # payload bytes of the room's stream so far, for the sender reports
        # For the benchmark: monotonic time the last tick finished its fan-out.
        self.last_tick_at = 0.0

    @property
    def speakers(self) -> list[Peer]:
        return list(self.publishers)

    def listener_count(self) -> int:
        return len(self.peers)

    def add_peer(self, peer: Peer) -> None:
        self.peers[peer.peer_id] = peer
        if peer.speaker is not None:
            self.publishers.append(peer)
        self.pending.append(peer)

    def apply_audible(self, audible: set[int]) -> None:
        self.audible = set(audible)
        for peer in self.publishers:
            peer.speaker.set_accepting(peer.user_id in self.audible)

    def attach_ready_outputs(self) -> None:
        if not self.pending:
            return
        still = []
        for peer in self.pending:
            if peer.peer_id not in self.peers:
                continue
            if not RtpOutput.ready(peer.sender):
                still.append(peer)
                continue
            dtls = peer.sender.transport
            if peer.speaker is not None:
                peer.speaker.attach(dtls)
            else:
                intercept_rtp(dtls, None)  # a listener's RTP is dropped unread
            peer.output = RtpOutput(peer.sender, peer.payload_type, self.ticks, self.octets)
            self.outputs.append(peer.output)
        self.pending = still

    def drop_peer(self, peer: Peer) -> None:
        self.peers.pop(peer.peer_id, None)
        if peer in self.publishers:
            self.publishers.remove(peer)
        if peer.output is not None and peer.output in self.outputs:
            self.outputs.remove(peer.output)

    def catch_up(self) -> None:
        """The clock skipped ticks: what queued meanwhile is stale, play from the newest audio."""
        for peer in self.publishers:
            peer.speaker.drop_backlog()

    def tick(self) -> dict[str, float] | None:
        """Mix, encode and send 20 ms. Returns speaking levels when it is time to publish them."""
        self.attach_ready_outputs()
        audible = self.audible
        frames: list[tuple[Peer, np.ndarray]] = []
        for peer in self.publishers:
            peer.speaker.read_socket()
            frame = peer.speaker.pull()
            if frame is None or peer.user_id not in audible:
                continue
            frames.append((peer, frame))

        total = None
        if frames:
            total = self.mix
            np.copyto(total, frames[0][1])
            for _, frame in frames[1:]:
                np.add(total, frame, out=total)
            payload = self.encoder.encode(self.limiter.apply(total))
        else:
            # Nobody audible: a ready-made silent packet (libopus is slowest on digital silence).
            payload = SILENT_PACKET

        personal: dict[RtpOutput, bytes] = {}
        own = {peer.peer_id: frame for peer, frame in frames}
        for peer in self.publishers:
            frame = own.get(peer.peer_id)
            if frame is not None:
                loudness = rms(frame)
                peer.level_peak = max(peer.level_peak, level_from_rms(loudness))
                if loudness >= TALKING_RMS:
                    peer.talking_ticks = TALKING_HANGOVER_TICKS
            if peer.talking_ticks > 0:
                peer.talking_ticks -= 1
                if peer.output is not None and total is not None:
                    if peer.encoder is None:
                        peer.encoder, peer.limiter = OpusEncoder(), Limiter()
                    minus = total - frame if frame is not None else total
                    encoded = peer.encoder.encode(peer.limiter.apply(minus))
                    if encoded is not None:
                        personal[peer.output] = encoded

        if payload is None:
            payload = SILENT_PACKET  # the encoder held the frame back: keep every stream's numbering
        index, timestamp, scratch = self.ticks, self.timestamp, self.scratch
        self.packets_sent += fan_out(self.outputs, payload, index, timestamp, scratch, personal)
        for output, encoded in personal.items():
            self.packets_sent += fan_out((output,), encoded, index, timestamp, scratch)
        self.timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self.ticks += 1
        self.octets += len(payload)
        self.last_tick_at = time.monotonic()

        # RTCP sender reports, after the audio: a fiftieth of the streams each tick, so no tick pays
        # for all of them and each stream gets one a second (aiortc's own timing, without its task).
        group = index % SENDER_REPORT_EVERY_TICKS
        if group == 0 and any(output.dead for output in self.outputs):
            self.outputs = [output for output in self.outputs if not output.dead]
        send_sender_reports(self.outputs[group::SENDER_REPORT_EVERY_TICKS], self.ticks, self.octets, timestamp,
                            clock.current_ntp_time(), scratch)  # fmt: skip
        if self.ticks % LEVEL_EVERY_TICKS == 0:
            return self._collect_levels()
        return None

    def _collect_levels(self) -> dict[str, float] | None:
        levels = {}
        for peer in self.publishers:
            if peer.user_id is not None:
                if peer.level_peak > 0.05:
                    levels[str(peer.user_id)] = round(peer.level_peak, 2)
                peer.level_peak = 0.0
        if not levels and self.levels_were_silent:
            return None  # say "all quiet" once, not five times a second
        self.levels_were_silent = not levels
        return levels


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
        pc._RTCPeerConnection__certificates = [self._certificate]
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
        payload_type = transceiver._codecs[0].payloadType

        room = await self._room(space_id)
        if user_id is not None:
            for old in [p for p in room.peers.values() if p.user_id == user_id]:
                await self._close_peer(room, old)

        peer = Peer(next(self._peer_ids), user_id, pc, transceiver.sender, payload_type)
        if may_publish:
            opus_types = {c.payloadType for c in transceiver._codecs if c.mimeType.lower() == "audio/opus"}
            peer.speaker = SpeakerInput(payload_types=opus_types)
            peer.speaker.set_accepting(user_id in room.audible)
            # Take the parsed packets before aiortc's jitter buffer and decoder thread see them.
            transceiver.receiver._handle_rtp_packet = peer.speaker.handle_rtp

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

    async def handle_room_event(self, space_id: int, event: dict) -> None:
        """React to a room event from the channel layer group space-<id>."""
        name = event.get("event")
        if name == "space_ended":
            await self.end_room(space_id)
        elif name == "removed" and event.get("user_id") is not None:
            await self.remove_user(space_id, int(event["user_id"]))
        elif name in POLICY_EVENTS:
            await self.refresh_room(space_id)

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
