"""Subscribing a browser to push notifications through the real views (static/js/push.js posts these), and
the operator's keys: `manage.py vapid_keys`, and the check that catches a mismatched pair."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from push import services
from push.checks import vapid_settings
from push.models import PushSubscription
from tests.conftest import PASSWORD
from tests.push.pushservice import b64url, vapid_claims

pytestmark = pytest.mark.django_db

SUBSCRIBE = reverse("push:subscribe")
UNSUBSCRIBE = reverse("push:unsubscribe")
RENEW = reverse("push:renew")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def devices(user) -> list[str]:
    return sorted(PushSubscription.objects.filter(user=user).values_list("endpoint", flat=True))


def test_a_logged_in_person_turns_notifications_on_for_this_browser(bob, browser):
    phone = browser("bobs-phone")
    answer = logged_in(bob).post(SUBSCRIBE, phone.subscription(), HTTP_USER_AGENT="Mozilla/5.0 (Android 15)")
    assert answer.status_code == 201 and answer.json() == {"ok": True, "devices": 1}
    subscription = PushSubscription.objects.get(user=bob)
    assert subscription.subscription_info() == {
        "endpoint": phone.endpoint,
        "keys": {"p256dh": phone.subscription()["p256dh"], "auth": phone.subscription()["auth"]},
    }
    assert subscription.device == "Mozilla/5.0 (Android 15)"


def test_the_same_browser_again_is_still_one_device(bob, browser):
    phone = browser("bobs-phone")
    client = logged_in(bob)
    client.post(SUBSCRIBE, phone.subscription())
    padded = {**phone.subscription(), "auth": phone.subscription()["auth"] + "=="}  # some browsers pad
    assert client.post(SUBSCRIBE, padded).status_code == 201
    assert devices(bob) == [phone.endpoint]


def test_a_browser_that_changed_hands_notifies_only_its_new_owner(alice, bob, browser):
    shared = browser("family-tablet")
    logged_in(alice).post(SUBSCRIBE, shared.subscription())
    logged_in(bob).post(SUBSCRIBE, shared.subscription())
    assert devices(alice) == [] and devices(bob) == [shared.endpoint]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"p256dh": "not base64!"}, "The p256dh key isn't base64url."),
        ({"p256dh": b64url(b"\x04" + b"\x01" * 64)}, "The p256dh key isn't a P-256 public key."),
        ({"p256dh": b64url(b"\x04" * 30)}, "The p256dh key has the wrong length."),
        ({"auth": b64url(b"short")}, "The auth key has the wrong length."),
        ({"auth": ""}, "auth: This field is required."),
        ({"endpoint": "https://push.example.net/abc"}, "This browser's push service isn't one this server sends to."),
        ({"endpoint": "ftp://127.0.0.1/abc"}, "That isn't a push service's address."),
    ],
)
def test_a_bad_subscription_is_refused_with_a_clear_error(bob, browser, change, error):
    answer = logged_in(bob).post(SUBSCRIBE, {**browser("bobs-phone").subscription(), **change})
    assert answer.status_code == 400 and answer.json() == {"error": error}
    assert devices(bob) == []


def test_only_https_push_services_outside_loopback(settings, bob, browser):
    settings.SPACES_PUSH_SERVICES = ["push.example.net"]
    fields = browser("x").subscription()
    answer = logged_in(bob).post(SUBSCRIBE, {**fields, "endpoint": "http://push.example.net/abc"})
    assert answer.json() == {"error": "A push service must be reached over https."}
    answer = logged_in(bob).post(SUBSCRIBE, {**fields, "endpoint": "https://eu.push.example.net/abc"})
    assert answer.status_code == 201  # a push service's subdomain is that push service


def test_the_intranet_is_not_a_push_service_by_default(vapid, bob):
    fields = {"p256dh": "x", "auth": "y"}
    for endpoint in ["http://127.0.0.1:6379/", "https://10.0.0.5/push", "https://fcm.googleapis.com.evil.net/x"]:
        assert services.endpoint_refusal(endpoint), endpoint
    assert services.endpoint_refusal("https://fcm.googleapis.com/fcm/send/abc") is None
    assert services.endpoint_refusal("https://web.push.apple.com/QGx") is None
    assert logged_in(bob).post(SUBSCRIBE, {**fields, "endpoint": "http://127.0.0.1:6379/"}).status_code == 400


def test_nothing_is_kept_while_push_is_off(settings, bob):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    fields = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "p256dh": "x" * 87, "auth": "y" * 22}
    answer = logged_in(bob).post(SUBSCRIBE, fields)
    assert answer.status_code == 503 and answer.json() == {"error": "Push notifications are off on this server."}
    assert devices(bob) == []


def test_subscribing_needs_a_logged_in_person_and_the_csrf_token(bob, browser):
    phone = browser("phone")
    assert Client().post(SUBSCRIBE, phone.subscription()).json() == {"error": "Log in to get notifications."}
    strict = Client(enforce_csrf_checks=True)
    strict.login(email=bob.email, password=PASSWORD)
    assert strict.post(SUBSCRIBE, phone.subscription()).status_code == 403
    assert devices(bob) == []


def test_turning_off_forgets_only_this_persons_browser(alice, bob, browser):
    bobs, alices = browser("bobs-phone"), browser("alices-phone")
    logged_in(bob).post(SUBSCRIBE, bobs.subscription())
    logged_in(alice).post(SUBSCRIBE, alices.subscription())
    assert logged_in(bob).post(UNSUBSCRIBE, {"endpoint": alices.endpoint}).json() == {"ok": True, "removed": 0}
    assert logged_in(bob).post(UNSUBSCRIBE, {"endpoint": bobs.endpoint}).json() == {"ok": True, "removed": 1}
    assert devices(bob) == [] and devices(alice) == [alices.endpoint]


def test_the_oldest_device_goes_beyond_the_limit(settings, bob, browser):
    settings.SPACES_PUSH_MAX_DEVICES = 2
    client = logged_in(bob)
    phones = [browser(f"phone-{n}") for n in range(3)]
    for phone in phones:
        assert client.post(SUBSCRIBE, phone.subscription()).status_code == 201
    assert devices(bob) == sorted([phones[1].endpoint, phones[2].endpoint])


def test_the_service_worker_renews_a_replaced_subscription_without_cookies(bob, browser):
    old, new = browser("old"), browser("new")
    logged_in(bob).post(SUBSCRIBE, old.subscription())
    worker = Client(enforce_csrf_checks=True)  # no session, no CSRF token: the old endpoint is the proof
    assert worker.post(RENEW, {**new.subscription(), "old_endpoint": old.endpoint}).json() == {"ok": True}
    assert devices(bob) == [new.endpoint]
    unknown = worker.post(RENEW, {**new.subscription(), "old_endpoint": "https://fcm.googleapis.com/nobody"})
    assert unknown.status_code == 404


def test_the_settings_page_offers_notifications_for_this_device(bob, vapid):
    page = logged_in(bob).get(reverse("accounts:edit_profile")).content.decode()
    assert "Notifications on this device" in page
    assert f'data-public-key="{vapid[0]}"' in page and "js/push.js" in page


def test_the_settings_page_says_when_the_server_has_no_push(settings, bob):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    page = logged_in(bob).get(reverse("accounts:edit_profile")).content.decode()
    assert "Push notifications aren't set up on this server." in page and "js/push.js" not in page


def test_vapid_keys_prints_a_pair_that_signs_and_verifies(settings):
    out = io.StringIO()
    call_command("vapid_keys", stdout=out, stderr=io.StringIO())
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = lines["VAPID_PUBLIC_KEY"], lines["VAPID_PRIVATE_KEY"]
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    assert vapid_settings(None) == []
    headers = services.vapid_key().sign({"sub": "mailto:ops@example.com", "aud": "https://fcm.googleapis.com"})
    claims = vapid_claims(headers["Authorization"], lines["VAPID_PUBLIC_KEY"])
    assert claims["aud"] == "https://fcm.googleapis.com"


def test_the_check_catches_keys_that_cannot_work(settings):
    public, private = services.new_key_pair()
    other_public, _ = services.new_key_pair()
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = public, ""
    assert [error.id for error in vapid_settings(None)] == ["push.E001"]
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = public, "not a key"
    assert [error.id for error in vapid_settings(None)] == ["push.E002"]
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = other_public, private
    assert [error.id for error in vapid_settings(None)] == ["push.E003"]
    settings.VAPID_PUBLIC_KEY, settings.VAPID_SUBJECT = public, "ops@example.com"
    assert [error.id for error in vapid_settings(None)] == ["push.W001"]
