"""Recording in the live room: the host switches it on and off, and each person chooses whether their voice
may be in it ("don't record my voice": heard live, left out of the recorded mix).

Stage actions like live.stage's (dispatched from stage.STAGE_ACTIONS): they check the actor against the
database, change it holding the Space row, and emit their delta in that transaction. The recordings app
keeps the audio; it hears of the switch through `recording_switched`, so the live room never imports it.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from rooms.models import Participant
from rooms.services import RoomError

from . import events
from .protocol import events as ev
from .roles import AnyUser, SpaceRef
from .seats import enter, mine, need_host

# sender=Space, space=..., on=bool, at=datetime; sent inside the transaction that switched it.
recording_switched = Signal()


def set_recording(space: SpaceRef, actor: AnyUser, on: bool) -> None:
    """The host starts or stops recording while live. Everyone in the room sees `recording_changed` (REC)."""
    with transaction.atomic():
        seat = enter(space, actor)
        need_host(seat, "start or stop recording")
        if seat.space.record == on:
            return
        seat.space.record = on
        seat.space.save(update_fields=["record"])
        recording_switched.send(sender=type(seat.space), space=seat.space, on=on, at=timezone.now())
        events.emit(seat.space.pk, ev.RecordingChanged(recording=on, by=seat.actor.handle))


def record_my_voice(space: SpaceRef, actor: AnyUser, on: bool) -> None:
    """Consent (or not) to your voice being in the recording. Listeners may answer before they go on stage;
    the host's choice to record covers the host."""
    with transaction.atomic():
        seat = enter(space, actor)
        if seat.role == Participant.Role.HOST:
            raise RoomError("You're the host: recording covers your voice. Stop recording to leave it out.")
        me = mine(seat)
        if me.record_voice == on:
            return
        me.record_voice = on
        me.save(update_fields=["record_voice", "updated_at"])
        events.emit(
            seat.space.pk, ev.VoiceConsentChanged(user=seat.actor.handle, user_id=seat.actor.pk, record_voice=on)
        )
