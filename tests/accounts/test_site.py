"""The site as a whole: health check, deploy checks, admin."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import User

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_check_deploy_is_clean_with_production_variables():
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "False",
        "SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-key-for-the-test",
        "ALLOWED_HOSTS": "spaces.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://spaces.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/spaces"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "EMAIL_HOST": "smtp.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_staff_can_ban_a_user_from_the_admin(client, alice, bob):
    admin = User.objects.create_superuser(handle="root", email="root@example.com", password="pw")
    client.force_login(admin)
    response = client.post("/admin/accounts/user/", {"action": "ban_users", "_selected_action": [bob.pk]}, follow=True)
    assert "Banned 1 user(s)." in response.content.decode()
    bob.refresh_from_db()
    assert not bob.is_active
    # A banned user can no longer log in.
    client.logout()
    client.post("/accounts/login/", {"login": "bob@example.com", "password": "listen-to-the-room-42"})
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("model", ["user", "follow", "block"])
def test_admin_lists_every_account_model(client, model):
    admin = User.objects.create_superuser(handle="root", email="root@example.com", password="pw")
    client.force_login(admin)
    assert client.get(f"/admin/accounts/{model}/?q=x").status_code == 200


def test_pages_render_for_anonymous_and_logged_in(client, alice):
    for path in ["/", "/accounts/login/", "/accounts/signup/", "/u/alice/", "/u/alice/followers/"]:
        assert client.get(path).status_code == 200, path
    client.force_login(alice)
    for path in ["/", "/u/alice/", "/settings/profile/"]:
        assert client.get(path).status_code == 200, path


def test_demo_command_loads_people_once(capsys):
    from django.core.management import call_command

    call_command("demo")
    assert User.objects.filter(handle="ada").exists()
    count = User.objects.count()
    call_command("demo")
    assert User.objects.count() == count
