"""Who may do what in a live room: every action checked against the database as it is now."""

from __future__ import annotations

import pytest
from django.test import override_settings

from live import protocol, reactions, stage
from rooms.models import Participant, Space
from rooms.services import RoomError
from tests.live.roomkit import live_space, put_on_stage

Role = Participant.Role


@pytest.fixture
def space(alice):
    return live_space(alice)


@pytest.fixture
def dave(make_user):
    return make_user("dave")


def role(space, user) -> str:
    return Participant.objects.get(space=space, user=user).role


def refused(call, *args, match: str = "", **kwargs):
    with pytest.raises(RoomError, match=match):
        call(*args, **kwargs)


# --- listeners ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    ["approve_request", "deny_request", "invite_to_speak", "remove", "add_cohost", "remove_cohost", "transfer_host"],
)
def test_a_listener_cannot_take_host_actions(space, bob, carol, action):
    stage.request_to_speak(space, carol)
    refused(stage.STAGE_ACTIONS[protocol.ACTIONS[action]], space, bob, user="carol", match="Only the host")
    assert role(space, carol) == Role.LISTENER
    assert Participant.objects.get(space=space, user=carol).removed_at is None


def test_a_listener_cannot_mute_or_move_a_speaker(space, bob, carol):
    put_on_stage(space, carol, muted=False)
    refused(stage.mute, space, bob, user="carol", match="Only the host and co-hosts")
    refused(stage.make_listener, space, bob, user="carol", match="Only the host and co-hosts")
    assert stage.audible_user_ids(space.pk) == {carol.pk}


def test_a_listener_cannot_end_the_space(space, bob):
    refused(stage.end_space, space, bob, match="Only the host")
    space.refresh_from_db()
    assert space.is_live


def test_a_listener_cannot_unmute_themselves(space, bob):
    refused(stage.unmute, space, bob, match="not on stage")


def test_anonymous_visitors_cannot_act(space):
    from django.contrib.auth.models import AnonymousUser

    refused(stage.request_to_speak, space, AnonymousUser(), match="Log in")
    refused(reactions.react, space, AnonymousUser(), emoji="👏", match="Log in")


# --- co-hosts ----------------------------------------------------------------------------------


def test_a_cohost_cannot_end_the_space(space, bob):
    put_on_stage(space, bob, Role.COHOST)
    refused(stage.end_space, space, bob, match="Only the host")
    space.refresh_from_db()
    assert space.is_live


def test_a_cohost_cannot_appoint_or_remove_cohosts(space, bob, carol, dave):
    put_on_stage(space, bob, Role.COHOST)
    put_on_stage(space, dave, Role.COHOST)
    put_on_stage(space, carol)
    refused(stage.add_cohost, space, bob, user="carol", match="Only the host can add co-hosts")
    refused(stage.remove_cohost, space, bob, user="dave", match="Only the host can remove co-hosts")
    refused(stage.make_listener, space, bob, user="dave", match="Only the host can remove a co-host")
    refused(stage.remove, space, bob, user="dave", match="Only the host can remove a co-host")
    refused(stage.transfer_host, space, bob, user="dave", match="Only the host")
    assert role(space, carol) == Role.SPEAKER
    assert role(space, dave) == Role.COHOST


def test_a_cohost_moderates_speakers_and_listeners(space, bob, carol, dave):
    put_on_stage(space, bob, Role.COHOST)
    stage.request_to_speak(space, carol)
    stage.approve_request(space, bob, "carol")
    assert role(space, carol) == Role.SPEAKER
    stage.unmute(space, carol)
    stage.mute(space, bob, "carol")
    assert Participant.objects.get(space=space, user=carol).is_muted
    stage.make_listener(space, bob, "carol")
    assert role(space, carol) == Role.LISTENER
    stage.remove(space, bob, "dave")
    assert Participant.objects.get(space=space, user=dave).removed_at is not None


def test_a_cohost_cannot_mute_or_remove_the_host(space, alice, bob):
    put_on_stage(space, bob, Role.COHOST)
    stage.unmute(space, alice)
    refused(stage.mute, space, bob, user="alice", match="Co-hosts can't mute the host")
    refused(stage.remove, space, bob, user="alice", match="The host can't be removed")
    assert stage.audible_user_ids(space.pk) == {alice.pk}


# --- muting --------------------------------------------------------------------------------------


def test_nobody_can_unmute_someone_else(space, alice, bob, carol):
    put_on_stage(space, bob)
    put_on_stage(space, carol)
    refused(stage.unmute, space, carol, user="bob", match="Nobody can unmute someone else")
    refused(stage.unmute, space, alice, user="bob", match="Nobody can unmute someone else")
    assert stage.audible_user_ids(space.pk) == set()
    stage.unmute(space, bob)
    assert stage.audible_user_ids(space.pk) == {bob.pk}


def test_a_muted_speaker_cannot_unmute_another(space, bob, carol):
    put_on_stage(space, bob, muted=True)
    put_on_stage(space, carol, muted=True)
    refused(stage.unmute, space, bob, user="carol", match="Nobody can unmute")
    assert Participant.objects.get(space=space, user=carol).is_muted


def test_a_speaker_mutes_themselves_but_not_others(space, bob, carol):
    put_on_stage(space, bob, muted=False)
    put_on_stage(space, carol, muted=False)
    refused(stage.mute, space, bob, user="carol", match="Only the host and co-hosts")
    stage.mute(space, bob)
    assert stage.audible_user_ids(space.pk) == {carol.pk}


# --- requests and invitations ------------------------------------------------------------------


