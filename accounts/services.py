"""Every change to follows and blocks goes through here, from views, admin and tests alike."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from . import ratelimit, signals
from .models import Block, Follow, User


class AccountError(Exception):
    """A refused action; the message is shown to the user as it is."""


def is_blocked(blocker: User, other: User) -> bool:
    return Block.objects.filter(blocker=blocker, blocked=other).exists()


def follow(follower: User, followee: User) -> bool:
    """Follow `followee`. Returns True if a new follow was made; following twice is a no-op."""
    if follower.pk == followee.pk:
        raise AccountError("You can't follow yourself.")
    if not followee.is_active:
        raise AccountError("This account is not active.")
    if is_blocked(followee, follower):
        raise AccountError(f"@{followee.handle} has blocked you.")
    if is_blocked(follower, followee):
        raise AccountError(f"You have blocked @{followee.handle}. Unblock them first.")
    if Follow.objects.filter(follower=follower, followee=followee).exists():
        return False
    # Counted per new follow, so that a follow/unfollow storm is held back as much as a mass-follow.
    if not ratelimit.allow("follow", follower.pk, limit=settings.SPACES_MAX_FOLLOWS_PER_HOUR, window=3600):
        raise AccountError("You've followed a lot of people in the last hour. Try again later.")
    try:
        with transaction.atomic():
            _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    except IntegrityError:  # a concurrent request made the same follow
        return False
    return created


def unfollow(follower: User, followee: User) -> bool:
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    return bool(deleted)


@transaction.atomic
def block(blocker: User, blocked: User) -> bool:
    """Block `blocked`: they stop following `blocker` (and the reverse), and cannot follow again."""
    if blocker.pk == blocked.pk:
        raise AccountError("You can't block yourself.")
    Follow.objects.filter(follower=blocked, followee=blocker).delete()
    Follow.objects.filter(follower=blocker, followee=blocked).delete()
    try:
        with transaction.atomic():
            _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    except IntegrityError:
        return False
    if created:
        signals.user_blocked.send(sender=User, blocker=blocker, blocked=blocked)
    return created


def unblock(blocker: User, blocked: User) -> bool:
    deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    return bool(deleted)


@transaction.atomic
def ban(user: User, *, by: User | None = None) -> None:
    """Staff ban: the account can no longer log in, its sessions stop working at the next request, and
    (through `user_banned`) its live Space ends, its scheduled ones are cancelled and its sockets close.
    `by`: the staff member, for the moderation log."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    signals.user_banned.send(sender=User, user=user, by=by)


def search_people(term: str) -> QuerySet[User]:
    """Active users whose handle or display name contains `term`."""
    return User.objects.filter(is_active=True).filter(Q(handle__icontains=term) | Q(display_name__icontains=term))
