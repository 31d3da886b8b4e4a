"""What the site calls itself: the Sites record follows SITE_DOMAIN / SITE_NAME (mail subjects say
"[Spaces]", not "[example.com]"), the admin is "Spaces admin" with distinct sections, sign-up errors sit
under their own field, and a log line is printed once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.sites.models import Site
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def sign_up(client, **fields):
    data = {
        "email": "zoe@example.com",
        "handle": "zoe_1",
        "display_name": "Zoë",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    return client.post("/accounts/signup/", {**data, **fields})


@override_settings(ACCOUNT_EMAIL_VERIFICATION="mandatory")
def test_the_verification_mail_names_the_site(client):
    assert sign_up(client).status_code == 302
    [message] = mail.outbox
    assert message.subject.startswith("[Spaces] "), message.subject
    assert "example.com]" not in message.subject


@pytest.fixture
def forget_cached_site():
    yield
    Site.objects.clear_cache()  # the test's record is rolled back; the per-process cache must follow


@override_settings(ACCOUNT_EMAIL_VERIFICATION="mandatory", SITE_DOMAIN="talk.example.org", SITE_NAME="Town Hall")
def test_migrate_brings_the_site_record_in_line_with_the_settings(client, forget_cached_site):
    call_command("migrate", verbosity=0)  # every deploy runs it; post_migrate writes the record
    site = Site.objects.get_current()
    assert (site.domain, site.name) == ("talk.example.org", "Town Hall")
    sign_up(client)
    assert mail.outbox[0].subject.startswith("[Town Hall] ")


def test_the_admin_is_spaces_admin_with_distinct_sections(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert "Spaces admin" in page and "Django administration" not in page
    sections = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', page)
    assert len(sections) == len(set(sections)), sections
    assert "People" in sections and "Accounts" in sections


def test_a_sign_up_error_sits_under_its_own_field(client, alice):
    page = sign_up(client, handle="alice", password2="something-else-42").content.decode()
    fields = {
        name: html
        for name, html in re.findall(
            r'data-field="(\w+)">(.*?)</div>\s*(?=<div class="field|<input|<button|$)', page, re.S
        )
    }
    assert "That handle is taken." in fields["handle"]
    assert "That handle is taken." not in fields["email"] + fields["display_name"]
    assert "same password" in fields["password2"] and "same password" not in fields["password1"]


def test_a_request_is_logged_once(tmp_path):
    """`make run` serves with runserver: Django's own console handler and ours printed each line twice."""
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.channels.server').info('HTTP GET /probe 200')"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_site.settings",
        "DEBUG": "True",
        "SPACES_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("HTTP GET /probe 200") == 1, done.stderr
