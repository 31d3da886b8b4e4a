"""Brute force on the admin log-in (issue 10, item 14): 40 wrong passwords in 21 s went unchecked.

/admin/login/ now only sends staff to allauth's log-in page, whose failed-login limit (5 per account per
5 minutes, 10 per IP per minute) lives in the Django cache: Redis in production, shared by every process.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_login_failed
from django.test import Client

from accounts.models import User
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.django_db

STAFF_PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed login attempts"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser(handle="root", email="root@example.com", password=STAFF_PASSWORD)


@pytest.fixture
def password_checks():
    """How many times a password was actually checked and found wrong."""
    checked: list[str] = []

    def count(sender, credentials, **kwargs):
        checked.append(credentials.get("email") or credentials.get("username", ""))

    user_login_failed.connect(count, dispatch_uid="test-password-checks")
    yield checked
    user_login_failed.disconnect(dispatch_uid="test-password-checks")


def log_in(client: Client, password: str, email: str = "root@example.com"):
    return client.post("/accounts/login/?next=/admin/", {"login": email, "password": password})


def test_the_admin_sends_staff_to_the_site_log_in(client, staff):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    assert response.status_code == 200 and 'name="password"' in response.content.decode()


def test_the_admin_log_in_form_checks_no_password(client, staff, password_checks):
    response = client.post("/admin/login/", {"username": "root", "password": STAFF_PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    for _ in range(20):
        client.post("/admin/login/", {"username": "root", "password": "guess"})
    assert password_checks == []


def test_staff_log_in_and_reach_the_admin(client, staff):
    response = log_in(client, STAFF_PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_wrong_passwords_lock_the_staff_account_out_and_the_right_one_is_refused_meanwhile(
    client, staff, password_checks
):
    for _ in range(40):  # the reported attack
        response = log_in(client, "hunter2")
        assert response.status_code in (200, 429)
    assert len(password_checks) == 5, "only the first five guesses were checked"
    response = log_in(client, STAFF_PASSWORD)
    assert response.status_code in (200, 429)
    assert LOCKED in response.content.decode() or response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_the_lockout_is_told_plainly(client, staff):
    for _ in range(5):
        log_in(client, "hunter2")
    response = log_in(client, STAFF_PASSWORD)
    assert response.status_code == 200
    assert "Too many failed login attempts. Try again later." in response.content.decode()


def test_the_e_mail_s_case_does_not_reset_the_count(client, staff):
    for email in ["root@example.com", "ROOT@example.com", "Root@Example.com", "root@EXAMPLE.com", "rOOt@example.com"]:
        log_in(client, "hunter2", email=email)
    assert LOCKED in log_in(client, STAFF_PASSWORD, email="RoOt@example.com").content.decode()


def test_a_logged_in_user_who_is_not_staff_gets_no_admin_log_in(client, alice):
    client.force_login(alice)
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/admin/").status_code == 302


@pytest.mark.redis
def test_the_lockout_holds_across_processes_through_redis(staff):
    """Two clients stand for two Daphne processes: the second sees the first one's failures."""
    import redis

    first, second = Client(), Client()
    for _ in range(5):
        log_in(first, "hunter2")
    assert redis.Redis.from_url(REDIS_URL).keys("*allauth:rl:*login_failed*"), "the count is in Redis"
    response = log_in(second, STAFF_PASSWORD)
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in second.session
    assert second.get("/admin/").status_code == 302
