"""docs/protocol.md's reference tables, written from the specs (`manage.py protocol_doc --write`).

The tables sit between `<!-- reference:NAME -->` and `<!-- /reference:NAME -->` markers; a test fails
when the document and the specs disagree, so neither can change without the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import msgspec.inspect as mi

from . import limits
from .actions import ACTIONS
from .events import EVENTS, CloseSockets, Delta

MARKER = re.compile(r"(<!-- reference:(\w+) -->\n)(.*?)(<!-- /reference:\2 -->)", re.S)


def _type(info: mi.Type) -> str:
    """A field's type in words, with its limits."""
    if isinstance(info, mi.Metadata):
        described = (info.extra_json_schema or {}).get("description")
        return described or _type(info.type)
    if isinstance(info, mi.UnionType):
        kinds = [_type(t) for t in info.types if not isinstance(t, mi.NoneType)]
        nullable = any(isinstance(t, mi.NoneType) for t in info.types)
        return " or ".join(kinds) + (" or null" if nullable else "")
    if isinstance(info, mi.StrType):
        bounds = f" (at most {info.max_length})" if info.max_length else ""
        return "string" + bounds
    if isinstance(info, mi.LiteralType):
        return " \\| ".join(f"`{value}`" for value in info.values)
    if isinstance(info, mi.BoolType):
        return "boolean"
    if isinstance(info, mi.IntType):
        return "integer"
    if isinstance(info, mi.FloatType):
        return "number"
    if isinstance(info, mi.ListType):
        return f"list of {_type(info.item_type)}"
    if isinstance(info, mi.DictType):
        return f"object of {_type(info.value_type)}"
    if isinstance(info, mi.StructType):
        return f"`{info.cls.__name__}`"
    return type(info).__name__.removesuffix("Type").lower()


def _fields(cls: type) -> list[mi.Field]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return [field for field in info.fields if field.name != "seq"]


def actions_table() -> str:
    rows = ["| action | arguments | who | effect |", "|---|---|---|---|"]
    for name, cls in ACTIONS.items():
        arguments = ", ".join(f"`{f.name}`{'' if f.required else ' (optional)'}: {_type(f.type)}" for f in _fields(cls))
        rows.append(f"| `{name}` | {arguments or '–'} | {cls.who} | {cls.effect} |")
    return "\n".join(rows) + "\n"


def events_table() -> str:
    rows = ["| event | kind | fields (after `event`, `seq`) | who receives it | then |", "|---|---|---|---|---|"]
    for name, cls in EVENTS.items():
        fields = ", ".join(f"`{f.name}`" for f in _fields(cls))
        if issubclass(cls, Delta):
            kind, who, then = "delta", _audience(cls), _effects(cls)
        else:
            kind, who, then = "not a delta", _who(name), "–"
        rows.append(f"| `{name}` | {kind} | {fields or '–'} | {who} | {then} |")
    return "\n".join(rows) + "\n"


def _sample(cls: type[Delta]) -> Delta:
    """An instance with placeholder values, to ask it what it does."""
    values = {}
    for field in _fields(cls):
        if not field.required:
            continue
        kind = field.type.type if isinstance(field.type, mi.Metadata) else field.type
        if isinstance(kind, mi.LiteralType):
            values[field.name] = kind.values[0]
        elif isinstance(kind, mi.IntType):
            values[field.name] = 1
        elif isinstance(kind, mi.BoolType):
            values[field.name] = False
        else:
            values[field.name] = "x"
    return msgspec.convert(values, cls)


def _audience(cls: type[Delta]) -> str:
    if cls.__name__ == "Noop":
        return "those a private delta is not for, in its place"
    audience = _sample(cls).audience()
    if audience is None:
        return "everyone in the room"
    return "the host, co-hosts and the person concerned; everyone else gets `noop` with the same `seq`"


def _effects(cls: type[Delta]) -> str:
    sample = _sample(cls)
    words = []
    for effect in sample.socket_effects():
        if isinstance(effect, CloseSockets):
            whose = "every socket closes" if effect.user_id is None else "that user's sockets close"
            words.append(f"{whose} with {effect.code}")
        else:
            words.append("a fresh `snapshot` to that user when they become or stop being host/co-host")
    media = {
        "refresh": "audio: who may be heard is read again",
        "remove_user": "audio: that user's connections close",
        "end_room": "audio: every connection closes",
    }.get(sample.media_effect() or "")
    if media:
        words.append(media)
    return "; ".join(words) or "–"


