"""Names and handles refuse control characters (a newline in a name broke every e-mail of its host)."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.validators import first_refused_character
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# A newline (the reported attack), a carriage return, a tab, an escape, NEL, a right-to-left override,
# a zero-width space, a byte-order mark and the Unicode line separator.
HOSTILE = ["Al\nice", "Al\rice", "Al\tice", "Al\x1bice", "Al\x85ice", "Al\u202eice", "Al\u200bice", "Al\ufeffice"]
HOSTILE += ["Al\u2028ice"]


def error_under(response, field: str) -> list[str]:
    return response.context["form"].errors.get(field, [])


@pytest.mark.parametrize("name", HOSTILE)
def test_the_profile_form_refuses_a_control_character_in_the_name_and_keeps_the_old_one(client, alice, name):
    client.force_login(alice)
    response = client.post("/settings/profile/", {"display_name": name, "handle": "alice", "bio": "hi"})
    assert response.status_code == 200
    errors = error_under(response, "display_name")
    assert errors and "can't contain" in errors[0]
    assert "Type it again without it." in response.content.decode()
    alice.refresh_from_db()
    assert alice.display_name == "Alice Liddell" and alice.bio == ""


def test_the_error_names_what_was_refused(client, alice):
    client.force_login(alice)
    response = client.post("/settings/profile/", {"display_name": "Al\nice", "handle": "alice"})
    assert error_under(response, "display_name") == ["This can't contain a line break. Type it again without it."]


def test_a_bio_keeps_its_line_breaks_but_not_other_control_characters(client, alice):
    client.force_login(alice)
    response = client.post("/settings/profile/", {"display_name": "Alice", "handle": "alice", "bio": "one\r\ntwo"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.bio.splitlines() == ["one", "two"]
    response = client.post("/settings/profile/", {"display_name": "Alice", "handle": "alice", "bio": "one\x07two"})
    assert error_under(response, "bio")
    alice.refresh_from_db()
    assert alice.bio.splitlines() == ["one", "two"]


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström",
        "李小龙",
        "Ana 👩\u200d💻",
        "می\u200cخواهم",
        "Wales 🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
    ],
)
def test_ordinary_names_in_any_script_are_kept(client, alice, name):
    client.force_login(alice)
    response = client.post("/settings/profile/", {"display_name": name, "handle": "alice"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.display_name == name


def test_signup_refuses_a_control_character_in_the_name_and_creates_nobody(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "zoe@example.com",
            "handle": "zoe",
            "display_name": "Zoe\nBcc: everyone@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert error_under(response, "display_name")
    assert not User.objects.filter(email="zoe@example.com").exists()


def test_a_handle_with_a_trailing_newline_is_refused_by_the_model(alice):
    # The handle pattern ended in `$`, which also matches before a final newline.
    alice.handle = "alice\n"
    with pytest.raises(ValidationError) as caught:
        alice.full_clean()
    assert "handle" in caught.value.message_dict


@pytest.mark.parametrize("field", ["display_name", "bio"])
def test_the_model_refuses_what_the_forms_refuse(alice, field):
    setattr(alice, field, "x\x00y" if field == "bio" else "x\ny")
    with pytest.raises(ValidationError) as caught:
        alice.full_clean()
    assert field in caught.value.message_dict


def test_the_admin_refuses_a_control_character_in_a_name(client, alice):
    staff = User.objects.create_superuser(handle="root", email="root@example.com", password="pw")
    client.force_login(staff)
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(display_name="Alice\r\nX-Evil: 1", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    data.pop("password", None)
    data["groups"], data["user_permissions"] = [], []
    response = client.post(f"/admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 200
    assert "display_name" in response.context["adminform"].form.errors
    alice.refresh_from_db()
    assert alice.display_name == "Alice Liddell"


@pytest.mark.parametrize(
    ("text", "multiline", "refused"),
    [("a\nb", False, "\n"), ("a\nb", True, None), ("a\u202eb", True, "\u202e"), ("plain", False, None)],
)
def test_first_refused_character(text, multiline, refused):
    assert first_refused_character(text, multiline=multiline) == refused
