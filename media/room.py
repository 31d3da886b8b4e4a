"""One live Space on an engine: its peers, and the 20 ms tick that mixes, encodes and sends.

Every 20 ms the room pulls one frame per audible speaker, sums them in int32, limits, encodes the
mix once and sends the same Opus packet to every listener (media.fanout). A speaker who is talking
gets a mix without their own voice (mix-minus), encoded for them alone. The engine (media.engine)
owns the clock, signalling and who may be heard; the room only applies what it is told.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, clock

from .fanout import RtpOutput, Scratch, fan_out, send_sender_reports
from .mixer import TALKING_RMS, Limiter, OpusEncoder, level_from_rms, rms
from .speaker import FRAME_SAMPLES, SpeakerInput, intercept_rtp

if TYPE_CHECKING:
    from .limits import Admission
    from .recorder import RoomTap

# A speaker keeps their mix-minus stream this long after their last loud frame, so short pauses
# do not flip them between two encoders.
TALKING_HANGOVER_TICKS = 10
LEVEL_EVERY_TICKS = 10  # speaking levels at most 5 times a second
# Each stream gets an RTCP sender report every this many ticks (1 s), a fiftieth of them each tick.
SENDER_REPORT_EVERY_TICKS = 50
# An Opus TOC byte for one 20 ms SILK wideband frame followed by an empty (all-zero) frame: decoders
# play it as silence. Used when no one is audible instead of encoding 960 zeros every tick.
SILENT_PACKET = b"\xf8\xff\xfe"
# In silence a room sends that packet once and then every this many ticks (400 ms, Opus DTX's pace).
DTX_EVERY_TICKS = 20
# After two voices were mixed, a voice left alone is still mixed this long (0.5 s) before it is forwarded.
MIXING_HOLD_TICKS = 25


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
    socket_id: str | None = None  # the room socket that offered it (its next offer replaces it)
    admission: Admission | None = None  # its place in the engine's peer caps (media.limits)


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
        self.ticks = 0
        # Packets sent so far, the origin of every stream's sequence numbers: one per tick, except in silence.
        self.sent_index = 0
        self.silent_ticks = 0
        self.forwarded: np.ndarray | None = None  # the last frame forwarded as it was, while a voice is alone
        self.mixing_hold = 0
        # The engine as it was before issue 14, for bench/many_rooms.py's baseline: no forwarding of a lone
        # voice, a mix-minus for it, a packet every tick in silence (and no DTX offered: media.engine).
        self.legacy = False
        self.levels_were_silent = True
        self.packets_sent = 0
        self.octets = 0  # payload bytes of the room's stream so far, for the sender reports
        # For the benchmark: monotonic time the last tick finished its fan-out.
        self.last_tick_at = 0.0
        # Recording and plain-HTTP listeners (media.recorder.RoomTap), attached only while wanted.
        self.tap: RoomTap | None = None
        # The demo Space's recorded speaker (media.demo_voice): a publisher with no connection.
        self.bot: Peer | None = None

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
        self._update_bot()

    def add_bot(self, bot: Peer) -> None:
        """A voice with no connection (the demo's): mixed like a speaker, never sent anything."""
        self.bot = bot
        self.publishers.append(bot)
        self._update_bot()

    def _update_bot(self) -> None:
        # Heard while its user is audible, and not while that user is on stage with a real microphone.
        bot = self.bot
        if bot is not None and bot.speaker is not None:
            live = any(p.user_id == bot.user_id for p in self.publishers if p is not bot)
            bot.speaker.set_accepting(bot.user_id in self.audible and not live)

    def apply_audible(self, audible: set[int]) -> None:
        self.audible = set(audible)
        for peer in self.publishers:
            speaker = peer.speaker
            assert speaker is not None  # every publisher has one
            speaker.set_accepting(peer.user_id in self.audible)
        self._update_bot()

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
            peer.output = RtpOutput(peer.sender, peer.payload_type, self.sent_index, self.octets)
            self.outputs.append(peer.output)
        self.pending = still

    def drop_peer(self, peer: Peer) -> None:
        self.peers.pop(peer.peer_id, None)
        if peer in self.publishers:
            self.publishers.remove(peer)
        if peer.output is not None and peer.output in self.outputs:
            self.outputs.remove(peer.output)
        self._update_bot()

    def catch_up(self) -> None:
        """The clock skipped ticks: what queued meanwhile is stale, play from the newest audio."""
        for peer in self.publishers:
            speaker = peer.speaker
            assert speaker is not None
            speaker.drop_backlog()

    def tick(self) -> dict[str, float] | None:
        """Mix, encode and send 20 ms. Returns speaking levels when it is time to publish them."""
        self.attach_ready_outputs()
        audible, legacy = self.audible, self.legacy
        frames: list[tuple[Peer, np.ndarray]] = []
        for peer in self.publishers:
            speaker = peer.speaker
            assert speaker is not None
            speaker.read_socket()
            frame = speaker.pull()
            if frame is None or peer.user_id not in audible:
                continue
            loudness = rms(frame)
            peer.level_peak = max(peer.level_peak, level_from_rms(loudness))
            if loudness >= TALKING_RMS:
                peer.talking_ticks = TALKING_HANGOVER_TICKS
            elif not legacy:
                continue  # a quiet voice (a pause, a DTX comfort-noise update) adds nothing to the mix
            frames.append((peer, frame))

        total = None
        alone = len(frames) == 1 and not legacy
        if len(frames) > 1:
            self.mixing_hold = MIXING_HOLD_TICKS
        elif self.mixing_hold:
            self.mixing_hold -= 1
        # One voice alone: its own Opus packet goes out as it is (no mix, no encode), when it made this frame
        # and the room has not mixed two voices in the last MIXING_HOLD_TICKS (no flapping between the two).
        forward = None
        if alone and not self.mixing_hold and frames[0][0].speaker is not None:
            forward = frames[0][0].speaker.payload
        if forward is not None:
            payload: bytes | None = forward
            self.forwarded = frames[0][1]
        elif frames:
            if self.forwarded is not None:
                # Back to mixing after forwarding: prime the room's encoder with the voice listeners just
                # heard, so its look-ahead and energy state match theirs and the switch makes no click.
                self.encoder.encode(self.forwarded)
                self.forwarded = None
            total = self.mix
            np.copyto(total, frames[0][1])
            for _, frame in frames[1:]:
                np.add(total, frame, out=total)
            payload = self.encoder.encode(self.limiter.apply(total))
        else:
            # Nobody audible: a ready-made silent packet (libopus is slowest on digital silence).
            payload = SILENT_PACKET
            self.forwarded = None  # listeners' decoders now hold silence, not that voice

        personal: dict[RtpOutput, bytes] = {}
        own = {peer.peer_id: frame for peer, frame in frames}
        for peer in self.publishers:
            frame = own.get(peer.peer_id)
            hangover = peer.talking_ticks > 0
            if hangover:
                peer.talking_ticks -= 1
            if peer.output is None:
                continue
            if alone and frame is not None:
                personal[peer.output] = SILENT_PACKET  # the one voice in the mix hears nothing of itself
            elif hangover and total is not None:
                if peer.encoder is None or peer.limiter is None:
                    peer.encoder, peer.limiter = OpusEncoder(), Limiter()
                minus = total - frame if frame is not None else total
                encoded = peer.encoder.encode(peer.limiter.apply(minus))
                if encoded is not None:
                    personal[peer.output] = encoded

        if payload is None:
            payload = SILENT_PACKET  # the encoder held the frame back: keep every stream's numbering
        index, timestamp, scratch = self.sent_index, self.timestamp, self.scratch
        # A silent room sends its silence once, then every DTX_EVERY_TICKS (as Opus DTX does): listeners'
        # decoders play silence in between, and the room costs next to nothing per tick.
        self.silent_ticks = self.silent_ticks + 1 if not frames else 0
        if legacy or self.silent_ticks % DTX_EVERY_TICKS == 1 or not self.silent_ticks:
            self.packets_sent += fan_out(self.outputs, payload, index, timestamp, scratch, personal)
            for output, encoded in personal.items():
                self.packets_sent += fan_out((output,), encoded, index, timestamp, scratch)
            self.sent_index += 1
            self.octets += len(payload)
        self.timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        self.ticks += 1
        self.last_tick_at = time.monotonic()
        if self.tap is not None:
            self.tap.tick(frames, payload)  # after the fan-out: listeners never wait on the recording

        # RTCP sender reports, after the audio: a fiftieth of the streams each tick, so no tick pays
        # for all of them and each stream gets one a second (aiortc's own timing, without its task).
        group = self.ticks % SENDER_REPORT_EVERY_TICKS
        if group == 0 and any(output.dead for output in self.outputs):
            self.outputs = [output for output in self.outputs if not output.dead]
        send_sender_reports(self.outputs[group::SENDER_REPORT_EVERY_TICKS], self.sent_index, self.octets, timestamp,
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
