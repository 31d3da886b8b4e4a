"""Client -> server: every action the room accepts, with its arguments' types and limits."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

import msgspec

from accounts.validators import describe, first_refused_character

from .limits import (
    MAX_CHAT_TEXT,
    MAX_FRAME,
    MAX_PIN_TITLE,
    MAX_SDP,
    MAX_SLOW_SECONDS,
    MAX_URL,
    REACTION_BURST,
    REACTION_WINDOW,
)

# --- Actions (client -> server) -------------------------------------------------------------------------

Handle = Annotated[str, msgspec.Meta(pattern=r"^@?[A-Za-z0-9_]{1,15}$", description="a user's handle")]
Emoji = Annotated[str, msgspec.Meta(max_length=16, description="one of the snapshot's `reactions`")]
Sdp = Annotated[str, msgspec.Meta(max_length=MAX_SDP, description=f"an SDP offer, at most {MAX_SDP // 1024} KiB")]

ChatText = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_FRAME,  # the frame's own limit; the real one is checked after trimming
        description=f"1 to {MAX_CHAT_TEXT} characters after trimming, no control characters",
    ),
]
MessageId = Annotated[int, msgspec.Meta(ge=1, description="a chat message's `id`")]
ChatMode = Literal["everyone", "speakers", "off"]
SlowSeconds = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_SLOW_SECONDS, description=f"seconds, 0 (off) to {MAX_SLOW_SECONDS}")
]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL, description=f"an http(s) URL, at most {MAX_URL} characters")]
PinTitle = Annotated[
    str, msgspec.Meta(max_length=MAX_FRAME, description=f"at most {MAX_PIN_TITLE} characters after trimming")
]

ANYONE = "anyone"
MODERATORS = "host, co-host"


def clean_chat_text(text: str) -> str:
    """A chat message as it will be stored: trimmed, 1 to MAX_CHAT_TEXT characters, printable on one line.
    Raises ValueError with a reason fit to show (it starts with the field's name in quotes)."""
    trimmed = text.strip()
    if not trimmed:
        raise ValueError("“text” is empty: type a message first.")
    if len(trimmed) > MAX_CHAT_TEXT:
        raise ValueError(f"“text” is too long: at most {MAX_CHAT_TEXT} characters.")
    refused = first_refused_character(trimmed)
    if refused is not None:
        raise ValueError(f"“text” can't contain {describe(refused)}.")
    return trimmed


def clean_link(url: str, title: str | None) -> tuple[str, str]:
    """A pinned link: an http(s) URL with a host, and a printable title (the domain when none is given)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("“url” must be a web address starting with http:// or https://.")
    if first_refused_character(url) is not None or any(char.isspace() for char in url):
        raise ValueError("“url” can't contain spaces or invisible characters.")
    title = (title or "").strip() or parts.hostname
    if len(title) > MAX_PIN_TITLE:
        raise ValueError(f"“title” is too long: at most {MAX_PIN_TITLE} characters.")
    refused = first_refused_character(title)
    if refused is not None:
        raise ValueError(f"“title” can't contain {describe(refused)}.")
    return url, title


class Action(msgspec.Struct, tag_field="action", forbid_unknown_fields=True, frozen=True):
    """A client's request. `who` documents who may send it; live.stage checks it against the database."""

    who: ClassVar[str]
    effect: ClassVar[str]
    needs_login: ClassVar[bool] = True


class Snapshot(Action, tag="snapshot", frozen=True):
    who = ANYONE
    effect = "a fresh `snapshot` to you"
    needs_login = False


class RequestToSpeak(Action, tag="request_to_speak", frozen=True):
    who = "listener"
    effect = "`request_added` (asking twice is one request)"


class CancelRequest(Action, tag="cancel_request", frozen=True):
    who = "the requester"
    effect = "`request_removed` reason `cancelled`"


class ApproveRequest(Action, tag="approve_request", frozen=True):
    who = "host, co-host"
    effect = "`request_removed` reason `approved`, `role_changed` to `speaker` (needs a free seat)"
    user: Handle


class DenyRequest(Action, tag="deny_request", frozen=True):
    who = "host, co-host"
    effect = "`request_removed` reason `denied`"
    user: Handle


class InviteToSpeak(Action, tag="invite_to_speak", frozen=True):
    who = "host, co-host"
    effect = "`invite_added` (needs a free seat)"
    user: Handle


class AcceptInvite(Action, tag="accept_invite", frozen=True):
    who = "the invited listener"
    effect = "`invite_removed` reason `accepted`, `role_changed` to `speaker`"


class DeclineInvite(Action, tag="decline_invite", frozen=True):
    who = "the invited listener"
    effect = "`invite_removed` reason `declined`"


class MakeListener(Action, tag="make_listener", frozen=True):
    who = (
        "without `user`: any speaker or co-host, for themselves; with `user`: host and co-hosts for speakers, "
        "the host for co-hosts"
    )
    effect = "`role_changed` to `listener`"
    user: Handle | None = None


class Mute(Action, tag="mute", frozen=True):
    who = "anyone on stage for themselves; host and co-hosts for others (co-hosts can't mute the host)"
    effect = "`speaker_muted`"
    user: Handle | None = None


class Unmute(Action, tag="unmute", frozen=True):
    who = "anyone on stage, for themselves only (`user` may only name yourself). Nobody can unmute someone else."
    effect = "`speaker_unmuted`"
    user: Handle | None = None


class Remove(Action, tag="remove", frozen=True):
    who = "host; co-hosts for speakers and listeners"
    effect = "`removed`; their sockets close with 4003 and they can't come back"
    user: Handle


class AddCohost(Action, tag="add_cohost", frozen=True):
    who = "host"
    effect = "`role_changed` to `cohost` (at most `SPACES_MAX_COHOSTS`, 2)"
    user: Handle


class RemoveCohost(Action, tag="remove_cohost", frozen=True):
    who = "host"
    effect = "`role_changed` to `speaker` if a seat is free, else `listener`"
    user: Handle


class TransferHost(Action, tag="transfer_host", frozen=True):
    who = "host"
    effect = "`role_changed` (old host -> `cohost`), `role_changed` (new host -> `host`)"
    user: Handle


class EndSpace(Action, tag="end_space", frozen=True):
    who = "host"
    effect = "`space_ended`, then every socket closes with 4000"


class React(Action, tag="react", frozen=True):
    who = "any logged-in user"
    effect = f"a `reactions` event to everyone; at most {REACTION_BURST} per {REACTION_WINDOW} s per user"
    emoji: Emoji


class SetRecording(Action, tag="set_recording", frozen=True):
    who = "host"
    effect = "`recording_changed` (everyone sees REC; a pause is cut from the replay)"
    on: bool


class RecordMyVoice(Action, tag="record_my_voice", frozen=True):
    who = "anyone in the room but the host (the host's choice to record covers the host)"
    effect = "`voice_consent_changed`; with `on: false` you are heard live but left out of the recording"
    on: bool


class Chat(Action, tag="chat", frozen=True):
    who = (
        "anyone logged in, as the chat's `mode` allows (`speakers`: host, co-hosts and speakers; `off`: nobody), "
        "unless chat-muted; slow mode spaces each person's messages (the host and co-hosts aside)"
    )
    effect = "`chat_message` to everyone"
    text: ChatText

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "text", clean_chat_text(self.text))


