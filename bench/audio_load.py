"""The load generator of bench/audio_fanout.py (and bench/many_rooms.py): a second process with 13 aiortc
speakers sending pre-encoded Opus with marker bursts and N aiortc listeners on loopback, driven over a tiny
JSON-lines RPC by the benchmark, which measures its own CPU.

    .venv/bin/python bench/audio_load.py PORT --sweep 0,50 --stock-sweep 0,10 --window 5 [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import sys
import time
from pathlib import Path

import aioice.ice
import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from aiortc.rtcdtlstransport import RTCCertificate  # noqa: E402

from media.mixer import OpusEncoder  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

SPACE = 1
SPEAKERS = 13
RATE = 48000
FRAME = 960
TIME_BASE = fractions.Fraction(1, RATE)
CYCLE = 100  # frames: each speaker bursts once every 2 s, staggered 7 frames (140 ms) apart
BURST_FRAMES = 2


RECORD_MODES = ("off", "record", "declined")


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


# -- load generator --------------------------------------------------------------------------------


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


def count_rtp_at_socket(receiver, listener: LightListener) -> None:
    """Hand a connected receiver's RTP to `listener` straight from its ICE socket (RTCP, whose second byte is
    200..206, goes on to aiortc as usual), so counting costs the load generator almost nothing."""
    protocol = receiver.transport.transport._connection._nominated[1].protocol
    original = protocol.datagram_received

    def datagram_received(data: bytes, addr, _orig=original, _on=listener.on_datagram) -> None:
        if 127 < data[0] < 192 and not 192 <= data[1] <= 223:
            _on(data)
        else:
            _orig(data, addr)

    protocol.datagram_received = datagram_received


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
        count_rtp_at_socket(receiver, listener)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("client", type=int, help="the benchmark's RPC port")
    parser.add_argument("--sweep", default="0,50,200,500,1000")
    parser.add_argument("--stock-sweep", default="0,10,20,40")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--record", action="store_true")
    asyncio.run(run_client(parser.parse_args()))


if __name__ == "__main__":
    main()
