"""The demo Space's voice: a short recorded clip that the media engine loops as one speaker's audio.

`manage.py demo` marks its live Space with `Space.demo_voice` (a speaker on its stage). When the engine
hosts that room it adds a bot participant speaking as that user: its frames come from the clip, not from
a peer connection, and are mixed like any speaker's (heard only while that user is audible, speaking
rings included). A real peer of the same user on stage silences the bot. No other Space has it: the
field is set by the demo command (or by staff in the admin) only.

The clip is speech from espeak-ng, encoded once to Ogg Opus and committed (media/assets/demo_voice.ogg);
`python -m media.demo_voice` makes it again.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender

from .room import Peer
from .speaker import FRAME_SAMPLES, SAMPLE_RATE, SpeakerInput

CLIP = Path(__file__).resolve().parent / "assets" / "demo_voice.ogg"
TEXT = (
    "Hello, and welcome to the demo Space. "
    "Ada thought the engine might compose elaborate pieces of music, of any degree of complexity. "
    "Could a machine be creative, or does it only do what we know how to order it to perform? "
    "Request to speak and tell us what you think."
)
PAUSE_SECONDS = 0.6  # between two plays of the clip
BITRATE = 32_000
BOT_PEER_ID = -1  # never a real peer's id (those count up from 1)


def make_clip(path: Path = CLIP, text: str = TEXT) -> Path:
    """Speak `text` with espeak-ng and encode it as 48 kHz mono Ogg Opus at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
        with av.open(str(wav)) as source, av.open(str(path), "w", format="ogg") as target:
            stream = target.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
            stream.bit_rate = BITRATE
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in source.decode(audio=0):
                for resampled in resampler.resample(frame):
                    for packet in stream.encode(resampled):
                        target.mux(packet)
            for resampled in resampler.resample(None):
                for packet in stream.encode(resampled):
                    target.mux(packet)
            for packet in stream.encode(None):
                target.mux(packet)
    return path


@functools.cache
def load_clip(path: Path = CLIP) -> np.ndarray:
    """The clip as 48 kHz mono int16, followed by a short pause, ready to loop (decoded once per process)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    parts: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
    parts.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
    pcm = np.concatenate(parts).astype(np.int16)
    pause = int(PAUSE_SECONDS * SAMPLE_RATE)
    pad = -(pcm.size + pause) % FRAME_SAMPLES
    return np.concatenate((pcm, np.zeros(pause + pad, np.int16)))


class LoopedVoice(SpeakerInput):
    """A SpeakerInput whose 20 ms frames come from a clip, round and round, instead of a socket."""

    def __init__(self, clip: np.ndarray) -> None:
        super().__init__()
        self.clip = clip
        self.position = 0

    def pull(self) -> np.ndarray | None:
        if not self.accepting:
            return None
        frame = self.clip[self.position : self.position + FRAME_SAMPLES]
        self.position = (self.position + FRAME_SAMPLES) % self.clip.size
        self.decoded += 1
        return frame


def bot_peer(user_id: int, clip: np.ndarray | None = None) -> Peer:
    """A participant with no connection: it only speaks, as `user_id`, into its room's mix."""
    peer = Peer(BOT_PEER_ID, user_id, cast(RTCPeerConnection, None), cast(RTCRtpSender, None), 0)
    peer.speaker = LoopedVoice(load_clip() if clip is None else clip)
    return peer


if __name__ == "__main__":
    made = make_clip(Path(sys.argv[1]) if len(sys.argv) > 1 else CLIP)
    print(f"{made}: {made.stat().st_size} bytes, {load_clip(made).size / SAMPLE_RATE:.1f} s")
