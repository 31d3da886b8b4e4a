"""Recording a room, and feeding its plain-HTTP listeners, from the packet its tick already encoded.

A Room with a `tap` hands it, once per tick after the fan-out, the frames it mixed and the Opus packet it
sent every listener. The tap

- records that same packet (no second encode) into the room's current segment, unless a voice in the mix
  declined recording: then it mixes the others again and encodes that for the recording alone (one extra
  Opus encode, ~50 µs, only while such a voice is in the mix);
- passes the packet to the room's plain-HTTP listeners when a web process wants them (recordings.livefeed).

A segment writes Ogg pages (one a second) to a spool file, flushed page by page, so a crash loses at most
a second and what was written plays. Every SPACES_RECORDING_CHUNK_SECONDS the segment's new pages are cut
into a chunk and shipped to the `recordings` storage off the event loop (`Recorders`, one per engine); a
worker that dies leaves its unshipped chunk in the spool for the next worker on the machine to ship. A room
that moves to another worker continues in a new segment there; the segments are joined when the Space ends
(recordings.finalise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from recordings import livefeed
from recordings.handoff import ChunkData, Plan
from recordings.ogg import SILENT_PACKET, OggOpusWriter

from .mixer import Limiter, OpusEncoder
from .speaker import FRAME_SAMPLES

if TYPE_CHECKING:
    from .room import Peer, Room

logger = logging.getLogger(__name__)

SPEAKING_LEVEL = 0.25  # a level (0..1 on a 60 dB scale) that counts as speaking on the replay's timeline
TURN_GAP_PACKETS = 50  # a second of quiet ends a turn
PACKET_SECONDS = 0.020
MAX_DRIFT_PACKETS = 5  # behind the wall clock by more than 100 ms: pad with silence
SHIP_RETRY = 2.0
ORPHAN_EVERY = 30.0


class RecordingStore(Protocol):
    """Where recording plans come from and chunks go (recordings, through DjangoStore; the bench's own)."""

    async def plan(self, space_id: int) -> Plan | None: ...

    async def open_segment(self, space_id: int, key: str, started_at: float) -> bool: ...

    async def ship(self, key: str, chunk: ChunkData) -> bool: ...

    async def ship_orphan(self, key: str, index: int, data: bytes) -> bool: ...

    async def close_segment(self, key: str) -> None: ...


class Segment:
    """One segment being written: Ogg pages into a spool file per chunk, and what to ship next."""

    def __init__(self, key: str, spool_dir: Path) -> None:
        self.key = key
        self.spool_dir = spool_dir
        self.ogg = OggOpusWriter()
        self.index = 0
        self.first_packet = 0
        self.pending = bytearray(self.ogg.headers())
        self.turns: dict[int, list[int]] = {}  # user id -> [first packet, last packet] of their current turn
        self.done_turns: list[list[int]] = []
        self.reactions: list[list] = []
        self.file = self._open()
        self.file.write(self.pending)
        self.file.flush()
        self.started = time.monotonic()

    def _open(self):  # noqa: ANN202  (a binary file)
        return open(self.spool_path(self.index), "wb")  # noqa: SIM115  (closed in cut())

    def spool_path(self, index: int) -> Path:
        return self.spool_dir / f"{self.key}-{index:06d}.ogg"

    def add(self, packet: bytes) -> None:
        page = self.ogg.add(packet)
        if page:
            self.pending += page
            self.file.write(page)
            self.file.flush()

    def keep_time(self, now: float) -> int:
        """Silence for ticks the engine's clock skipped (a stalled event loop resynchronises rather than
        catch up), so the replay's clock stays the room's. Returns the packets added."""
        behind = int((now - self.started) / PACKET_SECONDS) - self.ogg.packets
        if behind <= MAX_DRIFT_PACKETS:
            return 0
        for _ in range(behind):
            self.add(SILENT_PACKET)
        return behind

    def note_levels(self, levels: dict[str, float], declined: frozenset[int]) -> None:
        at = self.ogg.packets
        for user, level in levels.items():
            user_id = int(user)
            if level < SPEAKING_LEVEL or user_id in declined:
                continue
            turn = self.turns.get(user_id)
            if turn is not None and at - turn[1] <= TURN_GAP_PACKETS:
                turn[1] = at
            else:
                if turn is not None:
                    self.done_turns.append([user_id, *turn])
                self.turns[user_id] = [max(at - 10, 0), at]  # levels cover the last 200 ms

    def note_reaction(self, emoji: str) -> None:
        self.reactions.append([self.ogg.packets, emoji])

    def cut(self, *, final: bool = False) -> tuple[ChunkData, Path]:
        """The pages written since the last cut, as the next chunk (and its spool file)."""
        page = self.ogg.flush(last=final)
        if page:
            self.pending += page
            self.file.write(page)
        self.file.close()
        at = self.ogg.packets
        for user_id, turn in list(self.turns.items()):
            if final or at - turn[1] > TURN_GAP_PACKETS:
                self.done_turns.append([user_id, *turn])
                del self.turns[user_id]
        chunk = ChunkData(self.index, bytes(self.pending), self.first_packet, at - self.first_packet,
                          self.done_turns, self.reactions)  # fmt: skip
        path = self.spool_path(self.index)
        self.index, self.first_packet = self.index + 1, at
        self.pending, self.done_turns, self.reactions = bytearray(), [], []
        if not final:
            self.file = self._open()
        return chunk, path


class RoomTap:
    """What a recorded (or HTTP-streamed) room does with each tick's packet. Kept off the Room so the tick's
    hot loop stays as it was: one call when a tap is attached, none otherwise."""

    __slots__ = ("segment", "declined", "stream", "encoder", "limiter", "mix", "own_encodes")

    def __init__(self) -> None:
        self.segment: Segment | None = None
        self.declined: frozenset[int] = frozenset()
        self.stream: livefeed.Sink | None = None
        self.encoder: OpusEncoder | None = None
        self.limiter: Limiter | None = None
        self.mix = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        self.own_encodes = 0

    def tick(self, frames: list[tuple[Peer, np.ndarray]], payload: bytes) -> None:
        if self.stream is not None:
            self.stream(payload)
        if self.segment is not None:
            self.segment.add(self._recorded(frames, payload) if self.declined else payload)

    def _recorded(self, frames: list[tuple[Peer, np.ndarray]], payload: bytes) -> bytes:
        """The packet for the recording: the room's own unless a declined voice is in it."""
        declined = self.declined
        kept = [frame for peer, frame in frames if peer.user_id not in declined]
        if len(kept) == len(frames):
            return payload
        if not kept:
            return SILENT_PACKET
        if self.encoder is None:
            self.encoder, self.limiter = OpusEncoder(), Limiter()
        mix = self.mix
        np.copyto(mix, kept[0])
        for frame in kept[1:]:
            np.add(mix, frame, out=mix)
        self.own_encodes += 1
        return self.encoder.encode(self.limiter.apply(mix)) or SILENT_PACKET  # type: ignore[union-attr]

    def note_levels(self, levels: dict[str, float]) -> None:
        if self.segment is not None:
            self.segment.note_levels(levels, self.declined)

    def note_reaction(self, emoji: str) -> None:
        if self.segment is not None:
            self.segment.note_reaction(emoji)

    @property
    def idle(self) -> bool:
        return self.segment is None and self.stream is None


class LiveFeed(Protocol):
    async def refresh(self, space_ids: list[int]) -> None: ...

    def wanted(self, space_id: int) -> bool: ...

    def sink(self, space_id: int) -> livefeed.Sink: ...

    async def close(self) -> None: ...


class Recorders:
    """An engine's recordings and HTTP feeds: reads each room's plan, opens and closes segments, and ships
    chunks in order from one queue (a chunk that fails to ship is retried; order is kept)."""

    def __init__(self, store: RecordingStore, *, spool_dir: Path, chunk_seconds: float,
                 feed: LiveFeed | None = None, worker: str = "") -> None:  # fmt: skip
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.chunk_seconds = chunk_seconds
        self.feed = feed
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.rooms: Callable[[], dict[int, Room]] = dict
        self._queue: asyncio.Queue[tuple[str, str, ChunkData | None, Path | None]] = asyncio.Queue()
        self._opening: set[int] = set()
        self._tasks: list[asyncio.Task] = []

    def bind(self, rooms: Callable[[], dict[int, Room]]) -> None:
        self.rooms = rooms

    def start(self) -> None:
        if not self._tasks or all(task.done() for task in self._tasks):
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            self._tasks = [asyncio.ensure_future(self._run_clock()), asyncio.ensure_future(self._run_shipping())]

    async def refresh(self, room: Room) -> None:
        """Follow the room's plan: start or stop recording it, and whose voices to leave out."""
        self.start()
        try:
            plan = await self.store.plan(room.space_id)
        except Exception:
            logger.exception("could not read the recording plan of space %s", room.space_id)
            return
        tap = room.tap
        if plan is not None and plan.on:
            if tap is None:
                tap = room.tap = RoomTap()
            tap.declined = plan.declined
            if tap.segment is None and room.space_id not in self._opening:
                await self._open(room, tap)
        elif tap is not None and tap.segment is not None:
            self._close(tap)
        if room.tap is not None and room.tap.idle:
            room.tap = None

    async def _open(self, room: Room, tap: RoomTap) -> None:
        key = uuid.uuid4().hex
        self._opening.add(room.space_id)
        try:
            opened = await self.store.open_segment(room.space_id, key, time.time())
        except Exception:
            logger.exception("could not start recording space %s", room.space_id)
            opened = False
        finally:
            self._opening.discard(room.space_id)
        if opened and self.rooms().get(room.space_id) is room and tap.segment is None:
            tap.segment = Segment(key, self.spool_dir)
            logger.info("recording space %s (segment %s)", room.space_id, key)

    def _close(self, tap: RoomTap) -> None:
        segment, tap.segment = tap.segment, None
        if segment is not None:
            chunk, path = segment.cut(final=True)
            self._queue.put_nowait(("chunk", segment.key, chunk, path))
            self._queue.put_nowait(("close", segment.key, None, None))

    def room_ended(self, room: Room) -> None:
        if room.tap is not None:
            self._close(room.tap)
            room.tap.stream = None

    async def _run_clock(self) -> None:
        """Once a second: which rooms web processes stream; every chunk_seconds: cut chunks to ship."""
        last_cut = last_orphans = time.monotonic()
        await self._ship_orphans()
        while True:
            await asyncio.sleep(1.0)
            rooms = self.rooms()
            now = time.monotonic()
            try:
                await self._follow_feed(rooms)
            except Exception:
                logger.warning("could not read who streams the rooms over HTTP", exc_info=True)
            for room in list(rooms.values()):
                if room.tap is not None and room.tap.segment is not None:
                    room.tap.segment.keep_time(now)
            if now - last_cut >= self.chunk_seconds:
                last_cut = now
                for room in list(rooms.values()):
                    if room.tap is not None and room.tap.segment is not None:
                        chunk, path = room.tap.segment.cut()
                        self._queue.put_nowait(("chunk", room.tap.segment.key, chunk, path))
            if now - last_orphans >= ORPHAN_EVERY:
                last_orphans = now
                await self._ship_orphans()

    async def _follow_feed(self, rooms: dict[int, Room]) -> None:
        if self.feed is None:
            return
        await self.feed.refresh(list(rooms))
        for space_id, room in rooms.items():
            wanted = self.feed.wanted(space_id)
            tap = room.tap
            if wanted and (tap is None or tap.stream is None):
                tap = room.tap = tap or RoomTap()
                tap.stream = self.feed.sink(space_id)
            elif not wanted and tap is not None and tap.stream is not None:
                tap.stream = None
                if tap.idle:
                    room.tap = None

    async def _run_shipping(self) -> None:
        while True:
            kind, key, chunk, path = await self._queue.get()
            while True:
                try:
                    if kind == "chunk" and chunk is not None:
                        await self.store.ship(key, chunk)
                    else:
                        await self.store.close_segment(key)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("could not ship the recording of segment %s; retrying", key)
                    await asyncio.sleep(SHIP_RETRY)
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
            self._queue.task_done()

    async def _ship_orphans(self) -> None:
        """Chunks a crashed worker on this machine left in the spool (not ours, untouched for a while)."""
        ours = {room.tap.segment.key for room in self.rooms().values() if room.tap and room.tap.segment}
        stale_before = time.time() - 3 * self.chunk_seconds - 5
        for path in sorted(self.spool_dir.glob("*-*.ogg")):
            key, _, index = path.stem.rpartition("-")
            try:
                if key in ours or path.stat().st_mtime > stale_before:
                    continue
                await self.store.ship_orphan(key, int(index), path.read_bytes())
                path.unlink()
                logger.warning("shipped chunk %s of segment %s left by a stopped worker", index, key)
            except Exception:
                logger.warning("could not ship the spooled chunk %s", path.name, exc_info=True)

    async def close(self, timeout: float = 5.0) -> None:
        """Ship what is queued (bounded in time), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._tasks:
            task.cancel()
        if self.feed is not None:
            await self.feed.close()
