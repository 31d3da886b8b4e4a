"""What a media engine and the recordings app hand each other: a room's recording plan, and the chunks of
audio a worker ships. Plain data, with no Django import, so the engine (and bench/) can use it anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    """What an engine records of a room now: whether to, and whose voices to leave out of the recording."""

    recording_id: int
    on: bool
    declined: frozenset[int] = frozenset()


@dataclass
class ChunkData:
    """A few seconds of a segment: whole Ogg pages (the first chunk starts with the stream's headers)."""

    index: int
    data: bytes
    first_packet: int  # within the segment; a packet is 20 ms
    packets: int
    speakers: list[list[int]] = field(default_factory=list)  # [user_id, first packet, last packet]
    reactions: list[list] = field(default_factory=list)  # [packet, emoji]
