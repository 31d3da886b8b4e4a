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
import fractions
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
from aiortc.rtcdtlstransport import RTCCertificate  # noqa: E402

from media.engine import MediaEngine  # noqa: E402
from media.mixer import OpusEncoder  # noqa: E402
from media.recorder import Recorders, RoomTap  # noqa: E402
from media.speaker import SpeakerInput  # noqa: E402
from recordings.handoff import Plan  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

SPACE = 1
SPEAKERS = 13
RATE = 48000
FRAME = 960
TIME_BASE = fractions.Fraction(1, RATE)
CYCLE = 100  # frames: each speaker bursts once every 2 s, staggered 7 frames (140 ms) apart
BURST_FRAMES = 2
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- tiny JSON-lines RPC ---------------------------------------------------------------------------


class Rpc:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while line := await self.reader.readline():
            msg = json.loads(line)
            self.pending.pop(msg["id"]).set_result(msg["result"])

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        self.writer.write((json.dumps({"id": self.next_id, "method": method, "params": params}) + "\n").encode())
        return await fut


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
        __file__,
        "--client",
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


# -- load generator (second process) ---------------------------------------------------------------


def speaker_cycle() -> list[bytes]:
    """2 s of near-silence with one 40 ms loud burst at the start, pre-encoded once."""
    encoder = OpusEncoder()
    rng = np.random.default_rng(1)
    packets = []
    t = np.arange(FRAME) / RATE
    for i in range(CYCLE):
        if i < BURST_FRAMES:
            pcm = (np.sin(2 * np.pi * 1000 * (t + i * FRAME / RATE)) * 8000).astype(np.int16)
        else:
            pcm = rng.integers(-20, 20, FRAME).astype(np.int16)
        packets.append(encoder.encode(pcm) or b"\xf8\xff\xfe")
    return packets


class PreEncodedTrack(MediaStreamTrack):
    """A speaker whose Opus packets are ready-made: aiortc only packetises them."""

    kind = "audio"

    def __init__(self, cycle: list[bytes], offset: int, burst_log: list[float]) -> None:
        super().__init__()
        self.cycle, self.index, self.burst_log = cycle, offset, burst_log
        self.start: float | None = None
        self.pts = 0

    async def recv(self) -> av.Packet:
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        position = self.index % CYCLE
        if position == 0:
            self.burst_log.append(time.monotonic())
        packet = av.Packet(self.cycle[position])
        packet.pts, packet.time_base = self.pts, TIME_BASE
        self.index += 1
        self.pts += FRAME
        return packet


class LightListener:
    """A real aiortc listener whose RTP is counted at the socket (no SRTP unprotect, no decode),
    so one process can hold a thousand of them."""

    def __init__(self, sample_arrivals: bool) -> None:
        self.count = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.gaps = 0
        self.arrivals: list[float] | None = [] if sample_arrivals else None
        self.counting = False

    def on_datagram(self, data: bytes) -> None:
        if not self.counting:
            return
        seq = (data[2] << 8) | data[3]
        if self.last_seq is not None and seq != (self.last_seq + 1) & 0xFFFF:
            self.gaps += (seq - self.last_seq - 1) & 0xFFFF
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        self.count += 1
        if self.arrivals is not None:
            self.arrivals.append(time.perf_counter())

    def reset(self) -> None:
        self.count, self.first_seq, self.last_seq, self.gaps = 0, None, None, 0
        if self.arrivals is not None:
            self.arrivals = []


class Probe:
    """Decodes the mix on arrival and notes when each marker burst appears."""

    def __init__(self) -> None:
        self.decoder = av.CodecContext.create("libopus", "r")
        self.decoder.format, self.decoder.layout, self.decoder.sample_rate = "s16", "mono", RATE
        self.onsets: list[float] = []
        self.loud = False

    async def handle_rtp(self, packet, arrival_time_ms: int = 0) -> None:
        now = time.monotonic()
        for frame in self.decoder.decode(av.Packet(packet.payload)):
            pcm = frame.to_ndarray().astype(np.float32)
            level = float(np.sqrt(np.mean(pcm * pcm)))
            if level > 1000 and not self.loud:
                self.onsets.append(now)
            self.loud = level > 300


async def ignore_rtp(packet, arrival_time_ms: int = 0) -> None:
    return None


