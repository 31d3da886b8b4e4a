"""Sign-up, e-mail verification and log-in through the real allauth views."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import override_settings

from accounts.models import User
from tests.conftest import PASSWORD, REDIS_URL

pytestmark = pytest.mark.django_db


def sign_up(client, email="zoe@example.com", handle="zoe_1"):
    return client.post(
        "/accounts/signup/",
        {"email": email, "handle": handle, "display_name": "Zoë", "password1": PASSWORD, "password2": PASSWORD},
    )


@override_settings(ACCOUNT_EMAIL_VERIFICATION="mandatory")
def test_signup_sends_a_verification_mail_whose_link_lets_you_in(client):
    response = sign_up(client)
    assert response.status_code == 302
    user = User.objects.get(email="zoe@example.com")
    assert user.handle == "zoe_1" and user.display_name == "Zoë"
    assert not EmailAddress.objects.get(user=user).verified

    # Unverified: logging in is refused and the mail is sent again.
    client.logout()
    response = client.post("/accounts/login/", {"login": "zoe@example.com", "password": PASSWORD})
    assert "_auth_user_id" not in client.session

    assert mail.outbox, "a verification mail was sent"
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[-1]
    response = client.post(path)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    client.logout()
    response = client.post("/accounts/login/", {"login": "zoe@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_refuses_a_handle_taken_in_another_case(client, alice):
    response = sign_up(client, handle="ALICE")
    assert response.status_code == 200
    assert "That handle is taken." in response.content.decode()
    assert not User.objects.filter(email="zoe@example.com").exists()


@pytest.mark.parametrize("handle", ["ab", "much_too_long_handle", "no spaces", "dash-es", "émile"])
def test_signup_refuses_a_malformed_handle(client, handle):
    response = sign_up(client, handle=handle)
    assert response.status_code == 200
    content = response.content.decode()
    assert "3 to 15 characters" in content or "at most 15 characters" in content
    assert not User.objects.exists()


def test_login_by_email(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_repeated_failed_logins_lock_the_account_out(client, alice):
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": "alice@example.com", "password": "wrong"})
        assert response.status_code == 200
    # The right password is refused too while the limit holds.
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.redis
def test_failed_login_limit_lives_in_redis_so_it_holds_across_processes(client, alice):
    """The limit is counted in the Redis cache, which every Daphne process shares."""
    import redis
    from django.core.cache import cache

    cache.clear()
    for _ in range(5):
        client.post("/accounts/login/", {"login": "alice@example.com", "password": "wrong"})
    keys = redis.Redis.from_url(REDIS_URL).keys("*allauth:rl:*login_failed*")
    assert keys, "allauth stored its counter in Redis"
    # A second client (another process would look the same to the server) is refused as well.
    from django.test import Client

    response = Client().post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    cache.clear()


def test_logout_is_a_post(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
