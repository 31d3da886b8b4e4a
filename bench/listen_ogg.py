"""What one plain-HTTP listener of /spaces/<id>/listen.ogg costs the server, next to a WebRTC listener.

    .venv/bin/python bench/listen_ogg.py [--listeners 50] [--window 10]

Runs a real Daphne (embedded default: SQLite in a throw-away folder, the media engine in the process) with
one live Space whose host sends audio over WebRTC from this process. Then, in turn, N listeners of each
kind, also from this process: N HTTP clients reading listen.ogg, and N browsers' worth of WebRTC listeners
(a room websocket each for signalling, and an aiortc peer whose packets are counted, not decrypted). The
server's CPU (from /proc) and memory are read over a window for each, against the host alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from audio_load import PreEncodedTrack, speaker_cycle  # noqa: E402  (also keeps ICE on loopback)

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

SETUP = """
import json
from allauth.account.models import EmailAddress
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.models import User
from rooms import services
from rooms.models import Participant
host = User.objects.create_user(handle="benchhost", email="host@example.com", password="bench-password-1")
EmailAddress.objects.create(user=host, email=host.email, verified=True, primary=True)
space = services.create_space(host, title="Bench", start_now=True)
Participant.objects.filter(space=space, user=host).update(is_muted=False)
session = SessionStore()
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(host.pk), "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = host.get_session_auth_hash()
session.create()
print(json.dumps({"space": space.pk, "session": session.session_key}))
"""


def cpu_and_rss(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/statm") as statm:
        rss = int(statm.read().split()[1]) * PAGE
    return (int(fields[11]) + int(fields[12])) / TICKS, rss


async def measure(pid: int, seconds: float) -> tuple[float, int]:
    cpu0, _ = cpu_and_rss(pid)
    wall0 = time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, rss = cpu_and_rss(pid)
    return (cpu1 - cpu0) / (time.monotonic() - wall0), rss


class Room:
    def __init__(self, port: int, space_id: int) -> None:
        self.port, self.space_id = port, space_id
        self.ws_url = f"ws://127.0.0.1:{port}/ws/spaces/{space_id}/"

    async def join(self, cookie: str = ""):
        headers = {"Cookie": cookie} if cookie else {}
        socket = await websockets.connect(self.ws_url, origin="http://127.0.0.1", additional_headers=headers)
        while json.loads(await socket.recv())["event"] != "snapshot":
            pass
        return socket

    async def negotiate(self, socket, pc: RTCPeerConnection) -> None:
        await pc.setLocalDescription(await pc.createOffer())
        await socket.send(json.dumps({"action": "webrtc_offer", "sdp": pc.localDescription.sdp, "type": "offer"}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 15))
            if message["event"] == "webrtc_answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
                return
            if message["event"] == "error" and message.get("action") == "webrtc_offer":
                raise RuntimeError(message["reason"])


async def drain(socket) -> None:
    try:
        async for _ in socket:
            pass
    except websockets.ConnectionClosed:
        pass


async def http_listener(url: str, counter: list[int], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, response.status
        while not stop.is_set():
            chunk = await response.content.read(65536)
            if not chunk:
                return
            counter[0] += len(chunk)


async def webrtc_listener(room: Room, counter: list[int], pcs: list, sockets: list) -> None:
    socket = await room.join()
    sockets.append(socket)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pcs.append(pc)
    pc.addTransceiver("audio", direction="recvonly")
    await room.negotiate(socket, pc)
    asyncio.ensure_future(drain(socket))
    for _ in range(300):
        if pc.connectionState == "connected":
            break
        await asyncio.sleep(0.02)
    protocol = pc.getTransceivers()[0].receiver.transport.transport._connection._nominated[1].protocol
    original = protocol.datagram_received

    def datagram_received(data: bytes, addr, _original=original) -> None:
        if 127 < data[0] < 192 and not 192 <= data[1] <= 223:  # RTP: counted, not decrypted
            counter[0] += len(data)
        else:
            _original(data, addr)

    protocol.datagram_received = datagram_received


async def phase(args: argparse.Namespace, env: dict, arranged: dict, kind: str) -> dict:
    """A fresh Daphne, the host speaking; the server alone, then with N listeners of one kind."""
    port = args.port
    log = open(Path(env["SPACES_VAR_DIR"]) / f"daphne-{kind}.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces_site.asgi:application"]
    daphne = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    pcs: list[RTCPeerConnection] = []
    sockets: list = []
    tasks: list[asyncio.Task] = []
    received = [0]
    try:
        for _ in range(100):
            try:
                await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.2)
        room = Room(port, arranged["space"])
        host_socket = await room.join(f"sessionid={arranged['session']}")
        sockets.append(host_socket)
        host = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(host)
        host.addTrack(PreEncodedTrack(speaker_cycle(), 0, []))
        await room.negotiate(host_socket, host)
        tasks.append(asyncio.ensure_future(drain(host_socket)))
        await asyncio.sleep(3)
        base_cpu, base_rss = await measure(daphne.pid, args.window)
        if kind == "http":
            url = f"http://127.0.0.1:{port}/spaces/{arranged['space']}/listen.ogg"
            stop = asyncio.Event()
            tasks += [asyncio.ensure_future(http_listener(url, received, stop)) for _ in range(args.listeners)]
        else:
            semaphore = asyncio.Semaphore(8)

            async def one() -> None:
                async with semaphore:
                    await webrtc_listener(room, received, pcs, sockets)

            await asyncio.gather(*(one() for _ in range(args.listeners)))
        await asyncio.sleep(3)
        start = received[0]
        cpu, rss = await measure(daphne.pid, args.window)
        return {"base_cpu": base_cpu, "cpu": cpu, "memory": rss - base_rss,
                "bytes_per_s": (received[0] - start) / args.window / args.listeners}  # fmt: skip
    finally:
        for task in tasks:
            task.cancel()
        for pc in pcs:
            await pc.close()
        for socket in sockets:
            await socket.close()
        daphne.terminate()
        daphne.wait(10)
        log.close()


async def run(args: argparse.Namespace) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-listen-"))
    env = {**os.environ, "SPACES_VAR_DIR": str(folder), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
           # Every listener here comes from one address: lift the per-address caps meant for the internet.
           "SPACES_MAX_SOCKETS_PER_IP": "0", "SPACES_MESSAGES_PER_USER": "0"}  # fmt: skip
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)  # the embedded default: one process, the engine inside it
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    setup = subprocess.run([*manage, "shell", "-c", SETUP], env=env, check=True, cwd=ROOT, capture_output=True)
    arranged = json.loads(setup.stdout.decode().strip().splitlines()[-1])
    results = {"listeners": args.listeners}
    for kind in ("http", "webrtc"):
        results[kind] = await phase(args, env, arranged, kind)
    return results


def report(r: dict) -> None:
    n = r["listeners"]
    print(f"\nDaphne with the media engine in-process, one host speaking, then {n} listeners of one kind")
    print("(a fresh Daphne for each kind, so each has its own baseline and memory):")
    print(f"{'':>24} {'host alone cpu %':>16} {'with listeners':>15} {'per listener':>20} {'memory each':>12} "
          f"{'bytes/s each':>13}")  # fmt: skip
    per = {}
    for kind, label in (("http", "HTTP listen.ogg"), ("webrtc", "WebRTC (+ its socket)")):
        p = r[kind]
        per[kind] = (p["cpu"] - p["base_cpu"]) / n
        print(f"{label:>24} {p['base_cpu'] * 100:>16.1f} {p['cpu'] * 100:>15.1f} {per[kind] * 100:>11.3f}% a core "
              f"{p['memory'] / n / 1024:>8.0f} KiB {p['bytes_per_s']:>13.0f}")  # fmt: skip
    if per["webrtc"] > 0:
        print(f"  an HTTP listener costs {per['http'] / per['webrtc']:.2f}x a WebRTC listener's CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=50)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    results = run(args)
    report(asyncio.run(results))


if __name__ == "__main__":
    main()
