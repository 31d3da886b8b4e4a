"""Seat limits hold when requests race: two approvals for the last seat give one speaker."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from live import stage
from rooms.models import Participant
from rooms.services import RoomError
from tests.live.roomkit import live_space

Role = Participant.Role
ROUNDS = 3  # a race that passes once by luck should not pass three times


def race(*calls) -> list[BaseException | None]:
    """Run the calls on threads released together; each thread has its own database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[BaseException | None] = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            while True:
                try:
                    call()
                    break
                except OperationalError as exc:
                    # SQLite's in-memory test database shares one cache between threads and answers
                    # "locked" at once where the file database (the real one) waits its busy timeout.
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001  (the test inspects it)
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def last_seat_race(make_user, round_: int) -> None:
    host, cohost, carol, dave = (make_user(f"{name}{round_}") for name in ("host", "cohost", "carol", "dave"))
    space = live_space(host)
    stage.add_cohost(space, host, cohost.handle)
    for user in (carol, dave):
        stage.request_to_speak(space, user)
    with override_settings(SPACES_MAX_SPEAKERS=1):
        results = race(
            lambda: stage.approve_request(space.pk, host, carol.handle),
            lambda: stage.approve_request(space.pk, cohost, dave.handle),
        )
    errors = [r for r in results if r is not None]
    assert len(errors) == 1 and isinstance(errors[0], RoomError), results
    assert "speaker seats are taken" in str(errors[0])
    assert Participant.objects.filter(space=space, role=Role.SPEAKER).count() == 1


def cohost_race(make_user, round_: int) -> None:
    host = make_user(f"host{round_}")
    space = live_space(host)
    users = [make_user(f"user{round_}x{i}") for i in range(4)]
    with override_settings(SPACES_MAX_COHOSTS=2):
        results = race(*[lambda u=u: stage.add_cohost(space.pk, host, u.handle) for u in users])
    assert sum(r is None for r in results) == 2, results
    assert all(isinstance(r, RoomError) for r in results if r is not None), results
    assert Participant.objects.filter(space=space, role=Role.COHOST).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_approvals_for_the_last_seat_give_one_speaker(make_user):
    for round_ in range(ROUNDS):
        last_seat_race(make_user, round_)


@pytest.mark.django_db(transaction=True)
def test_cohost_appointments_racing_stop_at_the_limit(make_user):
    for round_ in range(ROUNDS):
        cohost_race(make_user, round_)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvals_for_the_last_seat_give_one_speaker_on_postgres(make_user):
    assert connection.vendor == "postgresql"
    for round_ in range(ROUNDS):
        last_seat_race(make_user, round_)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cohost_appointments_racing_stop_at_the_limit_on_postgres(make_user):
    assert connection.vendor == "postgresql"
    for round_ in range(ROUNDS):
        cohost_race(make_user, round_)