class LoadGenerator:
    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc
        self.certificate = RTCCertificate.generateCertificate()
        self.pcs: list[RTCPeerConnection] = []
        self.listeners: list[LightListener] = []
        self.probes: list[Probe] = []
        self.burst_log: list[float] = []

    def new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc._RTCPeerConnection__certificates = [self.certificate]
        self.pcs.append(pc)
        return pc

    async def connect(self, pc: RTCPeerConnection, user_id: int | None, mode: str) -> None:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.rpc.call("negotiate", user_id=user_id, sdp=pc.localDescription.sdp, mode=mode)
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        for _ in range(300):
            if pc.connectionState == "connected":
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"peer did not connect: {pc.connectionState}")

    async def add_speakers(self, cycle: list[bytes]) -> None:
        for k in range(SPEAKERS):
            pc = self.new_pc()
            pc.addTrack(PreEncodedTrack(cycle, offset=CYCLE - 7 * k, burst_log=self.burst_log))
            await self.connect(pc, k + 1, "engine")
            pc.getTransceivers()[0].receiver._handle_rtp_packet = ignore_rtp

    async def add_listener(self, mode: str, probe: bool = False) -> None:
        pc = self.new_pc()
        pc.addTransceiver("audio", direction="recvonly")
        receiver = pc.getTransceivers()[0].receiver
        if probe:
            p = Probe()
            self.probes.append(p)
            receiver._handle_rtp_packet = p.handle_rtp
            await self.connect(pc, None, mode)
            return
        receiver._handle_rtp_packet = ignore_rtp
        listener = LightListener(sample_arrivals=len(self.listeners) < 50)
        await self.connect(pc, None, mode)
        protocol = receiver.transport.transport._connection._nominated[1].protocol
        original = protocol.datagram_received

        def datagram_received(data: bytes, addr, _orig=original, _on=listener.on_datagram) -> None:
            # RTP (not RTCP, whose second byte is 200..206) is counted here and goes no further.
            if 127 < data[0] < 192 and not 192 <= data[1] <= 223:
                _on(data)
            else:
                _orig(data, addr)

        protocol.datagram_received = datagram_received
        self.listeners.append(listener)

    async def grow(self, target: int, mode: str) -> dict:
        before = await self.rpc.call("mark")
        new = target - len(self.listeners)
        semaphore = asyncio.Semaphore(16)

        async def one() -> None:
            async with semaphore:
                await self.add_listener(mode)

        await asyncio.gather(*(one() for _ in range(new)))
        after = await self.rpc.call("mark")
        return {"new": new, "before": before, "after": after}

    async def window(self, seconds: float) -> dict:
        for listener in self.listeners:
            listener.reset()
            listener.counting = True
        probe_marks = [len(p.onsets) for p in self.probes]
        burst_mark = len(self.burst_log)
        server = await self.rpc.call("measure", seconds=seconds)
        for listener in self.listeners:
            listener.counting = False
        received = sum(x.count for x in self.listeners)
        expected = sum(((x.last_seq - x.first_seq) & 0xFFFF) + 1 for x in self.listeners if x.first_seq is not None)
        silent = sum(1 for x in self.listeners if x.first_seq is None)
        intervals = []
        for x in self.listeners:
            if x.arrivals and len(x.arrivals) > 2:
                intervals.extend(np.abs(np.diff(x.arrivals) - 0.02) * 1000)
        latencies = []
        bursts = self.burst_log[burst_mark:]
        mixer_latencies = []
        for sent in server["marker_sent_at"]:
            earlier = [b for b in bursts if b <= sent]
            if earlier and sent - earlier[-1] < 0.14:
                mixer_latencies.append((sent - earlier[-1]) * 1000)
        for probe, mark in zip(self.probes, probe_marks, strict=True):
            for onset in probe.onsets[mark:]:
                earlier = [b for b in bursts if b <= onset]
                if earlier and onset - earlier[-1] < 0.14:
                    latencies.append((onset - earlier[-1]) * 1000)
        return {
            "server": server,
            "received": received,
            "expected": expected,
            "gaps": sum(x.gaps for x in self.listeners),
            "silent_listeners": silent,
            "client_pacing_p99_ms": percentile(intervals, 99),
            "latency_ms": latencies,
            "mixer_latency_ms": mixer_latencies,
        }

    async def close_all(self) -> None:
        for pc in self.pcs:
            await pc.close()
        self.pcs.clear()
        self.listeners.clear()
        self.probes.clear()


