"""Deltas are numbered in commit order on every process: two writers racing on one speaker's mute, with
their own database connections, leave every client agreeing with the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from live import stage
from rooms.models import Participant
from rooms.services import RoomError
from tests.live.client import RoomClient
from tests.live.roomkit import act, close_all, join, live_space, put_on_stage

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stop_hub"),
]
Role = Participant.Role
ROUNDS, PER_ROUND = 20, 10  # 200 actions in all


def writer(space_id: int, calls) -> threading.Thread:
    def run() -> None:
        try:
            for call in calls:
                with contextlib.suppress(RoomError):  # a mute of someone muted is refused by nobody, but
                    call(space_id)  # a demoted speaker's own unmute would be: the race decides
        finally:
            connection.close()

    return threading.Thread(target=run)


async def drain(socket, client: RoomClient, quiet: float = 1.5) -> None:
    """Feed the client everything until the socket has been quiet for a while (without timing out
    receive_from, which would cancel the consumer)."""
    while not await socket.receive_nothing(timeout=quiet):
        client.receive(json.loads(await socket.receive_from()))


async def test_racing_mutes_leave_every_client_agreeing_with_the_database(alice, bob, carol):
    space = await database_sync_to_async(live_space)(alice)
    await database_sync_to_async(put_on_stage)(space, bob, Role.SPEAKER, muted=True)
    sockets, clients = [], []
    for user in (alice, bob, carol):
        socket, snapshot = await join(space.pk, user)
        sockets.append(socket)
        clients.append(RoomClient(snapshot))

    # Bob flips his own mute while alice keeps muting him, from two connections: 200 actions on one row,
    # in rounds, so that the last word is contested many times, and checked after each round.
    for _round in range(ROUNDS):
        threads = [
            writer(space.pk, [lambda s, f=f: f(s, bob) for f in [stage.mute, stage.unmute] * (PER_ROUND // 4)]),
            writer(space.pk, [lambda s: stage.mute(s, alice, "bob")] * (PER_ROUND // 2)),
        ]
        for thread in threads:
            thread.start()
        await asyncio.gather(*(asyncio.to_thread(thread.join, 60) for thread in threads))
        await asyncio.gather(*(drain(socket, client, quiet=0.3) for socket, client in zip(sockets, clients)))
        is_muted = await database_sync_to_async(lambda: Participant.objects.get(space=space, user=bob).is_muted)()
        for socket, client in zip(sockets, clients):
            if client.has_gap:  # as a real client does after its short wait: start again from a snapshot
                await act(socket, "snapshot")
                await drain(socket, client, quiet=0.3)
            bob_on_stage = next(p for p in client.state["speakers"] if p["user"] == "bob")
            assert bob_on_stage["is_muted"] == is_muted, "the client's view is the database's state"

    for client in clients:
        seqs = [delta["seq"] for delta in client.applied]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "deltas applied once each, in seq order"
        assert len(seqs) > ROUNDS
    await close_all(*sockets)
