"""Follow, unfollow and block rules."""

import pytest
from django.db import IntegrityError, transaction

from accounts import services
from accounts.models import Block, Follow

pytestmark = pytest.mark.django_db


def test_following_shows_on_both_profiles(client, alice, bob):
    client.force_login(alice)
    response = client.post("/u/bob/follow/", follow=True)
    assert "You follow @bob." in response.content.decode()
    assert Follow.objects.filter(follower=alice, followee=bob).exists()
    page = client.get("/u/bob/").content.decode()
    assert "<strong>1</strong> Follower" in page
    assert "<strong>1</strong> Following" in client.get("/u/alice/").content.decode()


def test_following_twice_makes_one_follow(client, alice, bob):
    client.force_login(alice)
    client.post("/u/bob/follow/")
    client.post("/u/bob/follow/")
    assert Follow.objects.filter(follower=alice, followee=bob).count() == 1


def test_handles_are_case_insensitive_in_urls(client, alice, bob):
    client.force_login(alice)
    client.post("/u/BOB/follow/")
    assert Follow.objects.filter(follower=alice, followee=bob).exists()


def test_you_cannot_follow_yourself(client, alice):
    client.force_login(alice)
    response = client.post("/u/alice/follow/", follow=True)
    assert "You can&#x27;t follow yourself." in response.content.decode()
    assert not Follow.objects.exists()


def test_the_database_refuses_a_self_follow_and_a_duplicate(alice, bob):
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=alice, followee=alice)
    Follow.objects.create(follower=alice, followee=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=alice, followee=bob)


def test_unfollow_is_idempotent(client, alice, bob):
    services.follow(alice, bob)
    client.force_login(alice)
    client.post("/u/bob/unfollow/")
    response = client.post("/u/bob/unfollow/")
    assert response.status_code == 302
    assert not Follow.objects.exists()


def test_follow_needs_a_post_with_csrf(alice, bob):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/u/bob/follow/").status_code == 405
    assert client.post("/u/bob/follow/").status_code == 403
    assert not Follow.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, bob):
    response = client.post("/u/bob/follow/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_blocking_removes_follows_both_ways_and_stops_following(client, alice, bob):
    services.follow(alice, bob)
    services.follow(bob, alice)
    client.force_login(alice)
    client.post("/u/bob/block/")
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    assert not Follow.objects.exists()

    client.force_login(bob)
    response = client.post("/u/alice/follow/", follow=True)
    assert "@alice has blocked you." in response.content.decode()
    assert not Follow.objects.exists()


def test_unblocking_allows_following_again(alice, bob):
    services.block(alice, bob)
    services.unblock(alice, bob)
    assert services.follow(bob, alice) is True


def test_follower_lists_are_paginated(client, make_user, alice):
    for i in range(35):
        services.follow(make_user(f"fan{i:02d}"), alice)
    page1 = client.get("/u/alice/followers/").content.decode()
    assert "fan00" in page1 and "fan34" not in page1
    assert "Page 1 of 2" in page1
    page2 = client.get("/u/alice/followers/?page=2").content.decode()
    assert "fan34" in page2
    assert "fan00" in client.get("/u/fan00/following/").content.decode()


def test_unknown_and_banned_profiles_are_404(client, alice):
    assert client.get("/u/nobody/").status_code == 404
    services.ban(alice)
    assert client.get("/u/alice/").status_code == 404


def test_profile_edit_validates_the_handle(client, alice, bob):
    client.force_login(alice)
    response = client.post("/settings/profile/", {"display_name": "A", "handle": "Bob", "bio": "hi"})
    assert "That handle is taken." in response.content.decode()
    response = client.post("/settings/profile/", {"display_name": "A", "handle": "alice_2", "bio": "hi"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.handle == "alice_2" and alice.username == "alice_2"


def test_follow_returns_to_a_local_next_but_never_to_another_site(client, alice, bob):
    client.force_login(alice)
    assert client.post("/u/bob/follow/", {"next": "/search/?q=bob"}).url == "/search/?q=bob"
    assert client.post("/u/bob/unfollow/", {"next": "https://evil.example/phish"}).url == "/u/bob/"
    assert client.post("/u/bob/follow/", {"next": "//evil.example/phish"}).url == "/u/bob/"
