"""Audio fan-out benchmark: server CPU per listener-packet of the media engine vs. stock aiortc.

    .venv/bin/python bench/audio_fanout.py [--sweep 0,50,200,500,1000] [--stock-sweep 0,10,20,40] [--window 5]
                                           [--record]

This process runs the real MediaEngine (and, for the baseline, aiortc's stock path: one encoder per
RTCRtpSender). A second process runs 13 aiortc speakers that send pre-encoded Opus with marker bursts
and N aiortc listeners; everything is on loopback. The load generator drives the sweep over a tiny
JSON-lines RPC; this process measures its own CPU and prints the table. Compare ratios within one run:
the machine has 2 cores and other work shares it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aioice.ice
import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from audio_load import (  # noqa: E402
    FRAME,
    RATE,
    SPACE,
    SPEAKERS,
    TIME_BASE,
    percentile,
    speaker_cycle,
)
from audio_report import report, report_recording  # noqa: E402

from media.engine import MediaEngine  # noqa: E402
from media.recorder import Recorders, RoomTap  # noqa: E402
from media.speaker import SpeakerInput  # noqa: E402
from recordings.handoff import Plan  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

PAGE = os.sysconf("SC_PAGE_SIZE")
LOAD_GENERATOR = Path(__file__).resolve().parent / "audio_load.py"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


# -- server side -----------------------------------------------------------------------------------


class BenchPolicy:
    async def entry_refusal(self, space_id, user_id):
        return None

    async def publisher_user_ids(self, space_id):
        return set(range(1, SPEAKERS + 1))

    async def audible_user_ids(self, space_id):
        return set(range(1, SPEAKERS + 1))

    async def demo_voice_user_id(self, space_id):
        return None


class StockRelay:
    """aiortc's stock path: every listener's sender encodes the same mixed frame itself."""

    def __init__(self) -> None:
        self.queues: list[asyncio.Queue] = []
        self.pcs: list[RTCPeerConnection] = []
        self.task: asyncio.Task | None = None

    class Track(MediaStreamTrack):
        kind = "audio"

        def __init__(self, queue: asyncio.Queue) -> None:
            super().__init__()
            self.queue = queue

        async def recv(self) -> av.AudioFrame:
            return await self.queue.get()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t = np.arange(FRAME) / RATE
        pcm = (np.sin(2 * np.pi * 440 * t) * 3000).astype(np.int16).reshape(1, -1)
        deadline, pts = loop.time(), 0
        while True:
            deadline += 0.02
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            for queue in self.queues:
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = RATE, pts, TIME_BASE
                if queue.qsize() < 5:
                    queue.put_nowait(frame)
            pts += FRAME

    async def negotiate(self, sdp: str) -> dict:
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        queue: asyncio.Queue = asyncio.Queue()
        self.queues.append(queue)
        pc.addTrack(self.Track(queue))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp, "type": "answer"}

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        for pc in self.pcs:
            await pc.close()
        self.pcs.clear()
        self.queues.clear()


class MixerLatency:
    """When each marker burst left the server: the end of the tick that decoded it (monotonic clock).

    The load generator subtracts the time its speaker track produced the burst (the same
    CLOCK_MONOTONIC): speaker to server send, without the load generator's own receive queues, which
    grow with N on a shared machine and weigh on the probes' end-to-end figure.
    """

    def __init__(self) -> None:
        marker = speaker_cycle()[0]
        self.decoded = 0
        self.sent_at: list[float] = []
        original_decode = SpeakerInput._decode

        def decode(speaker: SpeakerInput, payload: bytes) -> None:
            if payload == marker:
                self.decoded += 1
            original_decode(speaker, payload)

        SpeakerInput._decode = decode

    def tick_ended(self) -> None:
        if self.decoded:
            self.sent_at.extend([time.monotonic()] * self.decoded)
            self.decoded = 0


class BenchRecordingStore:
    """--record: the room's recording plan as the bench sets it; chunks written to files from a thread, as
    the recordings storage does (the site's database bookkeeping is not measured)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.plan_now: Plan | None = None
        self.pool = ThreadPoolExecutor(max_workers=1)

    async def plan(self, space_id):
        return self.plan_now

    async def open_segment(self, space_id, key, started_at):
        return True

    async def ship(self, key, chunk):
        path = self.folder / f"{key}-{chunk.index:06d}.ogg"
        await asyncio.get_running_loop().run_in_executor(self.pool, path.write_bytes, chunk.data)
        return True

    async def ship_orphan(self, key, index, data):
        return True

    async def close_segment(self, key):
        return None


class Server:
    def __init__(self, record: bool = False) -> None:
        self.mixer_latency = MixerLatency()
        self.recording_store = None
        recorders = None
        self.tap_cpu = 0.0
        if record:
            folder = Path(tempfile.mkdtemp(prefix="bench-recording-"))
            self.recording_store = BenchRecordingStore(folder)
            recorders = Recorders(self.recording_store, spool_dir=folder / "spool", chunk_seconds=5.0)
            original_tap_tick = RoomTap.tick

            def tap_tick(tap: RoomTap, frames, payload) -> None:
                started = time.thread_time()
                original_tap_tick(tap, frames, payload)
                self.tap_cpu += time.thread_time() - started

            RoomTap.tick = tap_tick
        self.engine = MediaEngine(BenchPolicy(), recorders=recorders)
        self.stock = StockRelay()
        self.tick_log: list[tuple[float, float]] | None = None
        self.tick_cpu: list[float] = []
        self._patched = False
        self.profile: cProfile.Profile | None = None
        self.gc_pauses: list[float] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info.get("generation") == 2:
            self.gc_pauses.append((time.perf_counter() - self._gc_started) * 1000)

    def _patch_room(self) -> None:
        room = self.engine.rooms.get(SPACE)
        if room is None or self._patched:
            return
        original = room.tick

        def timed_tick():
            start, cpu = time.perf_counter(), time.thread_time()
            result = original()
            end = time.perf_counter()
            self.mixer_latency.tick_ended()
            if self.tick_log is not None:
                self.tick_log.append((start, end))
                self.tick_cpu.append(time.thread_time() - cpu)
            return result

        room.tick = timed_tick
        self._patched = True

    async def negotiate(self, user_id: int | None, sdp: str, mode: str = "engine") -> dict:
        if mode == "stock":
            return await self.stock.negotiate(sdp)
        answer = await self.engine.negotiate(SPACE, user_id, sdp, "offer")
        self._patch_room()
        return answer

    async def mark(self) -> dict:
        gc.collect()
        return {"cpu": time.process_time(), "wall": time.perf_counter(), "rss": rss_bytes()}

    async def measure(self, seconds: float) -> dict:
        room = self.engine.rooms.get(SPACE)
        sent0 = room.packets_sent if room else 0
        self.tick_log = []
        self.tick_cpu = []
        self.tap_cpu = 0.0
        self.gc_pauses = []
        self.mixer_latency.sent_at = []
        if self.profile is not None:
            self.profile.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if self.profile is not None:
            self.profile.disable()
        log, self.tick_log = self.tick_log, None
        starts = np.array([s for s, _ in log])
        ends = np.array([e for _, e in log])
        jitter = np.concatenate((np.abs(np.diff(starts) - 0.02), np.abs(np.diff(ends) - 0.02))) if len(log) > 2 else []
        return {
            "cpu": cpu,
            "wall": wall,
            "sent": (room.packets_sent if room else 0) - sent0,
            "ticks": len(log),
            "tick_ms_p50": percentile([(e - s) * 1000 for s, e in log], 50),
            "tick_ms_max": max([(e - s) * 1000 for s, e in log], default=0.0),
            "tick_cpu_ms_p50": percentile([x * 1000 for x in self.tick_cpu], 50),
            "tick_cpu_ms_mean": float(np.mean(self.tick_cpu) * 1000) if self.tick_cpu else float("nan"),
            "tap_cpu_us_per_tick": self.tap_cpu / max(len(log), 1) * 1e6,
            "pacing_p99_ms": percentile(list(np.asarray(jitter) * 1000), 99),
            "peers": len(room.peers) if room else 0,
            "gc2_pauses_ms": [round(x, 1) for x in self.gc_pauses],
            "outputs": len(room.outputs) if room else 0,
            "marker_sent_at": self.mixer_latency.sent_at,
        }

    async def recording(self, mode: str) -> dict:
        """--record: "off", "record" (every voice consents: the room's packet is written as it is), or
        "declined" (one speaker declined: the recording is mixed and encoded apart)."""
        store = self.recording_store
        store.plan_now = None if mode == "off" else Plan(1, True, frozenset({1} if mode == "declined" else ()))
        await self.engine.refresh_room(SPACE)
        room = self.engine.rooms.get(SPACE)
        return {"recording": bool(room and room.tap and room.tap.segment)}

    async def close_stock(self) -> dict:
        await self.stock.close()
        self.stock = StockRelay()
        return {}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def dispatch(msg: dict) -> None:
            result = await getattr(self, msg["method"])(**msg["params"])
            writer.write((json.dumps({"id": msg["id"], "result": result}) + "\n").encode())

        while line := await reader.readline():
            asyncio.ensure_future(dispatch(json.loads(line)))


async def run_server(args: argparse.Namespace) -> dict:
    server = Server(record=args.record)
    if args.profile:
        server.profile = cProfile.Profile()
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOAD_GENERATOR),
        str(port),
        "--sweep",
        args.sweep,
        "--stock-sweep",
        args.stock_sweep,
        "--window",
        str(args.window),
        *(["--record"] if args.record else []),
        stdout=subprocess.PIPE,
    )
    out, _ = await client.communicate()
    await server.engine.close()
    tcp.close()
    if server.profile is not None:
        server.profile.dump_stats(args.profile)
    return json.loads(out.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="0,50,200,500,1000")
    parser.add_argument("--stock-sweep", default="0,10,20,40")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--profile", help="cProfile the server during measurement windows into this file")
    parser.add_argument("--record", action="store_true", help="also measure what recording the room costs")
    args = parser.parse_args()
    results = asyncio.run(run_server(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results)
    if "recording" in results:
        report_recording(results)


if __name__ == "__main__":
    main()
