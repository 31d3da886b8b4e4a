"""Many small rooms on one media engine: CPU per room, gaps, pacing and latency, swept over R rooms.

    .venv/bin/python bench/many_rooms.py [--sweep 2,5,10] [--runs 3] [--window 5] [--modes baseline,engine]

This process runs the MediaEngine as `runmedia` hosts it (a fixed policy instead of the database). A second
process runs, for each of R rooms, 3 unmuted aiortc speakers and 20 aiortc listeners on loopback. The
speakers take turns: one talks for 1.7 s (a voice-like 220 Hz tone with a 4 Hz syllable rhythm), 0.3 s of
pause, then the next; a silent speaker sends what a browser sends when silent: quiet noise every 20 ms, or,
when the engine's answer offers Opus DTX (`usedtx=1`), one comfort-noise packet every 400 ms. 19 listeners
count packets and sequence gaps at the socket; the 20th decodes and notes when each turn starts, for the
speaker-to-listener latency. Modes, measured in the same run, alternately, `--runs` times:

- `baseline`: the engine as it was before issue 14 (every voice decoded, mixed and encoded each tick);
- `engine`: the engine now.

Columns: CPU of the engine process (median and min–max over the runs), per room, sequence gaps seen by the
listeners, `late` (times the 20 ms clock fell 100 ms behind and skipped ticks), listeners that got nothing,
packets per second per listener, tick pacing p99 and the talk-onset latency, speaker to listener.

The last line is `rooms per core at 70% CPU: N` for the engine now (the largest R whose clock kept up, median
of runs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from aiortc.rtcdtlstransport import RTCCertificate  # noqa: E402
from audio_load import (  # noqa: E402
    FRAME,
    RATE,
    TIME_BASE,
    LightListener,
    Rpc,
    count_rtp_at_socket,
    ignore_rtp,
    percentile,
)

from media import room as room_module  # noqa: E402
from media.engine import MediaEngine  # noqa: E402
from media.limits import PeerCaps, PeerLimits  # noqa: E402
from media.mixer import OpusEncoder  # noqa: E402

SPEAKERS, LISTENERS = 3, 20
TURN, TALK = 100, 85  # frames: a turn is 2 s, of which 1.7 s talking
DTX_EVERY = 20  # a silent DTX sender's comfort-noise update, every 400 ms


def user_id(room: int, k: int) -> int:
    return room * 100 + k + 1


class BenchPolicy:
    async def entry_refusal(self, space_id, user_id):
        return None

    async def publisher_user_ids(self, space_id):
        return {user_id(space_id, k) for k in range(SPEAKERS)}

    async def audible_user_ids(self, space_id):
        return {user_id(space_id, k) for k in range(SPEAKERS)}

    async def demo_voice_user_id(self, space_id):
        return None


class Server:
    def __init__(self, profile: cProfile.Profile | None = None) -> None:
        self.engine: MediaEngine | None = None
        self.profile = profile  # --profile: the engine's CPU during the measurement windows
        self.starts: dict[int, list[float]] | None = None
        original = room_module.Room.tick

        def tick(room):  # pacing: when each room's tick starts
            if self.starts is not None:
                self.starts.setdefault(room.space_id, []).append(time.perf_counter())
            return original(room)

        room_module.Room.tick = tick

    async def reset(self, mode: str) -> dict:
        if self.engine is not None:
            await self.engine.close()
        caps = PeerCaps(per_user=0, per_ip=0, per_worker=0, cpu_budget=0)  # measure, never refuse
        self.engine = MediaEngine(BenchPolicy(), limits=PeerLimits(caps))
        if hasattr(self.engine, "legacy"):
            self.engine.legacy = mode == "baseline"
        return {}

    async def negotiate(self, space_id: int, user_id: int | None, sdp: str) -> dict:
        return await self.engine.negotiate(space_id, user_id, sdp, "offer")

    async def measure(self, seconds: float) -> dict:
        self.starts = {}
        overruns = self.engine.tick_overruns
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if self.profile is not None:
            self.profile.enable()
        await asyncio.sleep(seconds)
        if self.profile is not None:
            self.profile.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        starts, self.starts = self.starts, None
        jitter = [abs(d - 0.02) * 1000 for s in starts.values() for d in np.diff(s)]
        late = self.engine.tick_overruns - overruns
        return {"cpu": cpu / wall, "pacing_p99_ms": percentile(jitter, 99), "overruns": late}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def dispatch(msg: dict) -> None:
            result = await getattr(self, msg["method"])(**msg["params"])
            writer.write((json.dumps({"id": msg["id"], "result": result}) + "\n").encode())

        while line := await reader.readline():
            asyncio.ensure_future(dispatch(json.loads(line)))


# -- load generator (second process) ---------------------------------------------------------------------


def packets() -> tuple[list[bytes], list[bytes]]:
    """A turn of talk and a turn of quiet noise, pre-encoded once."""
    encoder, rng = OpusEncoder(), np.random.default_rng(1)
    talk, quiet = [], []
    for i in range(TURN):
        t = (np.arange(FRAME) + i * FRAME) / RATE
        voice = np.sin(2 * np.pi * 220 * t) * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) * 9000
        talk.append(encoder.encode(voice.astype(np.int16)) or b"\xf8\xff\xfe")
    for _ in range(TURN):
        quiet.append(encoder.encode(rng.integers(-20, 20, FRAME).astype(np.int16)) or b"\xf8\xff\xfe")
    return talk, quiet


class TurnTrack(MediaStreamTrack):
    """Speaker k of a room: talks in its turn, otherwise sends what a browser sends when silent."""

    kind = "audio"

    def __init__(self, k: int, epoch: float, talk: list[bytes], quiet: list[bytes], turns: list[float]) -> None:
        super().__init__()
        self.k, self.epoch, self.talk, self.quiet, self.turns = k, epoch, talk, quiet, turns
        self.dtx = False
        self.start: float | None = None
        self.frame = self.pts = 0

    def _talking(self, frame: int) -> bool:
        position = frame % (TURN * SPEAKERS)
        return position // TURN == self.k and position % TURN < TALK

    async def recv(self) -> av.Packet:
        if self.start is None:  # the room's speakers share one clock (its epoch), so turns never overlap
            self.start = time.monotonic()
            self.frame = int((self.start - self.epoch) / 0.02)
        while True:
            wait = self.start + self.pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            frame, self.frame, self.pts = self.frame, self.frame + 1, self.pts + FRAME
            if self._talking(frame):
                if not self._talking(frame - 1):
                    self.turns.append(time.monotonic())
                payload = self.talk[frame % TURN]
            elif self.dtx and frame % DTX_EVERY:
                continue  # DTX: nothing on the wire between comfort-noise updates
            else:
                payload = self.quiet[frame % TURN]
            packet = av.Packet(payload)
            packet.pts, packet.time_base = self.pts - FRAME, TIME_BASE
            return packet


class TurnProbe:
    """Decodes one listener's stream and notes when talk starts after a pause."""

    def __init__(self) -> None:
        self.decoder = av.CodecContext.create("libopus", "r")
        self.decoder.format, self.decoder.layout, self.decoder.sample_rate = "s16", "mono", RATE
        self.onsets: list[float] = []
        self.loud_at = 0.0

    async def handle_rtp(self, packet, arrival_time_ms: int = 0) -> None:
        now = time.monotonic()
        for frame in self.decoder.decode(av.Packet(packet.payload)):
            pcm = frame.to_ndarray().astype(np.float32)
            level = float(np.sqrt(np.mean(pcm * pcm)))
            if level > 1500:  # loud after 150 ms without a loud frame (quiet, or no packets at all: DTX)
                if now - self.loud_at > 0.15:
                    self.onsets.append(now)
                self.loud_at = now