async def run_client(args: argparse.Namespace) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", args.client)
    rpc = Rpc(reader, writer)
    results: dict = {"engine": [], "stock": []}

    # Baseline first, on an empty server, so the engine's room does not weigh on it.
    gen = LoadGenerator(rpc)
    for n in [int(x) for x in args.stock_sweep.split(",") if x]:
        join = await gen.grow(n, "stock")
        await asyncio.sleep(1.5)
        results["stock"].append({"n": n, "join": join, **await gen.window(args.window)})
    await gen.close_all()
    await rpc.call("close_stock")
    await asyncio.sleep(1.0)

    gen = LoadGenerator(rpc)
    await gen.add_speakers(speaker_cycle())
    for _ in range(3):
        await gen.add_listener("engine", probe=True)
    if args.record:
        # The same room, the same listeners, windows taken in turn: the baseline is in the same run.
        results["recording"] = {mode: [] for mode in RECORD_MODES}
        for _ in range(3):
            for mode in RECORD_MODES:
                await rpc.call("recording", mode=mode)
                await asyncio.sleep(1.0)
                results["recording"][mode].append((await gen.window(args.window))["server"])
        await rpc.call("recording", mode="off")
    for n in [int(x) for x in args.sweep.split(",") if x]:
        join = await gen.grow(n, "engine")
        await asyncio.sleep(2.0)
        results["engine"].append({"n": n, "join": join, **await gen.window(args.window)})
    await gen.close_all()
    print(json.dumps(results))


# -- report ----------------------------------------------------------------------------------------


def fit(points: list[dict]) -> tuple[float, float]:
    """Least squares of CPU (core fraction) against listeners: returns (a, b per listener)."""
    n = np.array([p["n"] for p in points], dtype=float)
    cpu = np.array([p["server"]["cpu"] / p["server"]["wall"] for p in points])
    if len(points) < 2:
        return float(cpu[0]) if len(cpu) else float("nan"), float("nan")
    b, a = np.polyfit(n, cpu, 1)
    return float(a), float(b)


RECORD_MODES = ("off", "record", "declined")


def report_recording(results: dict) -> None:
    """--record: a room's CPU with recording off, on, and on with a declined voice, windows in turn."""
    print("\nRecording (13 speakers, 3 probe listeners; windows alternate off / record / declined):")
    print(f"{'mode':>9} {'process cpu% (median of windows)':>40} {'tick CPU µs':>12} {'recording µs/tick':>18}")
    base_cpu = base_tick = 0.0
    for mode in RECORD_MODES:
        windows = results["recording"][mode]
        cpus = [w["cpu"] / w["wall"] * 100 for w in windows]
        tick = float(np.median([w["tick_cpu_ms_mean"] for w in windows])) * 1000
        tap = float(np.median([w["tap_cpu_us_per_tick"] for w in windows]))
        cpu = float(np.median(cpus))
        if mode == "off":
            base_cpu, base_tick = cpu, tick
        shown = f"{cpu:.2f} ({' '.join(f'{c:.1f}' for c in cpus)})"
        print(f"{mode:>9} {shown:>40} {tick:>12.1f} {tap:>18.2f}   = {tap * 50 / 1e4:.3f}% of a core")
    print(
        f"  process CPU and tick CPU move with the machine's other load; the last column is the recording's own "
        f"CPU (media.recorder.RoomTap.tick), per 20 ms tick, and what 50 ticks a second cost. Base: {base_cpu:.2f}% "
        f"of a core, {base_tick:.0f} µs a tick, in the same run."
    )