def _who(name: str) -> str:
    return {
        "snapshot": "you, on connect, on `snapshot`, and when your own role crosses host/co-host",
        "presence": "everyone, at most once a second when the count or names changed",
        "reactions": "everyone, coalesced per 100 ms",
        "speaking": "everyone, about five times a second while someone speaks",
        "error": "you, for a refused action or frame",
        "webrtc_answer": "you, for your `webrtc_offer`",
    }.get(name, "–")


def limits_table() -> str:
    from django.conf import settings  # the defaults, as the settings read them

    window = f"{limits.RATE_WINDOW:g} s"
    rows = [
        "| limit | value |",
        "|---|---|",
        f"| a client frame | {limits.MAX_FRAME // 1024} KiB (larger: `error`, then close {limits.CLOSE_TOO_BIG}) |",
        f"| brackets deep in a frame | {limits.MAX_NESTING} (no action nests) |",
        f"| an SDP offer | {limits.MAX_SDP // 1024} KiB |",
        f"| messages a socket may send | {limits.RATE_LIMIT} per {window} |",
        f"| messages a user may send over all their sockets (anonymous: per address); opening a socket counts "
        f"as one | {settings.SPACES_MESSAGES_PER_USER} per {window} (`SPACES_MESSAGES_PER_USER`); the HTTP fallback "
        f"counts the same number apart (429) |",
        f"| open sockets per account, per server process | {settings.SPACES_MAX_SOCKETS_PER_USER} "
        f"(`SPACES_MAX_SOCKETS_PER_USER`; more: `error`, then close {limits.CLOSE_TOO_MANY}) |",
        f"| anonymous sockets per network address, per server process | {settings.SPACES_MAX_SOCKETS_PER_IP} "
        f"(`SPACES_MAX_SOCKETS_PER_IP`; more: `error`, then close {limits.CLOSE_TOO_MANY}) |",
        f"| bytes waiting for a client that doesn't read | {settings.SPACES_MAX_SEND_BUFFER_KB} KiB "
        f"(`SPACES_MAX_SEND_BUFFER_KB`; more: the server drops the connection) |",
        f"| reactions | {limits.REACTION_BURST} per {limits.REACTION_WINDOW} s per user |",
        f"| requests in a snapshot | the {limits.MAX_REQUESTS_IN_SNAPSHOT} oldest |",
        f"| names in a `presence` | {limits.MAX_NAMES_IN_PRESENCE} joined, {limits.MAX_NAMES_IN_PRESENCE} left |",
        f"| reactions available | {' '.join(limits.REACTIONS)} |",
        f"| a chat message | 1 to {limits.MAX_CHAT_TEXT} characters after trimming, no control characters |",
        f"| chat messages a person may send to one room, over all sockets and processes | "
        f"{settings.SPACES_CHAT_MESSAGES_PER_WINDOW} per {settings.SPACES_CHAT_WINDOW_SECONDS} s "
        f"(`SPACES_CHAT_MESSAGES_PER_WINDOW`, `SPACES_CHAT_WINDOW_SECONDS`) |",
        f"| chat messages in a snapshot | the {limits.CHAT_IN_SNAPSHOT} latest (older: `GET .../room/chat/`) |",
        f"| slow mode | 0 to {limits.MAX_SLOW_SECONDS} s |",
        f"| a pinned link | {limits.MAX_URL} characters, `http` or `https`; its title {limits.MAX_PIN_TITLE} |",
    ]
    return "\n".join(rows) + "\n"


TABLES = {"actions": actions_table, "events": events_table, "limits": limits_table}


def render(document: str) -> str:
    """The document with every reference table written afresh from the specs."""

    def fill(match: re.Match) -> str:
        return match.group(1) + TABLES[match.group(2)]() + match.group(4)

    return MARKER.sub(fill, document)


def protocol_doc_path() -> Path:
    from django.conf import settings

    return Path(settings.BASE_DIR) / "docs" / "protocol.md"
