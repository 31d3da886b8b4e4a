"""The room's chat over the websocket: delivery, numbering with the other deltas, limits, modes, deletes,
chat mutes and the pinned link, each by the right people only."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from live import chat, stage
from live.models import ChatMessage
from rooms.models import Participant
from tests.live.roomkit import act, close_all, join, live_space, put_on_stage, receive_delta, receive_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stop_hub")]
Role = Participant.Role


@pytest.fixture
async def space(alice):
    return await database_sync_to_async(live_space)(alice)


async def refused(socket, action: str) -> str:
    error = await receive_event(socket, "error")
    assert error["action"] == action, error
    return error["reason"]


async def test_a_message_reaches_everyone_numbered_between_the_other_deltas(space, alice, bob):
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    anonymous, snapshot = await join(space.pk)
    await act(listener, "request_to_speak")
    await act(listener, "chat", text="  Hello, room!  ")
    seen = [await receive_delta(anonymous) for _ in range(2)]
    await act(host, "approve_request", user="bob")
    seen += [await receive_delta(anonymous) for _ in range(2)]
    assert [m["event"] for m in seen] == ["noop", "chat_message", "noop", "role_changed"]
    assert [m["seq"] for m in seen] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 5))
    message = seen[1]
    assert (message["user"], message["name"], message["text"]) == ("bob", "Bob", "Hello, room!")
    assert isinstance(message["id"], int) and message["sent_at"]
    on_host = [await receive_delta(host) for _ in range(4)]
    assert on_host[1] == message
    await close_all(host, listener, anonymous)


async def test_the_snapshot_carries_the_latest_50_messages(space, alice, bob):
    await database_sync_to_async(ChatMessage.objects.bulk_create)(
        [ChatMessage(space=space, user=bob, text=f"line {n}") for n in range(60)]
    )
    anonymous, snapshot = await join(space.pk)
    texts = [m["text"] for m in snapshot["chat"]["messages"]]
    assert texts == [f"line {n}" for n in range(10, 60)]
    assert snapshot["chat"]["mode"] == "everyone" and snapshot["chat"]["slow_seconds"] == 0
    assert snapshot["pinned"] is None
    await close_all(anonymous)


async def test_500_characters_pass_and_501_are_refused(space, bob):
    listener, _ = await join(space.pk, bob)
    await act(listener, "chat", text="é" * 500)
    assert (await receive_delta(listener))["text"] == "é" * 500
    await act(listener, "chat", text="x" * 501)
    assert await refused(listener, "chat") == "“text” is too long: at most 500 characters."
    await act(listener, "chat", text="   ")
    assert await refused(listener, "chat") == "“text” is empty: type a message first."
    await close_all(listener)


@pytest.mark.parametrize(
    "text, named",
    [("a\x00b", "a null character"), ("two\nlines", "a line break"), ("evil\u202etxt.exe", "U+202E")],
)
async def test_control_characters_are_refused(space, bob, text, named):
    listener, _ = await join(space.pk, bob)
    await act(listener, "chat", text=text)
    assert named in await refused(listener, "chat")
    assert not await database_sync_to_async(ChatMessage.objects.exists)()
    await close_all(listener)


async def test_anonymous_visitors_read_but_can_not_write(space, bob):
    anonymous, _ = await join(space.pk)
    await act(anonymous, "chat", text="hi")
    assert await refused(anonymous, "chat") == "Log in to take part."
    listener, _ = await join(space.pk, bob)
    await act(listener, "chat", text="from bob")
    assert (await receive_delta(anonymous))["text"] == "from bob"
    await close_all(anonymous, listener)


async def test_slow_mode_spaces_a_listener_s_messages_but_not_the_host_s(space, alice, bob):
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    await act(listener, "set_chat", slow_seconds=30)
    assert await refused(listener, "set_chat") == "Only the host and co-hosts can do that."
    await act(host, "set_chat", slow_seconds=30)
    settings_delta = await receive_delta(listener)
    assert (settings_delta["event"], settings_delta["slow_seconds"]) == ("chat_settings", 30)
    assert settings_delta["by"] == "alice"
    await act(listener, "chat", text="first")
    assert (await receive_delta(listener))["text"] == "first"
    await act(listener, "chat", text="second")
    assert (await refused(listener, "chat")).startswith("Slow mode is on: you can send another message in ")
    await act(host, "chat", text="one")
    await act(host, "chat", text="two")
    assert [(await receive_delta(listener))["text"] for _ in range(2)] == ["one", "two"]
    await close_all(host, listener)


async def test_set_chat_off_stops_everyone_and_speakers_mode_lets_the_stage_write(space, alice, bob, carol):
    await database_sync_to_async(put_on_stage)(space, carol)
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    speaker, _ = await join(space.pk, carol)
    await act(host, "set_chat", mode="off")
    assert (await receive_delta(listener))["mode"] == "off"
    for socket in (listener, speaker, host):
        await act(socket, "chat", text="anyone?")
        assert await refused(socket, "chat") == "The chat is off."
    await act(host, "set_chat", mode="speakers")
    assert (await receive_delta(listener))["mode"] == "speakers"
    await act(listener, "chat", text="me too")
    assert await refused(listener, "chat") == "Only the host, co-hosts and speakers can write in the chat right now."
    await act(speaker, "chat", text="from the stage")
    assert (await receive_delta(listener))["text"] == "from the stage"
    _, snapshot = await join(space.pk, bob)
    assert snapshot["chat"]["mode"] == "speakers"
    await close_all(host, listener, speaker)


async def test_deletes_by_the_author_and_moderators_only(space, alice, bob, carol):
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    other, _ = await join(space.pk, carol)
    room, _ = await join(space.pk)  # an anonymous socket watches what everyone is sent
    sent = {}
    for socket, text in ((listener, "mine"), (other, "carol's"), (host, "the host's")):
        await act(socket, "chat", text=text)
        sent[text] = (await receive_delta(room))["id"]

    await act(other, "delete_message", id=sent["mine"])
    assert await refused(other, "delete_message") == "Only the host and co-hosts can do that."
    await act(listener, "delete_message", id=sent["mine"])
    deleted = await receive_delta(room)
    assert deleted == {"event": "message_deleted", "seq": deleted["seq"], "id": sent["mine"], "by": "bob"}
    await act(host, "delete_message", id=sent["carol's"])
    assert (await receive_delta(room))["by"] == "alice"

    await database_sync_to_async(stage.add_cohost)(space, alice, "carol")
    await act(other, "delete_message", id=sent["the host's"])
    assert await refused(other, "delete_message") == "Co-hosts can't delete the host's messages."

    _, snapshot = await join(space.pk)
    lines = {m["id"]: (m["text"], m["deleted_by"]) for m in snapshot["chat"]["messages"]}
    assert lines == {
        sent["mine"]: ("", "bob"),
        sent["carol's"]: ("", "alice"),
        sent["the host's"]: ("the host's", None),
    }
    await close_all(host, listener, other, room)


async def test_chat_mutes_by_the_right_people_reach_only_moderators_and_the_muted(space, alice, bob, carol):
    await database_sync_to_async(put_on_stage)(space, carol, Role.COHOST)
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    cohost, _ = await join(space.pk, carol)
    anonymous, _ = await join(space.pk)
    await act(listener, "chat_mute", user="carol")
    assert await refused(listener, "chat_mute") == "Only the host and co-hosts can do that."
    await act(cohost, "chat_mute", user="alice")
    assert await refused(cohost, "chat_mute") == "The host can't be muted in the chat."

    await act(cohost, "chat_mute", user="bob")
    muted = await receive_delta(listener)
    assert (muted["event"], muted["user"], muted["muted"], muted["by"]) == ("chat_mute_changed", "bob", True, "carol")
    assert (await receive_delta(host))["event"] == "chat_mute_changed"
    assert await receive_delta(anonymous) == {"event": "noop", "seq": muted["seq"]}
    await act(listener, "chat", text="can I?")
    assert await refused(listener, "chat") == "A host muted you in this chat: you can still listen."

    _, host_view = await join(space.pk, alice)
    _, own_view = await join(space.pk, bob)
    assert host_view["chat"]["muted"] == ["bob"] and own_view["me"]["chat_muted"] is True
    assert own_view["chat"]["muted"] == []

    await act(host, "chat_unmute", user="bob")
    assert (await receive_delta(listener))["muted"] is False
    assert (await receive_delta(anonymous))["event"] == "noop"
    await act(listener, "chat", text="thanks")
    assert (await receive_delta(anonymous))["text"] == "thanks"
    await close_all(host, listener, cohost, anonymous)


async def test_pinning_a_link(space, alice, bob):
    host, _ = await join(space.pk, alice)
    listener, _ = await join(space.pk, bob)
    await act(listener, "pin", url="https://example.com/slides")
    assert await refused(listener, "pin") == "Only the host and co-hosts can do that."
    await act(host, "pin", url="javascript:alert(1)", title="Click")
    assert await refused(host, "pin") == "“url” must be a web address starting with http:// or https://."
    await act(host, "pin", url="https://www.example.com/slides", title="Tonight's slides")
    pinned = await receive_delta(listener)
    link = pinned["link"]
    assert (link["url"], link["title"], link["domain"], link["by"]) == (
        "https://www.example.com/slides",
        "Tonight's slides",
        "example.com",
        "alice",
    )
    _, snapshot = await join(space.pk)
    assert snapshot["pinned"] == link
    await act(host, "unpin")
    assert (await receive_delta(listener))["link"] is None
    await close_all(host, listener)


@override_settings(SPACES_CHAT_MESSAGES_PER_WINDOW=3, SPACES_CHAT_WINDOW_SECONDS=60)
async def test_a_person_s_messages_are_limited_across_their_sockets(space, bob):
    first, _ = await join(space.pk, bob)
    second, _ = await join(space.pk, bob)
    for socket in (first, second, first):
        await act(socket, "chat", text="spam")
    for _ in range(3):
        assert (await receive_delta(first))["text"] == "spam"
    await act(second, "chat", text="one more")
    assert await refused(second, "chat") == "Slow down: you're sending messages too fast."
    await close_all(first, second)


async def test_the_word_filter_refuses_messages_from_a_list_or_a_file(space, bob, tmp_path, settings):
    listener, _ = await join(space.pk, bob)
    settings.SPACES_CHAT_BLOCKED_WORDS = "darn, dang it"
    for text in ("well DARN", "ｄａｒｎ!", "oh dang it"):
        await act(listener, "chat", text=text)
        assert await refused(listener, "chat") == chat.BLOCKED_WORDS
    await act(listener, "chat", text="darning socks, dangit")
    assert (await receive_delta(listener))["text"] == "darning socks, dangit"
    words = tmp_path / "blocked.txt"
    words.write_text("# one a line\nflarn\n")
    settings.SPACES_CHAT_BLOCKED_WORDS = str(words)
    await act(listener, "chat", text="flarn you")
    assert await refused(listener, "chat") == chat.BLOCKED_WORDS
    await close_all(listener)
