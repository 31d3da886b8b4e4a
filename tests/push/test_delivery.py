"""Phones hear about Spaces: "a host you follow is live" and "it's starting" arrive, encrypted, at each
device's push service, signed with the site's VAPID key; a push service's "gone" (404/410) removes that
device. The push service here is a real HTTP server on loopback; each browser decrypts what it gets."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from jobs.models import Job
from push.models import PushSubscription
from rooms import notifications, services
from rooms.models import Notification, Space
from tests.push.pushservice import vapid_claims

pytestmark = pytest.mark.django_db


def subscribe(user, browser) -> None:
    client = Client()
    client.force_login(user)
    assert client.post(reverse("push:subscribe"), browser.subscription()).status_code == 201


def go_live(host, capture, title: str = "Night sky") -> Space:
    with capture(execute=True):
        return services.create_space(host, title=title, start_now=True)


def test_a_follower_hears_on_their_phone_that_the_host_is_live(
    settings, alice, bob, browser, push_service, vapid, django_capture_on_commit_callbacks
):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    accounts.follow(bob, alice)
    space = go_live(alice, django_capture_on_commit_callbacks)

    [delivery] = push_service.to(phone)
    assert phone.read(delivery) == {
        "title": "Alice Liddell is live",
        "body": "Night sky",
        "url": f"{settings.SITE_URL}/spaces/{space.pk}/",
        "tag": f"space-{space.pk}-host_live",
    }
    # Signed for this push service by the site's key, and marked as worth waking the phone for.
    claims = vapid_claims(delivery.headers["authorization"], vapid[0])
    assert claims["aud"] == push_service.origin and claims["sub"] == "mailto:ops@example.com"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert delivery.headers["ttl"] == str(settings.SPACES_PUSH_TTL_SECONDS)
    assert delivery.headers["urgency"] == "high" and len(delivery.headers["topic"]) == 32
    assert PushSubscription.objects.get(user=bob).last_pushed_at is not None


def test_a_reminder_holder_hears_that_it_is_starting(
    alice, bob, browser, push_service, django_capture_on_commit_callbacks
):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    space = Space.objects.create(host=alice, title="Moths", scheduled_for=timezone.now() + timedelta(hours=1))
    services.toggle_reminder(space, bob)
    with django_capture_on_commit_callbacks(execute=True):
        services.start_space(space, alice)
    [delivery] = push_service.to(phone)
    message = phone.read(delivery)
    assert (message["title"], message["body"]) == ("Starting now", "Moths · hosted by @alice")


def test_every_device_of_a_person_is_told_and_nobody_else(
    alice, bob, carol, browser, push_service, django_capture_on_commit_callbacks
):
    phone, laptop, carols = browser("bobs-phone"), browser("bobs-laptop"), browser("carols-phone")
    subscribe(bob, phone)
    subscribe(bob, laptop)
    subscribe(carol, carols)  # carol doesn't follow alice
    accounts.follow(bob, alice)
    go_live(alice, django_capture_on_commit_callbacks)
    assert len(push_service.to(phone)) == 1 and len(push_service.to(laptop)) == 1
    assert push_service.to(carols) == []
    assert phone.read(push_service.to(phone)[0])["title"] == "Alice Liddell is live"


@pytest.mark.parametrize("gone", [404, 410])
def test_a_subscription_the_push_service_calls_gone_is_removed(
    alice, bob, browser, push_service, django_capture_on_commit_callbacks, gone
):
    expired, live = browser("expired"), browser("live")
    subscribe(bob, expired)
    subscribe(bob, live)
    push_service.answers["/push/expired"] = gone
    accounts.follow(bob, alice)
    go_live(alice, django_capture_on_commit_callbacks)
    assert list(PushSubscription.objects.filter(user=bob).values_list("endpoint", flat=True)) == [live.endpoint]
    assert len(push_service.to(live)) == 1


def test_a_push_service_failing_for_a_while_keeps_the_subscription(
    alice, bob, browser, push_service, django_capture_on_commit_callbacks
):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    push_service.answers["/push/bobs-phone"] = 503
    accounts.follow(bob, alice)
    go_live(alice, django_capture_on_commit_callbacks)
    assert len(push_service.to(phone)) == 1
    assert PushSubscription.objects.filter(user=bob).exists()
    assert Notification.objects.filter(recipient=bob, kind=Notification.Kind.HOST_LIVE).exists()  # still in the app


def test_people_without_a_device_cost_no_push_job(alice, bob, push_service, django_capture_on_commit_callbacks):
    accounts.follow(bob, alice)
    go_live(alice, django_capture_on_commit_callbacks)
    assert not Job.objects.filter(task="push.tasks.send_push").exists()
    assert push_service.deliveries == []


def test_a_rerun_of_a_delivery_job_buzzes_nobody_twice(
    alice, bob, browser, push_service, django_capture_on_commit_callbacks
):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    accounts.follow(bob, alice)
    space = go_live(alice, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        notifications.deliver(space.pk, Notification.Kind.HOST_LIVE, [bob.pk])  # as a retried job would
    assert len(push_service.to(phone)) == 1


def test_blocked_followers_get_no_push(alice, bob, browser, push_service, django_capture_on_commit_callbacks):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    accounts.follow(bob, alice)
    accounts.block(alice, bob)
    go_live(alice, django_capture_on_commit_callbacks)
    assert push_service.to(phone) == []


def test_nothing_is_pushed_once_the_operator_turns_push_off(
    settings, alice, bob, browser, push_service, django_capture_on_commit_callbacks
):
    phone = browser("bobs-phone")
    subscribe(bob, phone)
    accounts.follow(bob, alice)
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    go_live(alice, django_capture_on_commit_callbacks)
    assert push_service.deliveries == []
    assert Notification.objects.filter(recipient=bob).exists()
