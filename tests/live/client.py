"""A reference client of the room protocol, as docs/protocol.md tells clients to behave (room.js does the
same): keep the snapshot, apply deltas in seq order, hold one that arrives early, resync on a gap.

The tests use it to check the server's promise: a snapshot plus the deltas that follow it give the same
room as a fresh snapshot, for every audience.
"""

from __future__ import annotations

import copy
import json

from live import protocol

ROLE_ORDER = {"host": 0, "cohost": 1, "speaker": 2}
PERSON = ("user", "user_id", "name", "initials", "hue", "role", "is_muted", "record_voice")


class RoomClient:
    def __init__(self, snapshot: dict) -> None:
        self.state: dict = {}
        self.last_seq = -1
        self.early: dict[int, dict] = {}
        self.applied: list[dict] = []
        self.closed = False
        self.take_snapshot(snapshot)

    @property
    def has_gap(self) -> bool:
        return bool(self.early)

    def take_snapshot(self, snapshot: dict) -> None:
        self.state = copy.deepcopy(snapshot)
        self.last_seq = snapshot["seq"]
        self.early.clear()

    def receive(self, message: dict | str) -> None:
        if isinstance(message, str):
            message = json.loads(message)
        name = message["event"]
        if name == "snapshot":
            self.take_snapshot(message)
            return
        if name not in protocol.DELTAS:
            return
        seq = message["seq"]
        if seq <= self.last_seq:
            return  # already in the snapshot
        if seq > self.last_seq + 1:
            self.early[seq] = message  # a real client waits a moment, then asks for a snapshot
            return
        self.apply(message)
        while self.last_seq + 1 in self.early:
            self.apply(self.early.pop(self.last_seq + 1))

    def apply(self, delta: dict) -> None:
        self.last_seq = delta["seq"]
        self.applied.append(delta)
        state, name, user_id = self.state, delta["event"], delta.get("user_id")
        me = state["me"]
        is_me = me is not None and user_id == me["user_id"]
        # Only the host and co-hosts keep the lists of requests and invitations (the snapshot's rule).
        moderator = me is not None and me["role"] in protocol.MODERATOR_ROLES

        def without(items: list[dict]) -> list[dict]:
            return [item for item in items if item["user_id"] != user_id]

        if name == "role_changed":
            state["speakers"] = without(state["speakers"])
            if delta["role"] != "listener":
                state["speakers"].append({key: delta[key] for key in PERSON})
            state["requests"] = without(state["requests"])
            state["invites"] = without(state["invites"])
            if delta["role"] == "host":
                state["space"]["host"], state["space"]["host_id"] = delta["user"], delta["user_id"]
            if is_me:
                me.update(
                    role=delta["role"],
                    is_muted=delta["is_muted"],
                    requested=False,
                    invited=False,
                    request_position=None,
                )
        elif name in ("speaker_muted", "speaker_unmuted"):
            for person in state["speakers"]:
                if person["user_id"] == user_id:
                    person["is_muted"] = delta["is_muted"]
            if is_me:
                me["is_muted"] = delta["is_muted"]
        elif name == "request_added":
            if moderator:
                request = _strip(delta)
                request.pop("position")  # the requester's own place; the hosts' list is in order
                state["requests"] = without(state["requests"]) + [request]
            if is_me:
                me.update(requested=True, request_position=delta["position"])
        elif name == "request_removed":
            state["requests"] = without(state["requests"])
            if is_me:
                me.update(requested=False, request_position=None)
        elif name == "queue_moved":
            if me is not None and (me["request_position"] or 0) > delta["position"]:
                me["request_position"] -= 1
        elif name == "invite_added":
            if moderator:
                invite = _strip(delta)
                invite.pop("by", None)
                state["invites"] = without(state["invites"]) + [invite]
            if is_me:
                me["invited"] = True
        elif name == "invite_removed":
            state["invites"] = without(state["invites"])
            if is_me:
                me["invited"] = False
        elif name == "removed":
            state["speakers"] = without(state["speakers"])
            state["requests"] = without(state["requests"])
            state["invites"] = without(state["invites"])
            if is_me:
                self.closed = True
        elif name == "space_updated":
            state["space"].update(title=delta["title"], description=delta["description"])
        elif name == "recording_changed":
            state["space"]["recording"] = delta["recording"]
        elif name == "voice_consent_changed":
            for person in state["speakers"] + state["requests"] + state["invites"]:
                if person["user_id"] == user_id:
                    person["record_voice"] = delta["record_voice"]
        elif name == "space_ended":
            state["space"]["state"] = "ended"
            self.closed = True
        elif name == "chat_message":
            messages = state["chat"]["messages"]
            messages.append({**_strip(delta), "deleted_by": None})
            del messages[: -protocol.CHAT_IN_SNAPSHOT]  # the snapshot keeps the latest only
        elif name == "message_deleted":
            for message in state["chat"]["messages"]:
                if message["id"] == delta["id"]:
                    message.update(text="", deleted_by=delta["by"])
        elif name == "chat_mute_changed":
            if moderator:
                muted = set(state["chat"]["muted"]) - {delta["user"]}
                state["chat"]["muted"] = sorted(muted | {delta["user"]} if delta["muted"] else muted, key=str.lower)
            if is_me:
                me["chat_muted"] = delta["muted"]
        elif name == "chat_settings":
            state["chat"].update(mode=delta["mode"], slow_seconds=delta["slow_seconds"])
        elif name == "pinned":
            state["pinned"] = delta["link"]


def _strip(delta: dict) -> dict:
    return {key: value for key, value in delta.items() if key not in ("event", "seq")}


def comparable(snapshot: dict) -> dict:
    """What two views of the room must agree on (order within a role and live counts aside)."""
    state = copy.deepcopy(snapshot)
    for key in ("event", "seq", "listener_count"):
        state.pop(key, None)
    state["speakers"] = sorted(state["speakers"], key=lambda p: (ROLE_ORDER[p["role"]], p["user_id"]))
    state["requests"] = sorted(state["requests"], key=lambda p: p["user_id"])
    state["invites"] = sorted(state["invites"], key=lambda p: p["user_id"])
    state["chat"]["muted"] = sorted(state["chat"]["muted"], key=str.lower)
    return state
