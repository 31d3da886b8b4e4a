"""Client -> server: every action the room accepts, with its arguments' types and limits."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from .limits import MAX_SDP, REACTION_BURST, REACTION_WINDOW

# --- Actions (client -> server) -------------------------------------------------------------------------

Handle = Annotated[str, msgspec.Meta(pattern=r"^@?[A-Za-z0-9_]{1,15}$", description="a user's handle")]
Emoji = Annotated[str, msgspec.Meta(max_length=16, description="one of the snapshot's `reactions`")]
Sdp = Annotated[str, msgspec.Meta(max_length=MAX_SDP, description=f"an SDP offer, at most {MAX_SDP // 1024} KiB")]

ANYONE = "anyone"


class Action(msgspec.Struct, tag_field="action", forbid_unknown_fields=True, frozen=True):
    """A client's request. `who` documents who may send it; live.stage checks it against the database."""

    who: ClassVar[str]
    effect: ClassVar[str]
    needs_login: ClassVar[bool] = True


class Snapshot(Action, tag="snapshot"):
    who = ANYONE
    effect = "a fresh `snapshot` to you"
    needs_login = False


class RequestToSpeak(Action, tag="request_to_speak"):
    who = "listener"
    effect = "`request_added` (asking twice is one request)"


class CancelRequest(Action, tag="cancel_request"):
    who = "the requester"
    effect = "`request_removed` reason `cancelled`"


class ApproveRequest(Action, tag="approve_request"):
    who = "host, co-host"
    effect = "`request_removed` reason `approved`, `role_changed` to `speaker` (needs a free seat)"
    user: Handle


class DenyRequest(Action, tag="deny_request"):
    who = "host, co-host"
    effect = "`request_removed` reason `denied`"
    user: Handle


class InviteToSpeak(Action, tag="invite_to_speak"):
    who = "host, co-host"
    effect = "`invite_added` (needs a free seat)"
    user: Handle


class AcceptInvite(Action, tag="accept_invite"):
    who = "the invited listener"
    effect = "`invite_removed` reason `accepted`, `role_changed` to `speaker`"


class DeclineInvite(Action, tag="decline_invite"):
    who = "the invited listener"
    effect = "`invite_removed` reason `declined`"


class MakeListener(Action, tag="make_listener"):
    who = (
        "without `user`: any speaker or co-host, for themselves; with `user`: host and co-hosts for speakers, "
        "the host for co-hosts"
    )
    effect = "`role_changed` to `listener`"
    user: Handle | None = None


class Mute(Action, tag="mute"):
    who = "anyone on stage for themselves; host and co-hosts for others (co-hosts can't mute the host)"
    effect = "`speaker_muted`"
    user: Handle | None = None


class Unmute(Action, tag="unmute"):
    who = "anyone on stage, for themselves only (`user` may only name yourself). Nobody can unmute someone else."
    effect = "`speaker_unmuted`"
    user: Handle | None = None


class Remove(Action, tag="remove"):
    who = "host; co-hosts for speakers and listeners"
    effect = "`removed`; their sockets close with 4003 and they can't come back"
    user: Handle


class AddCohost(Action, tag="add_cohost"):
    who = "host"
    effect = "`role_changed` to `cohost` (at most `SPACES_MAX_COHOSTS`, 2)"
    user: Handle


class RemoveCohost(Action, tag="remove_cohost"):
    who = "host"
    effect = "`role_changed` to `speaker` if a seat is free, else `listener`"
    user: Handle


class TransferHost(Action, tag="transfer_host"):
    who = "host"
    effect = "`role_changed` (old host -> `cohost`), `role_changed` (new host -> `host`)"
    user: Handle


class EndSpace(Action, tag="end_space"):
    who = "host"
    effect = "`space_ended`, then every socket closes with 4000"


class React(Action, tag="react"):
    who = "any logged-in user"
    effect = f"a `reactions` event to everyone; at most {REACTION_BURST} per {REACTION_WINDOW} s per user"
    emoji: Emoji


class WebrtcOffer(Action, tag="webrtc_offer"):
    who = "anyone who may enter"
    effect = "`webrtc_answer` to you (audio; see Audio signalling)"
    needs_login = False
    sdp: Sdp
    type: str


ClientAction = (
    Snapshot | RequestToSpeak | CancelRequest | ApproveRequest | DenyRequest | InviteToSpeak | AcceptInvite
    | DeclineInvite | MakeListener | Mute | Unmute | Remove | AddCohost | RemoveCohost | TransferHost | EndSpace
    | React | WebrtcOffer
)  # fmt: skip

ACTIONS: dict[str, type[Action]] = {cls.__struct_config__.tag: cls for cls in ClientAction.__args__}  # type: ignore[attr-defined,misc]


def action_name(action: Action) -> str:
    return str(action.__struct_config__.tag)


def arguments(action: Action) -> dict[str, str]:
    """The action's arguments that were given (None means "not given"), by name."""
    return {name: value for name, value in msgspec.structs.asdict(action).items() if value is not None}
