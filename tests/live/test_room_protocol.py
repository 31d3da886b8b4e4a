"""The room's websocket protocol: snapshot, numbered deltas, resync, refusals and bad input."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from live import protocol, stage
from rooms.models import Participant
from tests.live.roomkit import (
    act,
    close_all,
    join,
    live_space,
    open_socket,
    put_on_stage,
    receive,
    receive_delta,
    receive_event,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]
Role = Participant.Role


@pytest.fixture
async def space(alice):
    return await database_sync_to_async(live_space)(alice)


# --- connect ------------------------------------------------------------------------------------


async def test_connecting_sends_a_full_snapshot_first(space, alice, bob):
    await database_sync_to_async(put_on_stage)(space, bob, muted=False)
    host, snapshot = await join(space.pk, alice)
    assert snapshot["space"]["id"] == space.pk
    assert snapshot["space"]["host"] == "alice"
    assert snapshot["me"]["role"] == "host"
    assert [(s["user"], s["role"], s["is_muted"]) for s in snapshot["speakers"]] == [
        ("alice", "host", True),
        ("bob", "speaker", False),
    ]
    assert snapshot["listener_count"] == 1
    assert snapshot["limits"] == {"cohosts": 2, "speakers": 10}
    assert isinstance(snapshot["seq"], int)
    await close_all(host)


async def test_requests_are_in_the_snapshot_of_hosts_only(space, alice, bob, carol):
    await database_sync_to_async(stage.request_to_speak)(space, bob)
    host, host_snapshot = await join(space.pk, alice)
    listener, listener_snapshot = await join(space.pk, carol)
    requester, requester_snapshot = await join(space.pk, bob)
    assert [r["user"] for r in host_snapshot["requests"]] == ["bob"]
    assert listener_snapshot["requests"] == []
    assert requester_snapshot["me"]["requested"] is True
    await close_all(host, listener, requester)


async def test_my_pending_invite_is_in_my_snapshot(space, alice, bob):
    await database_sync_to_async(stage.invite_to_speak)(space, alice, "bob")
    invited, snapshot = await join(space.pk, bob)
    assert snapshot["me"]["invited"] is True
    await close_all(invited)


async def test_anonymous_visitors_listen_but_may_not_act(space, alice):
    anonymous, snapshot = await join(space.pk)
    assert snapshot["me"] is None
    await act(anonymous, "request_to_speak")
    error = await receive_event(anonymous, "error")
    assert (error["action"], error["reason"]) == ("request_to_speak", "Log in to take part.")
    assert isinstance(error["seq"], int)
    await close_all(anonymous)


async def test_a_removed_user_is_refused_at_connect(space, alice, bob):
    await database_sync_to_async(stage.remove)(space, alice, "bob")
    communicator = await open_socket(space.pk, bob)
    error = await receive(communicator)
    assert error["event"] == "error" and error["action"] == "connect"
    assert error["reason"] == "You were removed from this Space."
    assert (await communicator.receive_output(timeout=2))["code"] == 4003


async def test_an_unknown_space_is_refused(alice):
    communicator = await open_socket(999999, alice)
    assert (await receive(communicator))["reason"] == "This Space doesn't exist."
    assert (await communicator.receive_output(timeout=2))["code"] == 4004


# --- deltas and seq -------------------------------------------------------------------------------


async def test_every_delta_has_the_next_seq(space, alice, bob):
    host, host_snapshot = await join(space.pk, alice)
    speaker, _ = await join(space.pk, bob)
    await act(speaker, "request_to_speak")
    await act(host, "approve_request", user="bob")
    await act(speaker, "unmute")
    await act(host, "mute", user="bob")
    names, seqs = [], []
    for _ in range(5):
        delta = await receive_delta(host)
        names.append(delta["event"])
        seqs.append(delta["seq"])
    assert names == ["request_added", "request_removed", "role_changed", "speaker_unmuted", "speaker_muted"]
    assert seqs == list(range(host_snapshot["seq"] + 1, host_snapshot["seq"] + 6))
    muted = {"event": "speaker_muted", "seq": seqs[-1], "user": "bob", "user_id": bob.pk, "is_muted": True}
    muted["by"] = "alice"
    # The speaker sees the same numbers: nothing was hidden from them.
    for _ in range(4):
        await receive_delta(speaker)
    assert await receive_delta(speaker) == muted
    await close_all(host, speaker)


async def test_private_events_reach_others_as_noop_with_the_same_seq(space, alice, bob, carol):
    host, _ = await join(space.pk, alice)
    requester, _ = await join(space.pk, bob)
    bystander, _ = await join(space.pk, carol)
    await act(requester, "request_to_speak")
    seen_by_host = await receive_delta(host)
    seen_by_requester = await receive_delta(requester)
    seen_by_bystander = await receive_delta(bystander)
    assert seen_by_host["event"] == seen_by_requester["event"] == "request_added"
    assert seen_by_bystander == {"event": "noop", "seq": seen_by_host["seq"]}
    await close_all(host, requester, bystander)


async def test_a_client_that_saw_a_gap_gets_a_fresh_snapshot(space, alice, bob):
    listener, first = await join(space.pk, bob)
    # Changes the client did not hear about (as if the channel layer had dropped them).
    await database_sync_to_async(stage.invite_to_speak)(space, alice, "bob")
    await database_sync_to_async(stage.accept_invite)(space, bob)
    await act(listener, "snapshot")
    fresh = await receive_event(listener, "snapshot")
    assert fresh["seq"] >= first["seq"] + 3
    assert fresh["me"]["role"] == "speaker"
    assert "bob" in [s["user"] for s in fresh["speakers"]]
    await close_all(listener)


async def test_a_new_cohost_is_sent_a_snapshot_with_the_requests(space, alice, bob, carol):
    await database_sync_to_async(stage.request_to_speak)(space, carol)
    cohost, snapshot = await join(space.pk, bob)
    assert snapshot["requests"] == []
    await database_sync_to_async(stage.add_cohost)(space, alice, "bob")
    fresh = await receive_event(cohost, "snapshot")
    assert fresh["me"]["role"] == "cohost"
    assert [r["user"] for r in fresh["requests"]] == ["carol"]
    await close_all(cohost)


async def test_removing_someone_closes_their_socket(space, alice, bob, carol):
    host, _ = await join(space.pk, alice)
    removed, _ = await join(space.pk, bob)
    other, _ = await join(space.pk, carol)
    await act(host, "remove", user="bob")
    assert (await receive_delta(removed))["event"] == "removed"
    assert (await removed.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4003}
    assert (await receive_delta(other))["user"] == "bob"
    await close_all(host, other)


async def test_ending_the_space_closes_every_socket(space, alice, bob):
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    anonymous, _ = await join(space.pk)
    await act(host, "end_space")
    for communicator in (host, listener, anonymous):
        ended = await receive_delta(communicator)
        assert ended["event"] == "space_ended" and ended["reason"] == "ended_by_host"
        assert (await communicator.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4000}


# --- refusals name the action -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "arguments", "reason"),
    [
        ("approve_request", {"user": "carol"}, "Only the host and co-hosts can do that."),
        ("add_cohost", {"user": "carol"}, "Only the host can add co-hosts."),
        ("end_space", {}, "Only the host can do that."),
        ("unmute", {"user": "carol"}, "Nobody can unmute someone else."),
        ("transfer_host", {"user": "carol"}, "Only the host can hand over the Space."),
    ],
)
async def test_a_listener_trying_host_actions_gets_an_error(space, bob, carol, action, arguments, reason):
    listener, _ = await join(space.pk, bob)
    await act(listener, action, **arguments)
    error = await receive_event(listener, "error")
    assert (error["action"], error["reason"]) == (action, reason)
    await close_all(listener)


async def test_a_cohost_cannot_end_the_space_or_appoint(space, alice, bob, carol):
    await database_sync_to_async(put_on_stage)(space, bob, Role.COHOST)
    cohost, _ = await join(space.pk, bob)
    await act(cohost, "end_space")
    assert (await receive_event(cohost, "error"))["reason"] == "Only the host can do that."
    await act(cohost, "add_cohost", user="carol")
    assert (await receive_event(cohost, "error"))["reason"] == "Only the host can add co-hosts."
    await close_all(cohost)


async def test_a_muted_speaker_cannot_unmute_another(space, bob, carol):
    await database_sync_to_async(put_on_stage)(space, bob)
    await database_sync_to_async(put_on_stage)(space, carol)
    speaker, _ = await join(space.pk, bob)
    await act(speaker, "unmute", user="carol")
    error = await receive_event(speaker, "error")
    assert (error["action"], error["reason"]) == ("unmute", "Nobody can unmute someone else.")
    assert await database_sync_to_async(stage.audible_user_ids)(space.pk) == set()
    await close_all(speaker)


async def test_the_role_is_read_from_the_database_not_the_socket(space, alice, bob, carol):
    await database_sync_to_async(put_on_stage)(space, bob, Role.COHOST)
    cohost, _ = await join(space.pk, bob)
    await database_sync_to_async(stage.request_to_speak)(space, carol)
    await database_sync_to_async(stage.remove_cohost)(space, alice, "bob")
    await act(cohost, "approve_request", user="carol")
    assert (await receive_event(cohost, "error"))["reason"] == "Only the host and co-hosts can do that."
    await close_all(cohost)


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "action", "reason"),
    [
        ("not json", None, "The message isn't valid JSON."),
        ("[1, 2]", None, "A message is a JSON object."),
        ('{"user": "bob"}', None, "A message needs an “action”."),
        ('{"action": 5}', None, "A message needs an “action”."),
        ('{"action": "drop_tables"}', "drop_tables", "Unknown action “drop_tables”."),
        ('{"action": "room.event"}', "room.event", "Unknown action “room.event”."),
        ('{"action": "websocket_disconnect"}', "websocket_disconnect", "Unknown action “websocket_disconnect”."),
        ('{"action": "approve_request"}', "approve_request", "“user” is missing."),
        ('{"action": "approve_request", "user": 7}', "approve_request", "“user” must be a string."),
        ('{"action": "approve_request", "user": "x y"}', "approve_request", "“user” must be a handle."),
        ('{"action": "mute", "type": "room.event"}', "mute", "Unexpected field “type”."),
        ('{"action": "react", "emoji": ["👏"]}', "react", "“emoji” must be a string."),
    ],
)
async def test_bad_messages_get_an_error_not_a_traceback(space, bob, frame, action, reason):
    listener, _ = await join(space.pk, bob)
    await listener.send_to(text_data=frame)
    error = await receive_event(listener, "error")
    assert (error["action"], error["reason"]) == (action, reason)
    # The socket still works.
    await act(listener, "snapshot")
    assert (await receive_event(listener, "snapshot"))["me"]["user"] == "bob"
    await close_all(listener)


async def test_a_frame_over_16_kib_is_refused_and_closes(space, bob):
    listener, _ = await join(space.pk, bob)
    await listener.send_to(text_data=json.dumps({"action": "react", "emoji": "x" * 17000}))
    error = await receive_event(listener, "error")
    assert error["reason"] == "The message is larger than 16 KiB."
    assert (await listener.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4009}


async def test_binary_frames_are_refused(space, bob):
    listener, _ = await join(space.pk, bob)
    await listener.send_to(bytes_data=b"\x00\x01")
    assert (await receive_event(listener, "error"))["reason"] == "Binary frames aren't part of the protocol."
    await close_all(listener)


async def test_a_flood_of_messages_is_throttled(space, bob):
    listener, _ = await join(space.pk, bob)
    for _ in range(25):
        await listener.send_to(text_data="{}")
    reasons = [(await receive_event(listener, "error"))["reason"] for _ in range(21)]
    # 20 frames are read (and refused: no action); the rest get one "Slow down", not one each.
    assert reasons == ["A message needs an “action”."] * 20 + ["Slow down: too many messages."]
    assert await listener.receive_nothing(timeout=0.3)
    await close_all(listener)


async def test_a_socket_far_over_its_budget_is_closed(space, bob):
    listener, _ = await join(space.pk, bob)
    for _ in range(protocol.RATE_LIMIT * 3 + 1):
        await listener.send_to(bytes_data=b"\x00")  # binary frames count too
    reasons = set()
    while True:
        message = await listener.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            break
        reasons.add(json.loads(message["text"])["reason"])
    assert message["code"] == 4029
    assert "Too many messages: this connection is closed." in reasons


async def test_webrtc_offer_without_an_sdp_is_refused(space, bob):
    listener, _ = await join(space.pk, bob)
    await act(listener, "webrtc_offer", sdp="v=0", type="answer")
    error = await receive_event(listener, "error")
    assert error["action"] == "webrtc_offer" and error["reason"] == "Send an SDP offer."
    await close_all(listener)