class LoadGenerator:
    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc
        self.certificate = RTCCertificate.generateCertificate()
        self.talk, self.quiet = packets()
        self.pcs: list[RTCPeerConnection] = []
        self.listeners: list[LightListener] = []
        self.probes: list[tuple[TurnProbe, list[float]]] = []
        self.rooms = 0

    async def connect(self, space_id: int, uid: int | None, pc: RTCPeerConnection) -> str:
        pc._RTCPeerConnection__certificates = [self.certificate]
        self.pcs.append(pc)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.rpc.call("negotiate", space_id=space_id, user_id=uid, sdp=pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        for _ in range(500):
            if pc.connectionState == "connected":
                return answer["sdp"]
            await asyncio.sleep(0.02)
        raise RuntimeError(f"peer did not connect: {pc.connectionState}")

    async def add_room(self, space_id: int) -> None:
        turns: list[float] = []
        epoch = time.monotonic() - float(np.random.default_rng(space_id).uniform(0, 0.02 * TURN * SPEAKERS))
        for k in range(SPEAKERS):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            track = TurnTrack(k, epoch, self.talk, self.quiet, turns)
            pc.addTrack(track)
            answer = await self.connect(space_id, user_id(space_id, k), pc)
            track.dtx = "usedtx=1" in answer
            pc.getTransceivers()[0].receiver._handle_rtp_packet = ignore_rtp
        semaphore = asyncio.Semaphore(8)

        async def listener(probe: bool) -> None:
            async with semaphore:
                pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
                pc.addTransceiver("audio", direction="recvonly")
                receiver = pc.getTransceivers()[0].receiver
                if probe:
                    turn_probe = TurnProbe()
                    receiver._handle_rtp_packet = turn_probe.handle_rtp
                    await self.connect(space_id, None, pc)
                    self.probes.append((turn_probe, turns))
                    return
                receiver._handle_rtp_packet = ignore_rtp
                counter = LightListener(sample_arrivals=False)
                await self.connect(space_id, None, pc)
                count_rtp_at_socket(receiver, counter)
                self.listeners.append(counter)

        await asyncio.gather(*(listener(i == LISTENERS - 1) for i in range(LISTENERS)))

    async def window(self, seconds: float) -> dict:
        for counter in self.listeners:
            counter.reset()
            counter.counting = True
        marks = [len(probe.onsets) for probe, _ in self.probes]
        server = await self.rpc.call("measure", seconds=seconds)
        for counter in self.listeners:
            counter.counting = False
        latencies = []
        for (probe, turns), mark in zip(self.probes, marks, strict=True):
            for onset in probe.onsets[mark:]:
                earlier = [t for t in turns if t <= onset]
                if earlier and onset - earlier[-1] < 0.3:
                    latencies.append((onset - earlier[-1]) * 1000)
        return {
            **server,
            "packets": sum(c.count for c in self.listeners) / seconds / max(len(self.listeners), 1),
            "gaps": sum(c.gaps for c in self.listeners),
            "silent": sum(1 for c in self.listeners if c.first_seq is None),
            "latency_ms": latencies,
        }

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()
        self.pcs, self.listeners, self.probes = [], [], []


async def run_client(args: argparse.Namespace) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", args.client)
    rpc = Rpc(reader, writer)
    sweep = [int(x) for x in args.sweep.split(",")]
    results: list[dict] = []
    for run in range(args.runs):
        for mode in args.modes.split(","):
            await rpc.call("reset", mode=mode)
            load = LoadGenerator(rpc)
            for rooms in sweep:
                for space_id in range(load.rooms + 1, rooms + 1):
                    await load.add_room(space_id)
                load.rooms = rooms
                await asyncio.sleep(1.0)  # let the joins settle
                point = await load.window(args.window)
                results.append({"run": run, "mode": mode, "rooms": rooms, **point})
                print(json.dumps({k: v for k, v in results[-1].items() if k != "latency_ms"}), file=sys.stderr)
            await load.close()
    print(json.dumps(results))


async def run_server(args: argparse.Namespace) -> list[dict]:
    server = Server(cProfile.Profile() if args.profile else None)
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", str(port), "--sweep", args.sweep, "--runs", str(args.runs),
        "--window", str(args.window), "--modes", args.modes, stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await client.communicate()
    if server.engine is not None:
        await server.engine.close()
    tcp.close()
    if server.profile is not None:
        server.profile.dump_stats(args.profile)
    return json.loads(out.decode().strip().splitlines()[-1])


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """median (min–max) over the runs"""
    return f"{fmt.format(np.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def report(results: list[dict], modes: list[str]) -> None:
    print(f"\n{'mode':>9} {'R':>4} {'CPU % of a core':>22} {'CPU %/room':>20} {'gaps':>5} {'late':>5} {'silent':>6} "
          f"{'pkt/s/listener':>15} {'pacing p99 ms':>20} {'latency p50/p95 ms':>19}")  # fmt: skip
    per_room: dict[str, list[float]] = {}
    kept_up: dict[str, int] = {}
    for rooms in sorted({r["rooms"] for r in results}):
        for mode in modes:
            points = [r for r in results if r["mode"] == mode and r["rooms"] == rooms]
            cpu = [p["cpu"] * 100 for p in points]
            each = [c / rooms for c in cpu]
            # The largest R at which the clock kept up (no late tick in most runs) gives the per-room figure:
            # past it the process is starved and its CPU per room means nothing.
            if mode not in per_room or np.median([p["overruns"] for p in points]) == 0:
                per_room[mode], kept_up[mode] = each, rooms
            lat = [x for p in points for x in p["latency_ms"]]
            print(f"{mode:>9} {rooms:>4} {spread(cpu, '{:.1f}'):>22} {spread(each):>20} "
                  f"{sum(p['gaps'] for p in points):>5} {sum(p['overruns'] for p in points):>5} "
                  f"{sum(p['silent'] for p in points):>6} "
                  f"{np.median([p['packets'] for p in points]):>15.1f} "
                  f"{spread([p['pacing_p99_ms'] for p in points]):>20} "
                  f"{percentile(lat, 50):>9.1f} / {percentile(lat, 95):>6.1f}")  # fmt: skip
    print("\nAt the largest R that kept up (median of runs; spread min–max):")
    for mode in modes:
        each = per_room[mode]
        low, high = 70 / max(each), 70 / min(each)
        print(f"  {mode:>9} (R={kept_up[mode]}): {np.median(each):.2f}% of a core per room "
              f"({min(each):.2f}–{max(each):.2f}), "
              f"{70 / np.median(each):.0f} rooms per core at 70% ({low:.0f}–{high:.0f})")  # fmt: skip
    if "baseline" in per_room and modes[-1] != "baseline":
        for rooms in sorted({r["rooms"] for r in results}):
            cpu = {m: np.median([r["cpu"] for r in results if r["mode"] == m and r["rooms"] == rooms]) for m in modes}
            print(f"  R={rooms}: {modes[-1]} uses {cpu['baseline'] / cpu[modes[-1]]:.2f}x less CPU than the baseline")
    print(f"rooms per core at 70% CPU: {70 / np.median(per_room[modes[-1]]):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="2,5,10")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--modes", default="baseline,engine")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--report", help="print the report of raw results written earlier with --json")
    parser.add_argument("--profile", help="cProfile the engine during the measurement windows into this file")
    args = parser.parse_args()
    if args.client:
        asyncio.run(run_client(args))
        return
    if args.report:
        report(json.loads(Path(args.report).read_text()), args.modes.split(","))
        return
    results = asyncio.run(run_server(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results, args.modes.split(","))


if __name__ == "__main__":
    main()
