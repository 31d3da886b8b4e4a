"""Server -> client: every event, and what a delta tells the hub and the media engine to do."""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from .limits import CLOSE_REFUSED, CLOSE_SPACE_ENDED, MODERATOR_ROLES, Role

# --- Events (server -> client) --------------------------------------------------------------------------


class Person(msgspec.Struct, kw_only=True):
    """Someone on stage (or asking to be), as every event names them."""

    user: str
    user_id: int
    name: str
    initials: str
    hue: int
    role: Role
    is_muted: bool
    record_voice: bool = True  # False: "don't record my voice" (heard live, left out of the recording)


class Request(Person, kw_only=True):
    requested_at: str


class Invite(Person, kw_only=True):
    invited_at: str


class Event(msgspec.Struct, tag_field="event", kw_only=True):
    """Every message the server sends carries `event` and `seq` first."""

    delta: ClassVar[bool] = False
    seq: int = 0


class Audience(msgspec.Struct, frozen=True):
    """Who may read a private delta: moderators (host, co-hosts) and these users. The others get `noop`."""

    moderators: bool
    user_ids: tuple[int, ...] = ()


# What the hub does with its sockets once it has written a delta.
class CloseSockets(msgspec.Struct, tag="close", frozen=True):
    """Close these users' sockets (every socket of the room when user_id is None) with `code`."""

    code: int
    user_id: int | None = None


class RoleSet(msgspec.Struct, tag="role", frozen=True):
    """This user's role changed: the hub marks their sockets (moderator or not) and, when that changed,
    sends them a fresh snapshot (requests and invites appear or disappear)."""

    user_id: int
    is_moderator: bool


SocketEffect = CloseSockets | RoleSet


# What the media engine does: read who may be heard again, drop a user's peers, or free the room.
MediaEffect = Literal["refresh", "remove_user", "end_room"]


class Delta(Event, kw_only=True):
    """A change to the room's state: numbered per Space, in commit order, sent after commit."""

    delta = True

    def audience(self) -> Audience | None:
        return None  # everyone

    def socket_effects(self) -> tuple[SocketEffect, ...]:
        return ()

    def media_effect(self) -> MediaEffect | None:
        return None


class PersonDelta(Delta, kw_only=True):
    """A delta about someone on stage or asking to be: the Person fields, flat, after `seq`."""

    user: str
    user_id: int
    name: str
    initials: str
    hue: int
    role: Role
    is_muted: bool
    record_voice: bool = True


class RoleChanged(PersonDelta, tag="role_changed", kw_only=True):
    previous_role: Role

    def socket_effects(self) -> tuple[SocketEffect, ...]:
        return (RoleSet(self.user_id, self.role in MODERATOR_ROLES),)

    def media_effect(self) -> MediaEffect:
        return "refresh"


class SpeakerMuted(Delta, tag="speaker_muted", kw_only=True):
    user: str
    user_id: int
    is_muted: bool = True
    by: str

    def media_effect(self) -> MediaEffect:
        return "refresh"


class SpeakerUnmuted(Delta, tag="speaker_unmuted", kw_only=True):
    user: str
    user_id: int
    is_muted: bool = False

    def media_effect(self) -> MediaEffect:
        return "refresh"


class RequestAdded(PersonDelta, tag="request_added", kw_only=True):
    requested_at: str
    position: int  # the requester's place in the queue (1 = the oldest request): live/queue.py

    def audience(self) -> Audience:
        return Audience(True, (self.user_id,))


RequestEnd = Literal["cancelled", "approved", "denied"]


class RequestRemoved(Delta, tag="request_removed", kw_only=True):
    user: str
    user_id: int
    reason: RequestEnd

    def audience(self) -> Audience:
        return Audience(True, (self.user_id,))


class QueueMoved(Delta, tag="queue_moved", kw_only=True):
    """The request at `position` left the queue: every request behind it moves up one. It names nobody, so
    it goes to everyone; a requester behind it counts `me.request_position` down."""

    position: int


class InviteAdded(PersonDelta, tag="invite_added", kw_only=True):
    invited_at: str
    by: str

    def audience(self) -> Audience:
        return Audience(True, (self.user_id,))


InviteEnd = Literal["accepted", "declined"]


class InviteRemoved(Delta, tag="invite_removed", kw_only=True):
    user: str
    user_id: int
    reason: InviteEnd

    def audience(self) -> Audience:
        return Audience(True, (self.user_id,))


# Why someone left the room against their will: a host or co-host removed them (`remove`), or the server
# ejected them because they may no longer be here (the host blocked them, their ticket was refunded, their
# account was banned). Only `removed` bars them from coming back by itself.
RemovalReason = Literal["removed", "blocked", "ticket_refunded", "banned"]


class Removed(Delta, tag="removed", kw_only=True):
    user: str
    user_id: int
    previous_role: Role
    by: str  # who removed them; for an ejection, the host who blocked them, or "" (refund, ban)
    reason: RemovalReason = "removed"

    def socket_effects(self) -> tuple[SocketEffect, ...]:
        return (CloseSockets(CLOSE_REFUSED, self.user_id),)

    def media_effect(self) -> MediaEffect:
        return "remove_user"


class SpaceUpdated(Delta, tag="space_updated", kw_only=True):
    title: str
    description: str


EndReason = Literal["ended_by_host", "ended_by_staff", "max_duration", "host_banned"]


