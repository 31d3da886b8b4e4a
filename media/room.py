"""One live Space on an engine: its peers, and the 20 ms tick that mixes, encodes and sends.

Every 20 ms the room pulls one frame per audible speaker, sums them in int32, limits, encodes the
mix once and sends the same Opus packet to every listener (media.fanout). A speaker who is talking
gets a mix without their own voice (mix-minus), encoded for them alone. The engine (media.engine)
owns the clock, signalling and who may be heard; the room only applies what it is told.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, clock

from .fanout import RtpOutput, Scratch, fan_out, send_sender_reports
from .mixer import TALKING_RMS, Limiter, OpusEncoder, level_from_rms, rms
from .speaker import FRAME_SAMPLES, SpeakerInput, intercept_rtp

# A speaker keeps their mix-minus stream this long after their last loud frame, so short pauses
# do not flip them between two encoders.
TALKING_HANGOVER_TICKS = 10
LEVEL_EVERY_TICKS = 10  # speaking levels at most 5 times a second
# Each stream gets an RTCP sender report every this many ticks (1 s), a fiftieth of them each tick.
SENDER_REPORT_EVERY_TICKS = 50
# An Opus TOC byte for one 20 ms SILK wideband frame followed by an empty (all-zero) frame: decoders
# play it as silence. Used when no one is audible instead of encoding 960 zeros every tick.
SILENT_PACKET = b"\xf8\xff\xfe"


@dataclass(eq=False)
class Peer:
    peer_id: int
    user_id: int | None
    pc: RTCPeerConnection
    sender: RTCRtpSender
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
