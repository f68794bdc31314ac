"""Two-factor sign-in to the admin (crm/admin.py): staff enrol an authenticator app at their
first sign-in and give its code from then on; agents and managers never get in."""

from __future__ import annotations

import re
import time
from base64 import b32encode
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.admin import WRONG_CODE

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
ENROL = "/admin/two-factor/"


@pytest.fixture(autouse=True)
def two_factor_required(settings):
    settings.ADMIN_2FA_REQUIRED = True


@pytest.fixture(params=["staff", "superuser"])
def ops(request, db):
    """An operations user: staff with a model permission, or a superuser."""
    user = get_user_model().objects.create_user(
        "ops", "ops@example.com", PASSWORD, is_staff=True, is_superuser=request.param == "superuser"
    )
    if not user.is_superuser:
        user.user_permissions.add(*_lead_permissions())
    return user


def _lead_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="leads", codename="view_lead")


@pytest.fixture
def authenticator(ops) -> TOTPDevice:
    """The authenticator app ops enrolled earlier."""
    return TOTPDevice.objects.create(user=ops, name="Phone", confirmed=True)


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the app shows now (or that many 30-second steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def admin_sign_in(client: Client, username: str = "ops", otp: str = "", password: str = PASSWORD):
    return client.post(
        "/admin/login/?next=/admin/leads/lead/",
        {"username": username, "password": password, "code": otp, "next": "/admin/leads/lead/"},
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- Enrolment ---------------------------------------------------------------------------------


def test_staff_enrol_an_authenticator_after_their_password_and_only_then_open_the_admin(ops):
    client = Client()
    response = admin_sign_in(client)
    assert response.status_code == 302
    assert response["Location"] == f"{ENROL}?next={quote('/admin/leads/lead/', safe='')}"
    assert client.get("/admin/leads/lead/").status_code == 302  # not yet
    assert client.get("/admin/login/")["Location"].startswith(ENROL)

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html  # the QR code
    device = TOTPDevice.objects.get(user=ops)
    assert not device.confirmed
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    assert shown is not None
    assert shown.group(1).replace(" ", "") == b32encode(device.bin_key).decode()
    assert device.config_url.startswith("otpauth://totp/")
    assert "issuer=Leadline" in device.config_url

    done = client.post(response["Location"], {"code": code(device)})
    assert done.status_code == 302
    assert done["Location"] == "/admin/leads/lead/"
    assert TOTPDevice.objects.get(user=ops).confirmed
    assert client.get("/admin/leads/lead/").status_code == 200


def test_a_wrong_code_confirms_no_authenticator_and_opens_nothing(ops):
    client = Client()
    enrol = admin_sign_in(client)["Location"]
    client.get(enrol)
    response = client.post(enrol, {"code": "000000"})
    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert not TOTPDevice.objects.get(user=ops).confirmed
    assert client.get("/admin/leads/lead/").status_code == 302


def test_the_enrolment_page_goes_only_to_pages_of_this_site(ops):
    client = Client()
    admin_sign_in(client)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=ops)
    done = client.post(f"{ENROL}?next=https://evil.example/", {"code": code(device)})
    assert done["Location"] == "/admin/"


def test_a_session_with_a_password_alone_cannot_add_a_second_authenticator(ops, authenticator):
    client = Client()
    client.force_login(ops)  # e.g. signed in on the agents' page, no code given
    response = client.get(ENROL)
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=ops).count() == 1
    assert client.get("/admin/leads/lead/").status_code == 302


# --- Signing in once enrolled -------------------------------------------------------------------


def test_enrolled_staff_sign_in_with_password_and_code(ops, authenticator):
    client = Client()
    response = admin_sign_in(client, otp=code(authenticator))
    assert response.status_code == 302
    assert response["Location"] == "/admin/leads/lead/"
    assert client.get("/admin/leads/lead/").status_code == 200


def test_the_password_alone_is_not_enough_once_enrolled(ops, authenticator):
    client = Client()
    response = admin_sign_in(client)
    assert response.status_code == 200
    assert "Enter the code from your authenticator app too." in response.content.decode()
    assert not signed_in(client)


def test_a_wrong_code_is_refused_and_the_next_try_must_wait(ops, authenticator, settings):
    # A minute's wait after one wrong code, so a slow machine cannot outwait it between tries.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    client = Client()
    response = admin_sign_in(client, otp="123456" if code(authenticator) != "123456" else "654321")
    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert not signed_in(client)
    assert admin_sign_in(client, otp=code(authenticator)).status_code == 200  # too soon
    assert not signed_in(client)


def test_a_code_opens_the_admin_once(ops, authenticator):
    first = code(authenticator)
    assert admin_sign_in(Client(), otp=first).status_code == 302
    replay = Client()
    assert admin_sign_in(replay, otp=first).status_code == 200
    assert not signed_in(replay)
    time.sleep(1.1)  # the refused replay counts as a wrong code: one second's wait
    assert admin_sign_in(Client(), otp=code(authenticator, steps_ahead=1)).status_code == 302


def test_a_staff_session_from_the_agents_sign_in_page_must_still_give_the_code(ops, authenticator):
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "ops", "password": PASSWORD}).status_code
        == 302
    )
    assert client.get("/admin/leads/lead/").status_code == 302
    page = client.get("/admin/login/?next=/admin/leads/lead/").content.decode()
    assert "code from your authenticator app" in page


def test_admin_password_failures_are_throttled_like_the_agents(ops, authenticator, settings):
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        assert admin_sign_in(Client(), password="wrong").status_code == 200
    response = admin_sign_in(Client(), otp=code(authenticator))
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


# --- Other roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_agents_and_managers_never_get_into_the_admin(request, persona):
    user = request.getfixturevalue(persona).user
    client = Client()
    response = admin_sign_in(client, username=user.username)
    assert response.status_code == 200
    assert "staff account" in response.content.decode()
    assert not signed_in(client)
    client.force_login(user)
    assert client.get(ENROL)["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.filter(user=user).exists()


# --- The local demo ------------------------------------------------------------------------------


def test_with_two_factor_off_staff_open_the_admin_with_a_password(ops, settings):
    settings.ADMIN_2FA_REQUIRED = False
    client = Client()
    response = admin_sign_in(client)
    assert response["Location"] == "/admin/leads/lead/"
    assert client.get("/admin/leads/lead/").status_code == 200


def test_with_two_factor_off_an_enrolled_staff_member_still_gives_the_code(
    ops, authenticator, settings
):
    settings.ADMIN_2FA_REQUIRED = False
    assert admin_sign_in(Client()).status_code == 200
    assert admin_sign_in(Client(), otp=code(authenticator)).status_code == 302


def test_no_one_reads_an_authenticators_key_in_the_admin(ops, authenticator, settings):
    settings.ADMIN_2FA_REQUIRED = False
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    client = Client()
    client.force_login(boss)
    page = client.get(f"/admin/otp_totp/totpdevice/{authenticator.pk}/change/")
    assert page.status_code == 200
    assert authenticator.key not in page.content.decode()
    assert b32encode(authenticator.bin_key).decode() not in page.content.decode()


@pytest.mark.parametrize("username", ["o\x00ps", "\x00"])
def test_a_username_with_nul_is_refused_by_the_form_not_a_500(ops, username):
    """Found by bench/hostile.py on a production server: the field refused the username and
    the code check then read a user that was not there (a 500)."""
    client = Client()

    response = admin_sign_in(client, username=username)

    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
    assert not signed_in(client)