class DeleteMessage(Action, tag="delete_message", frozen=True):
    who = "host, co-host; anyone for their own messages"
    effect = "`message_deleted` (the message stays in the list, without its text)"
    id: MessageId


class ChatMute(Action, tag="chat_mute", frozen=True):
    who = "host; co-hosts for speakers and listeners"
    effect = "`chat_mute_changed`: they still listen, but can't write in the chat"
    user: Handle


class ChatUnmute(Action, tag="chat_unmute", frozen=True):
    who = "host; co-hosts for speakers and listeners"
    effect = "`chat_mute_changed`"
    user: Handle


class SetChat(Action, tag="set_chat", frozen=True):
    who = MODERATORS
    effect = "`chat_settings` (give `mode`, `slow_seconds` or both)"
    mode: ChatMode | None = None
    slow_seconds: SlowSeconds | None = None

    def __post_init__(self) -> None:
        if self.mode is None and self.slow_seconds is None:
            raise ValueError("“mode” or “slow_seconds” is missing.")


class Pin(Action, tag="pin", frozen=True):
    who = MODERATORS
    effect = "`pinned` (one link at a time: it replaces the one before)"
    url: Url
    title: PinTitle | None = None

    def __post_init__(self) -> None:
        url, title = clean_link(self.url, self.title)
        msgspec.structs.force_setattr(self, "url", url)
        msgspec.structs.force_setattr(self, "title", title)


class Unpin(Action, tag="unpin", frozen=True):
    who = MODERATORS
    effect = "`pinned` with `link` null"


class WebrtcOffer(Action, tag="webrtc_offer", frozen=True):
    who = "anyone who may enter"
    effect = "`webrtc_answer` to you (audio; see Audio signalling)"
    needs_login = False
    sdp: Sdp
    type: str


ClientAction = (
    Snapshot | RequestToSpeak | CancelRequest | ApproveRequest | DenyRequest | InviteToSpeak | AcceptInvite
    | DeclineInvite | MakeListener | Mute | Unmute | Remove | AddCohost | RemoveCohost | TransferHost | EndSpace
    | React | SetRecording | RecordMyVoice | Chat | DeleteMessage | ChatMute | ChatUnmute | SetChat | Pin | Unpin
    | WebrtcOffer
)  # fmt: skip

ACTIONS: dict[str, type[Action]] = {cls.__struct_config__.tag: cls for cls in ClientAction.__args__}


def action_name(action: Action) -> str:
    return str(action.__struct_config__.tag)


def arguments(action: Action) -> dict[str, str | bool | int]:
    """The action's arguments that were given (None means "not given"), by name."""
    return {name: value for name, value in msgspec.structs.asdict(action).items() if value is not None}