def test_request_approve_and_step_down(space, alice, bob):
    stage.request_to_speak(space, bob)
    stage.request_to_speak(space, bob)  # asking twice is one request
    stage.approve_request(space, alice, "bob")
    assert role(space, bob) == Role.SPEAKER
    assert Participant.objects.get(space=space, user=bob).is_muted  # new speakers start muted
    refused(stage.approve_request, space, alice, "bob", match="hasn't asked")
    stage.make_listener(space, bob)
    assert role(space, bob) == Role.LISTENER


def test_deny_and_cancel(space, alice, bob):
    stage.request_to_speak(space, bob)
    stage.deny_request(space, alice, "bob")
    refused(stage.approve_request, space, alice, "bob", match="hasn't asked")
    stage.request_to_speak(space, bob)
    stage.cancel_request(space, bob)
    refused(stage.cancel_request, space, bob, match="haven't asked")


def test_invitations(space, alice, bob, carol):
    refused(stage.accept_invite, space, bob, match="don't have an invitation")
    stage.invite_to_speak(space, alice, "bob")
    stage.accept_invite(space, bob)
    assert role(space, bob) == Role.SPEAKER
    stage.invite_to_speak(space, alice, "carol")
    stage.decline_invite(space, carol)
    assert role(space, carol) == Role.LISTENER
    refused(stage.accept_invite, space, carol, match="don't have an invitation")


def test_the_host_cannot_step_off_the_stage(space, alice):
    refused(stage.make_listener, space, alice, match="Hand the host role")


def test_unknown_handles_are_refused(space, alice):
    refused(stage.invite_to_speak, space, alice, "nobody_here", match="There's no @nobody_here")


# --- limits ----------------------------------------------------------------------------------------


@override_settings(SPACES_MAX_SPEAKERS=2)
def test_speaker_seats_are_limited(space, alice, bob, carol, dave):
    for user in (bob, carol, dave):
        stage.request_to_speak(space, user)
    stage.approve_request(space, alice, "bob")
    stage.approve_request(space, alice, "carol")
    refused(stage.approve_request, space, alice, "dave", match="All 2 speaker seats are taken")
    refused(stage.invite_to_speak, space, alice, "dave", match="speaker seats are taken")
    assert Participant.objects.filter(space=space, role=Role.SPEAKER).count() == 2


def test_cohosts_are_limited_and_do_not_take_speaker_seats(space, alice, make_user):
    users = [make_user(f"user{i}") for i in range(3)]
    stage.add_cohost(space, alice, "user0")
    stage.add_cohost(space, alice, "user1")
    refused(stage.add_cohost, space, alice, "user2", match="at most 2 co-hosts")
    assert Participant.objects.filter(space=space, role=Role.COHOST).count() == 2
    stage.remove_cohost(space, alice, "user0")
    assert role(space, users[0]) == Role.SPEAKER


# --- removal and hand-over ---------------------------------------------------------------------


def test_removed_users_cannot_come_back_or_act(space, alice, bob):
    from live.access import can_enter

    stage.request_to_speak(space, bob)
    stage.remove(space, alice, "bob")
    assert not can_enter(space, bob)
    refused(stage.request_to_speak, space, bob, match="removed")
    refused(stage.invite_to_speak, space, alice, "bob", match="removed")
    assert stage.connect_refusal(space.pk, bob) == "You were removed from this Space."


def test_the_host_hands_the_space_to_a_cohost(space, alice, bob, carol):
    put_on_stage(space, carol)
    refused(stage.transfer_host, space, alice, "carol", match="only to a co-host")
    put_on_stage(space, bob, Role.COHOST)
    stage.transfer_host(space, alice, "bob")
    space.refresh_from_db()
    assert space.host == bob
    assert role(space, bob) == Role.HOST
    assert role(space, alice) == Role.COHOST
    refused(stage.end_space, space, alice, match="Only the host")
    stage.end_space(space, bob)
    assert Space.objects.get(pk=space.pk).state == Space.State.ENDED


def test_the_old_host_cannot_end_the_space_from_a_page_read_before_the_handover(space, alice, bob):
    from rooms import services

    read_before = Space.objects.get(pk=space.pk)  # still names alice as host
    put_on_stage(space, bob, Role.COHOST)
    stage.transfer_host(space, alice, "bob")
    refused(services.end_space, read_before, alice, match="Only the host")
    assert Space.objects.get(pk=space.pk).is_live


def test_actions_need_a_live_space(space, alice, bob):
    stage.end_space(space, alice)
    refused(stage.request_to_speak, space, bob, match="isn't live")


# --- reactions -----------------------------------------------------------------------------------


def test_reactions_are_a_fixed_set_and_rate_limited(space, bob):
    from django.core.cache import cache

    cache.clear()
    refused(reactions.react, space, bob, emoji="🍕", match="isn't available")
    for _ in range(protocol.REACTION_BURST):
        reactions.react(space, bob, emoji="👏")
    refused(reactions.react, space, bob, emoji="👏", match="Slow down")


def test_audible_users_are_unmuted_people_on_stage(space, alice, bob, carol, dave):
    put_on_stage(space, bob, muted=False)
    put_on_stage(space, carol, Role.COHOST, muted=False)
    put_on_stage(space, dave, muted=True)
    stage.unmute(space, alice)
    assert stage.audible_user_ids(space.pk) == {alice.pk, bob.pk, carol.pk}
    stage.remove(space, alice, "bob")
    assert stage.audible_user_ids(space.pk) == {alice.pk, carol.pk}