class SpaceEnded(Delta, tag="space_ended", kw_only=True):
    reason: EndReason

    def socket_effects(self) -> tuple[SocketEffect, ...]:
        return (CloseSockets(CLOSE_SPACE_ENDED),)

    def media_effect(self) -> MediaEffect:
        return "end_room"


class RecordingChanged(Delta, tag="recording_changed", kw_only=True):
    """The host started or stopped recording (live.recording.set_recording)."""

    recording: bool
    by: str

    def media_effect(self) -> MediaEffect:
        return "refresh"


class VoiceConsentChanged(Delta, tag="voice_consent_changed", kw_only=True):
    """Someone chose whether their voice may be in the recording (live.recording.record_my_voice)."""

    user: str
    user_id: int
    record_voice: bool

    def media_effect(self) -> MediaEffect:
        return "refresh"


# --- Chat (live.chat) ---------------------------------------------------------------------------------


class ChatMessageSent(Delta, tag="chat_message", kw_only=True):
    """Someone wrote in the room's chat. Clients show `text` as text, links made clickable."""

    id: int
    user: str
    user_id: int
    name: str
    hue: int
    text: str
    sent_at: str


class MessageDeleted(Delta, tag="message_deleted", kw_only=True):
    """A message was deleted (by its author, the host, a co-host or staff): it stays in the list without text."""

    id: int
    by: str


class ChatMuteChanged(Delta, tag="chat_mute_changed", kw_only=True):
    """Someone was muted (or unmuted) in the chat; private to moderators and that person."""

    user: str
    user_id: int
    muted: bool
    by: str

    def audience(self) -> Audience:
        return Audience(True, (self.user_id,))


ChatMode = Literal["everyone", "speakers", "off"]


class ChatSettingsChanged(Delta, tag="chat_settings", kw_only=True):
    mode: ChatMode
    slow_seconds: int
    by: str


class PinnedLink(msgspec.Struct, kw_only=True):
    url: str
    title: str
    domain: str  # shown beside the title, so a title can't pass for another site
    by: str
    pinned_at: str


class Pinned(Delta, tag="pinned", kw_only=True):
    """The host or a co-host pinned a link (`link`), or unpinned it (`link` null)."""

    link: PinnedLink | None = None
    by: str


class Noop(Delta, tag="noop", kw_only=True):
    """Stands in for a private delta for those who may not read it, so their numbering has no gap."""


# Not deltas: they repeat the last delta's seq and never advance it.


class SpaceInfo(msgspec.Struct, kw_only=True):
    id: int
    title: str
    description: str
    state: Literal["scheduled", "live", "ended", "cancelled"]
    host: str
    host_id: int
    started_at: str | None
    is_ticketed: bool
    recording: bool = False  # REC: the host records this Space now


class Me(msgspec.Struct, kw_only=True):
    user: str
    user_id: int
    role: Role
    is_muted: bool
    requested: bool
    invited: bool
    chat_muted: bool = False  # a host or co-host muted you in the chat
    request_position: int | None = None  # your place in the request queue (1 = next), null when not asking


class ChatLine(msgspec.Struct, kw_only=True):
    """A chat message in the snapshot: `chat_message`'s fields, and who deleted it (then `text` is "")."""

    id: int
    user: str
    user_id: int
    name: str
    hue: int
    text: str
    sent_at: str
    deleted_by: str | None = None


class ChatState(msgspec.Struct, kw_only=True):
    mode: ChatMode = "everyone"
    slow_seconds: int = 0
    messages: list[ChatLine] = []  # the latest, oldest first
    muted: list[str] = []  # handles muted in the chat, sorted; filled for the host and co-hosts only


class Limits(msgspec.Struct, kw_only=True):
    cohosts: int
    speakers: int


class RoomSnapshot(Event, tag="snapshot", kw_only=True):
    space: SpaceInfo
    me: Me | None
    speakers: list[Person]
    requests: list[Request]
    invites: list[Invite]
    listener_count: int
    limits: Limits
    reactions: list[str]
    chat: ChatState = msgspec.field(default_factory=ChatState)
    pinned: PinnedLink | None = None


class Presence(Event, tag="presence", kw_only=True):
    listener_count: int
    joined: list[str]
    left: list[str]


class ReactionCount(msgspec.Struct, kw_only=True):
    emoji: str
    count: int
    users: list[str]


class Reactions(Event, tag="reactions", kw_only=True):
    reactions: list[ReactionCount]


class Speaking(Event, tag="speaking", kw_only=True):
    levels: dict[str, float]


class Error(Event, tag="error", kw_only=True):
    action: str | None
    reason: str


class WebrtcAnswer(Event, tag="webrtc_answer", kw_only=True):
    sdp: str
    type: str = "answer"


ServerEvent = (
    RoleChanged | SpeakerMuted | SpeakerUnmuted | RequestAdded | RequestRemoved | QueueMoved | InviteAdded
    | InviteRemoved | Removed | SpaceUpdated | SpaceEnded | RecordingChanged | VoiceConsentChanged | ChatMessageSent
    | MessageDeleted | ChatMuteChanged | ChatSettingsChanged | Pinned | Noop | RoomSnapshot | Presence | Reactions
    | Speaking | Error | WebrtcAnswer
)  # fmt: skip

EVENTS: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in ServerEvent.__args__}
DELTAS: dict[str, type[Delta]] = {name: cls for name, cls in EVENTS.items() if issubclass(cls, Delta)}

_encoder = msgspec.json.Encoder()


def encode(event: Event) -> str:
    """One event's JSON text, serialised once for every socket that gets it."""
    return _encoder.encode(event).decode()
