"""The live room's wire protocol: every client action and every server event, typed.

Client frames are decoded and validated in one pass against the action specs (msgspec Structs in a
tagged union on `"action"`, live.protocol.actions); the websocket and the HTTP fallback share them
(live.protocol.decode). Server events are Structs too, tagged on `"event"`, encoded once per event
(live.protocol.events). A delta carries what the hub must do besides writing it: who may read it
(`audience`), what happens to sockets (`socket_effects`) and what the media engine must do
(`media_effect`). Nothing downstream matches on event names.

docs/protocol.md's reference section is generated from these specs (`manage.py protocol_doc`) and a
test keeps the two equal. The wire is a public interface: it changes only by adding.
"""

from . import actions, events  # noqa: E402  (the modules, for `protocol.actions.Mute` and the like)
from .actions import ACTIONS, Action, ClientAction, action_name, arguments
from .decode import BadMessage, TooBig, decode_fields, decode_frame
from .events import (
    DELTAS,
    EVENTS,
    Audience,
    ChatLine,
    ChatState,
    CloseSockets,
    Delta,
    Error,
    Event,
    Invite,
    Limits,
    Me,
    MediaEffect,
    Noop,
    Person,
    PinnedLink,
    Presence,
    ReactionCount,
    Reactions,
    Request,
    RoleSet,
    RoomSnapshot,
    SocketEffect,
    SpaceInfo,
    Speaking,
    WebrtcAnswer,
    encode,
)
from .limits import (
    CHAT_IN_SNAPSHOT,
    CLOSE_LOGGED_OUT,
    CLOSE_NOT_FOUND,
    CLOSE_REFUSED,
    CLOSE_SPACE_ENDED,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    MAX_CHAT_TEXT,
    MAX_FRAME,
    MAX_NAMES_IN_PRESENCE,
    MAX_NESTING,
    MAX_REQUESTS_IN_SNAPSHOT,
    MAX_SDP,
    MODERATOR_ROLES,
    RATE_LIMIT,
    RATE_WINDOW,
    REACTION_BURST,
    REACTION_WINDOW,
    REACTIONS,
    Role,
)

__all__ = [
    "ACTIONS", "Action", "ClientAction", "action_name", "arguments", "BadMessage", "TooBig", "decode_fields",
    "decode_frame", "DELTAS", "EVENTS", "Audience", "CloseSockets", "Delta", "Error", "Event", "Invite", "Limits",
    "Me", "MediaEffect", "Noop", "Person", "Presence", "ReactionCount", "Reactions", "Request", "RoleSet",
    "RoomSnapshot", "SocketEffect", "SpaceInfo", "Speaking", "WebrtcAnswer", "encode", "CLOSE_LOGGED_OUT",
    "CLOSE_NOT_FOUND", "CLOSE_REFUSED", "CLOSE_SPACE_ENDED", "CLOSE_TOO_BIG", "CLOSE_TOO_MANY", "MAX_FRAME",
    "MAX_NAMES_IN_PRESENCE", "MAX_NESTING", "MAX_REQUESTS_IN_SNAPSHOT", "MAX_SDP", "MODERATOR_ROLES", "RATE_LIMIT",
    "RATE_WINDOW", "REACTION_BURST", "REACTION_WINDOW", "REACTIONS", "Role", "actions", "events", "ChatLine",
    "ChatState", "PinnedLink", "CHAT_IN_SNAPSHOT", "MAX_CHAT_TEXT",
]  # fmt: skip