def report(results: dict) -> None:
    packets_per_second = 50.0
    print("\nEngine (shared Opus packets, RTP+SRTP+sendto loop):")
    print(f"{'N':>6} {'cpu%':>6} {'delivered':>10} {'gaps':>6} {'silent':>6} {'tick p50 ms wall/cpu':>20} "
          f"{'pacing p99 ms srv/cli':>22} {'latency p50/p95 ms':>19} {'server p50/p95':>14} "
          f"{'join ms cpu gross/net':>21} {'join MB':>8}")  # fmt: skip
    all_latency: list[float] = []
    all_mixer: list[float] = []
    joins_cpu, joins_net, joins_mem = [], [], []
    previous_rate = None
    for p in results["engine"]:
        s = p["server"]
        delivered = p["received"] / p["expected"] if p["expected"] else float("nan")
        lat = p["latency_ms"]
        all_latency += lat
        mixer = p["mixer_latency_ms"]
        all_mixer += mixer
        j = p["join"]
        rate = s["cpu"] / s["wall"]
        join_ms = join_net = join_mb = float("nan")
        if j["new"] > 0:
            cpu = j["after"]["cpu"] - j["before"]["cpu"]
            join_ms = cpu / j["new"] * 1000
            # Net: without the fan-out that kept running for the listeners already in the room while
            # the new ones joined (the room's CPU rate, taken halfway between the two windows).
            running = (rate + (previous_rate if previous_rate is not None else rate)) / 2
            join_net = (cpu - running * (j["after"]["wall"] - j["before"]["wall"])) / j["new"] * 1000
            join_mb = (j["after"]["rss"] - j["before"]["rss"]) / j["new"] / 2**20
            joins_cpu.append(join_ms)
            joins_net.append(join_net)
            joins_mem.append(join_mb)
        previous_rate = rate
        print(
            f"{p['n']:>6} {s['cpu'] / s['wall'] * 100:>6.1f} {delivered:>10.4f} {p['gaps']:>6} "
            f"{p['silent_listeners']:>6} {s['tick_ms_p50']:>11.2f} / {s['tick_cpu_ms_p50']:>6.2f} "
            f"{s['pacing_p99_ms']:>10.2f} / {p['client_pacing_p99_ms']:>9.2f} "
            f"{percentile(lat, 50):>9.1f} / {percentile(lat, 95):>7.1f} "
            f"{percentile(mixer, 50):>6.1f} / {percentile(mixer, 95):>5.1f} {join_ms:>11.2f} / {join_net:>7.2f} "
            f"{join_mb:>8.3f}"
        )
    a, b = fit(results["engine"])
    per_packet_us = b / packets_per_second * 1e6
    per_core = (0.70 - a) / b if b > 0 else float("inf")
    print("\nStock aiortc (an encoder per RTCRtpSender, frames relayed):")
    for p in results["stock"]:
        s = p["server"]
        delivered = p["received"] / p["expected"] if p["expected"] else float("nan")
        print(f"{p['n']:>6} {s['cpu'] / s['wall'] * 100:>6.1f} {delivered:>10.4f} {p['gaps']:>6}")
    stock_a, stock_b = fit(results["stock"]) if len(results["stock"]) > 1 else (float("nan"), float("nan"))
    stock_us = stock_b / packets_per_second * 1e6
    print("\nSummary")
    print(f"  µs per listener-packet (b)          {per_packet_us:8.2f}   (stock aiortc: {stock_us:.1f}, "
          f"{stock_us / per_packet_us:.0f}x)")  # fmt: skip
    tick_points = [(p["n"], p["server"]["tick_cpu_ms_p50"]) for p in results["engine"]]
    if len(tick_points) > 1:
        tick_b, tick_a = np.polyfit(*zip(*tick_points, strict=True), 1)
        print(f"    of which in the tick (fan-out)    {tick_b * 1000:8.2f}   (tick CPU at N=0: {tick_a:.2f} ms)")
    print(f"  listeners per core at 70% CPU       {per_core:8.0f}   (stock: {(0.7 - stock_a) / stock_b:.0f})")
    print(f"  room fixed cost (a)                 {a * 100:8.2f} % of a core (13 speakers)")
    print(
        f"  added latency p50 / p95             {percentile(all_latency, 50):8.1f} / "
        f"{percentile(all_latency, 95):.1f} ms ({len(all_latency)} bursts, speaker to listener)"
    )
    print(f"  through the server p50 / p95        {percentile(all_mixer, 50):8.1f} / "
          f"{percentile(all_mixer, 95):.1f} ms ({len(all_mixer)} bursts, speaker to server send)")  # fmt: skip
    print(f"  join CPU per listener (median)      {np.median(joins_cpu) if joins_cpu else float('nan'):8.2f} ms "
          f"({np.median(joins_net) if joins_net else float('nan'):.2f} ms net of the running fan-out)")  # fmt: skip
    print(f"  memory per listener (median)        {np.median(joins_mem) if joins_mem else float('nan'):8.3f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="0,50,200,500,1000")
    parser.add_argument("--stock-sweep", default="0,10,20,40")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--profile", help="cProfile the server during measurement windows into this file")
    parser.add_argument("--record", action="store_true", help="also measure what recording the room costs")
    args = parser.parse_args()
    if args.client:
        asyncio.run(run_client(args))
        return
    results = asyncio.run(run_server(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results)
    if "recording" in results:
        report_recording(results)


if __name__ == "__main__":
    main()
