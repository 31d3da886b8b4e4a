"""Zulip's promise, for the room: for every client, the snapshot it started from plus the deltas it was
sent equals a fresh snapshot — for hosts, co-hosts, speakers, listeners and anonymous visitors, whatever
actions were taken in whatever order, and whatever order two processes delivered them in.

A hypothesis state machine takes actions through live.stage: mostly moves that make sense now (it reads
the room to pick a requester to approve, a speaker to mute...), and now and then anything at all by anyone.
Each delta is routed to each client exactly as the hub routes it (live.delivery: the text or the `noop`
stub, then the socket effects: a fresh snapshot when a role crosses moderator, a close when removed).
After every step, every client's view must equal a fresh snapshot for that client.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accounts.models import User
from live import events, protocol, stage
from live.delivery import socket_effects, split_by_audience
from live.models import ChatMessage
from rooms.models import Participant
from rooms.services import RoomError
from tests.live.client import RoomClient, comparable
from tests.live.roomkit import live_space

pytestmark = pytest.mark.django_db

PEOPLE = ["alice", "bob", "carol", "dave"]
CHAT_TEXTS = ["hello", "  padded  ", "x" * 501, "bad\x00byte", "<b>hi</b>", "see https://example.com", "   "]
Role = Participant.Role
ANY_ACTION = sorted(set(protocol.ACTIONS) - {"snapshot", "webrtc_offer", "react", "end_space"})


class Socket:
    """One client and what the hub knows about its socket."""

    def __init__(self, space_id: int, user) -> None:
        self.user = user
        self.user_id = user.pk if user.is_authenticated else None
        self.client = RoomClient(fresh_view(space_id, user))
        me = self.client.state["me"]
        self.is_moderator = bool(me and me["role"] in protocol.MODERATOR_ROLES)


def fresh_view(space_id: int, user) -> dict:
    return json.loads(protocol.encode(stage.snapshot(space_id, user)))


class RoomMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.people = {handle: make_person(handle) for handle in PEOPLE}
        self.space = live_space(self.people["alice"])
        self.sockets = [Socket(self.space.pk, user) for user in self.people.values()]
        self.sockets.append(Socket(self.space.pk, AnonymousUser()))
        self.held: list[dict] = []

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- acting -----------------------------------------------------------------------------------

    def act(
        self, action: str, actor: str, user: str | None = None, hold: bool = False, fields: dict | None = None
    ) -> None:
        """One action in a transaction of its own; what it sends is delivered now, or held back to
        arrive after the next action's (two processes delivering out of order)."""
        sent: list[dict] = []
        arguments = {**({"user": user} if user else {}), **(fields or {})}
        try:
            decoded = protocol.decode_fields(action, arguments)
        except protocol.BadMessage:
            return  # the wire refuses it before the stage sees it
        start = len(connection.run_on_commit)
        try:
            with transaction.atomic():
                stage.perform(self.space, self.people[actor], decoded)
        except RoomError:
            pass
        # The test's own transaction never commits: run this action's on_commit sends as its commit would.
        callbacks, connection.run_on_commit[start:] = connection.run_on_commit[start:], []
        original = events.send_now
        events.send_now = lambda space_id, message: sent.append(message)
        try:
            for _, callback, _ in callbacks:
                callback()
        finally:
            events.send_now = original
        if hold:
            self.held.extend(sent)
            return
        for message in sent + self.held:
            self.deliver(message)
        self.held = []

    def deliver(self, message: dict) -> None:
        """What the hub does with one delta for its sockets."""
        sockets = [socket for socket in self.sockets if not socket.client.closed]
        allowed, others = split_by_audience(message, sockets)
        for socket in allowed:
            socket.client.receive(message["text"])
        for socket in others:
            socket.client.receive(message["stub"])
        for effect in socket_effects(message):
            for socket in sockets:
                if isinstance(effect, protocol.CloseSockets) and effect.user_id in (None, socket.user_id):
                    socket.client.closed = True
                elif isinstance(effect, protocol.RoleSet) and effect.user_id == socket.user_id:
                    if socket.is_moderator != effect.is_moderator:
                        socket.is_moderator = effect.is_moderator
                        socket.client.take_snapshot(fresh_view(self.space.pk, socket.user))

    def with_role(self, *roles: str) -> list[str]:
        rows = Participant.objects.filter(space=self.space, role__in=roles, removed_at__isnull=True)
        return sorted(rows.values_list("user__handle", flat=True))

    def present(self) -> list[str]:
        removed = Participant.objects.filter(space=self.space, removed_at__isnull=False)
        return sorted(set(PEOPLE) - set(removed.values_list("user__handle", flat=True)))

    def pick(self, data, handles: list[str]) -> str | None:
        return data.draw(st.sampled_from(handles)) if handles else None

    # --- moves that make sense now ------------------------------------------------------------------

    @rule(data=st.data(), hold=st.booleans())
    def a_listener_asks_or_takes_back(self, data, hold):
        listener = self.pick(data, sorted(set(self.present()) - set(self.with_role(*stage.STAGE_ROLES))))
        if listener:
            self.act(data.draw(st.sampled_from(["request_to_speak", "cancel_request"])), listener, hold=hold)

    @rule(data=st.data(), hold=st.booleans())
    def a_moderator_answers_or_invites(self, data, hold):
        moderator = self.pick(data, self.with_role(Role.HOST, Role.COHOST))
        listener = self.pick(data, sorted(set(self.present()) - set(self.with_role(*stage.STAGE_ROLES))))
        action = data.draw(st.sampled_from(["approve_request", "deny_request", "invite_to_speak"]))
        if moderator and listener:
            self.act(action, moderator, listener, hold=hold)

    @rule(data=st.data(), hold=st.booleans())
    def an_invited_listener_answers(self, data, hold):
        invited = Participant.objects.filter(space=self.space, invited_at__isnull=False, removed_at__isnull=True)
        who = self.pick(data, sorted(invited.values_list("user__handle", flat=True)))
        if who:
            self.act(data.draw(st.sampled_from(["accept_invite", "decline_invite"])), who, hold=hold)

    @rule(data=st.data(), hold=st.booleans())
    def someone_on_stage_mutes_or_steps_down(self, data, hold):
        speaker = self.pick(data, self.with_role(*stage.STAGE_ROLES))
        if speaker:
            self.act(data.draw(st.sampled_from(["mute", "unmute", "unmute", "make_listener"])), speaker, hold=hold)

    @rule(data=st.data(), hold=st.booleans())
    def a_moderator_manages_the_stage(self, data, hold):
        moderator = self.pick(data, self.with_role(Role.HOST, Role.COHOST))
        other = self.pick(data, self.present())
        actions = ["mute", "make_listener", "remove", "add_cohost", "remove_cohost", "transfer_host"]
        if moderator and other:
            self.act(data.draw(st.sampled_from(actions)), moderator, other, hold=hold)

    # --- the chat (live.chat) ---------------------------------------------------------------------------

    @rule(data=st.data(), count=st.integers(1, 30), hold=st.booleans())
    def people_chat(self, data, count, hold):
        for _ in range(count):  # past the snapshot's 50 now and then, so the clients' lists must trim too
            who = data.draw(st.sampled_from(self.present()))
            self.act("chat", who, fields={"text": data.draw(st.sampled_from(CHAT_TEXTS))}, hold=hold)

    @rule(data=st.data(), hold=st.booleans())
    def someone_deletes_a_message(self, data, hold):
        ids = list(ChatMessage.objects.filter(space=self.space).order_by("-id").values_list("id", flat=True)[:60])
        if ids:
            who = data.draw(st.sampled_from(PEOPLE))
            self.act("delete_message", who, fields={"id": str(data.draw(st.sampled_from(ids)))}, hold=hold)

    @rule(data=st.data(), muted=st.booleans(), hold=st.booleans())
    def a_moderator_mutes_someone_in_chat(self, data, muted, hold):
        moderator = self.pick(data, self.with_role(Role.HOST, Role.COHOST))
        if moderator:
            other = data.draw(st.sampled_from(PEOPLE))
            self.act("chat_mute" if muted else "chat_unmute", moderator, other, hold=hold)

    @rule(
        actor=st.sampled_from(PEOPLE),
        mode=st.sampled_from(["", "everyone", "everyone", "speakers", "off"]),
        slow=st.sampled_from(["", "0", "0", "5"]),
        hold=st.booleans(),
    )
    def someone_sets_the_chat(self, actor, mode, slow, hold):
        self.act("set_chat", actor, fields={"mode": mode, "slow_seconds": slow}, hold=hold)

    @rule(actor=st.sampled_from(PEOPLE), url=st.sampled_from(["", "https://example.com/a", "javascript:x"]))
    def someone_pins_or_unpins(self, actor, url):
        if url:
            self.act("pin", actor, fields={"url": url, "title": "Notes"})
        else:
            self.act("unpin", actor)

    @rule(action=st.sampled_from(ANY_ACTION), actor=st.sampled_from(PEOPLE), user=st.sampled_from([None, *PEOPLE]))
    def anyone_tries_anything(self, action, actor, user):
        self.act(action, actor, user)

    # --- the promise -----------------------------------------------------------------------------------

    @invariant()
    def every_view_equals_a_fresh_snapshot(self):
        if self.held:
            return  # deliveries still in flight: views are allowed to lag until they land
        for socket in self.sockets:
            if socket.client.closed:
                continue
            assert not socket.client.has_gap, "every delta has arrived, so no gap may remain"
            fresh = fresh_view(self.space.pk, socket.user)
            assert comparable(socket.client.state) == comparable(fresh), f"the view of {socket.user}"


def make_person(handle: str) -> User:
    from allauth.account.models import EmailAddress

    user = User.objects.create_user(handle=handle, email=f"{handle}@example.com", password="x")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@override_settings(SPACES_CHAT_MESSAGES_PER_WINDOW=0)  # the per-person chat limit would refuse most bursts
def test_snapshot_plus_deltas_equals_a_fresh_snapshot_for_everyone():
    run_state_machine_as_test(
        RoomMachine,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
