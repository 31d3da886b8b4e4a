"""Demo Spaces for `python manage.py demo`: topics, one live Space with speakers, one upcoming."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User

from . import services
from .models import Participant, Reminder, Space, Topic

TOPICS = ["Technology", "Science", "History", "Music", "Film", "Startups", "Open source", "Books"]


def create_demo_spaces(users: dict[str, User]) -> None:
    """Go through the services, as a user would; does nothing for a host who already has Spaces."""
    topics = {name: Topic.objects.get_or_create(slug=slugify(name), defaults={"name": name})[0] for name in TOPICS}
    people = list(users.values())
    if len(people) < 2:
        return
    host, upcoming_host = people[0], people[1]
    speakers = people[1:3]
    listeners = people[3:]

    if not Space.objects.filter(host=host).exists():
        live = services.create_space(
            host,
            title="Poetical science: what machines could compose",
            description=(
                "An open conversation about creativity and computation. "
                "Notes: https://en.wikipedia.org/wiki/Ada_Lovelace"
            ),
            topics=[topics["Technology"], topics["Science"], topics["History"]],
            start_now=True,
        )
        # The live room's stage actions are the room's own; the demo seats its speakers directly.
        for speaker in speakers:
            Participant.objects.update_or_create(
                space=live, user=speaker, defaults={"role": Participant.Role.SPEAKER, "is_muted": False}
            )
        # The last speaker's voice is a recorded clip the media engine plays (media.demo_voice), so the demo
        # speaks. Who is listening comes from presence only, as in every Space.
        Space.objects.filter(pk=live.pk).update(demo_voice=speakers[-1])

    if not Space.objects.filter(host=upcoming_host).exists():
        upcoming = services.create_space(
            upcoming_host,
            title="Compilers, bugs and the first moth: ask me anything",
            description="Bring your debugging war stories.",
            topics=[topics["Technology"], topics["Open source"]],
            scheduled_for=(timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0),
        )
        for person in [host, *listeners]:
            Reminder.objects.get_or_create(space=upcoming, user=person)
