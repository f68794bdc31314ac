"""Signing in: password with throttling, password reset by email, Sign in with Google for
existing agents only (against a local server that speaks Google's OAuth 2.0 protocol)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from social_core.backends import utils as backend_utils
from social_core.backends.google import GoogleOAuth2
from social_core.exceptions import AuthPolicyError
from social_django.models import UserSocialAuth

from leads.auth import DEVICE_COOKIE, require_existing_agent
from leads.models import Agent, CacheEntry

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def sign_in(client: Client, username: str, password: str, ip: str = "203.0.113.5"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


# --- Password --------------------------------------------------------------------------------


def test_the_sign_in_page_renders_for_a_phone(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="viewport"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Forgot your password?" in page
    assert "Sign in with Google" not in page  # no Google keys configured


def test_an_agent_signs_in_with_a_password_and_lands_on_today(client, alice):
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/today/"
    assert DEVICE_COOKIE in response.cookies
    assert client.get("/today/").status_code == 200


def test_a_session_expires(client, alice, settings):
    response = sign_in(client, "alice", PASSWORD)
    assert response.cookies["sessionid"]["max-age"] == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_COOKIE_AGE <= 60 * 60 * 12


def test_signing_out_is_a_post_and_ends_the_session(client, alice):
    sign_in(client, "alice", PASSWORD)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client, alice):
    response = sign_in(client, "alice", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_five_failures_for_a_username_stop_further_tries_even_the_right_one(client, alice):
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_that_fails_on_many_usernames_is_stopped(client, alice, settings):
    for n in range(settings.LOGIN_FAILURES_PER_IP):
        sign_in(client, f"user{n}", "wrong", ip="198.51.100.7")
    assert sign_in(client, "alice", PASSWORD, ip="198.51.100.7").status_code == 429
    assert sign_in(Client(), "alice", PASSWORD, ip="198.51.100.8").status_code == 302


def test_an_attacker_cannot_lock_alice_out_of_a_browser_she_used_before(alice):
    alices_phone = Client()
    assert sign_in(alices_phone, "alice", PASSWORD).status_code == 302
    alices_phone.post("/accounts/logout/")

    for n in range(10):  # from many addresses, so the address limit never trips
        sign_in(Client(), "alice", "guess", ip=f"192.0.2.{n}")
    assert sign_in(Client(), "alice", PASSWORD, ip="192.0.2.99").status_code == 429

    assert sign_in(alices_phone, "alice", PASSWORD).status_code == 302


def test_a_known_browser_signs_in_from_an_address_an_attacker_has_throttled(alice, bob, mona):
    """Behind one shared address (an office NAT, or every client when NUM_PROXIES is wrong and
    the proxy's address is all the app sees), the agents who signed in there before keep
    signing in while an attacker's failures throttle the address."""
    office = "198.51.100.20"
    phones = {}
    for agent in (alice, bob, mona):
        phones[agent.user.username] = Client()
        assert (
            sign_in(
                phones[agent.user.username], agent.user.username, PASSWORD, ip=office
            ).status_code
            == 302
        )
        phones[agent.user.username].post("/accounts/logout/")

    for n in range(30):
        sign_in(Client(), f"guess{n}", "wrong", ip=office)
    assert sign_in(Client(), "alice", PASSWORD, ip=office).status_code == 429  # a new browser

    signed_in = [
        username
        for username, phone in phones.items()
        if sign_in(phone, username, PASSWORD, ip=office).status_code == 302
    ]
    assert signed_in == ["alice", "bob", "mona"]


def test_a_known_browser_still_has_a_limit_of_its_own(client, alice, settings):
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 429


def test_a_browser_known_for_one_user_is_a_stranger_for_another(alice, oscar, settings):
    oscars_laptop = Client()
    assert sign_in(oscars_laptop, "oscar", PASSWORD, ip="198.51.100.30").status_code == 302
    oscars_laptop.post("/accounts/logout/")
    for n in range(settings.LOGIN_FAILURES_PER_IP):
        sign_in(oscars_laptop, f"user{n}", "wrong", ip="198.51.100.30")
    assert sign_in(oscars_laptop, "alice", PASSWORD, ip="198.51.100.30").status_code == 429


def test_a_forged_device_cookie_counts_for_nothing(alice):
    for n in range(5):
        sign_in(Client(), "alice", "guess", ip=f"192.0.2.{n}")
    forger = Client()
    forger.cookies[DEVICE_COOKIE] = "forged:value"
    assert sign_in(forger, "alice", PASSWORD, ip="192.0.2.50").status_code == 429


def test_failures_are_forgotten_after_the_window(client, alice, settings):
    # Two seconds: the database cache keeps whole seconds, so a window may end up to one early.
    settings.LOGIN_FAILURE_WINDOW = 2
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    time.sleep(2.2)
    assert sign_in(client, "alice", PASSWORD).status_code == 302


SECOND_WORKER = """
import django
django.setup()
from django.test import Client
for _ in range(5):
    Client().post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="192.0.2.77"
    )
"""


@pytest.mark.django_db(transaction=True)
def test_failures_counted_by_one_web_worker_hold_in_another(alice):
    """gunicorn's workers are processes: the counts must live outside them (the database
    cache without Redis), or each worker would allow its own five failures."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    subprocess.run(
        [sys.executable, "-c", SECOND_WORKER],
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "crm.test_settings"},
        check=True,
        timeout=60,
    )
    assert sign_in(Client(), "alice", PASSWORD, ip="192.0.2.78").status_code == 429


def test_without_redis_the_counters_are_kept_in_the_database(settings):
    if settings.REDIS_URL:
        assert settings.CACHES["throttle"]["BACKEND"].endswith("RedisCache")
    else:
        assert settings.CACHES["throttle"]["BACKEND"] == "leads.cache.CounterDatabaseCache"
        assert settings.CACHES["throttle"]["LOCATION"] == CacheEntry._meta.db_table


def test_the_sign_in_form_needs_its_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, "alice", PASSWORD).status_code == 403


def test_a_password_reset_by_email_lets_the_agent_choose_a_new_password(client, alice):
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(mail.outbox[0].body))
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"},
    )
    assert done.status_code == 302
    assert sign_in(Client(), "alice", "a brand new passphrase").status_code == 302


def test_a_new_password_needs_twelve_characters(client, alice):
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(mail.outbox[0].body))
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    url = form_page.redirect_chain[-1][0]
    short = client.post(url, {"new_password1": "tangerine42", "new_password2": "tangerine42"})
    assert short.status_code == 200
    assert "at least 12 characters" in short.content.decode()
    assert sign_in(Client(), "alice", "tangerine42").status_code == 200  # not changed
    done = client.post(url, {"new_password1": "tangerine42!", "new_password2": "tangerine42!"})
    assert done.status_code == 302
    assert sign_in(Client(), "alice", "tangerine42!").status_code == 302


def test_the_demo_logins_keep_working_under_the_password_rules(client, db):
    call_command("demo", stdout=io.StringIO())
    for username in ("admin", "maria", "alex", "bella", "carlos", "dana"):
        user = get_user_model().objects.get(username=username)
        validate_password("leadline-demo", user)  # raises if a rule refuses it
        assert sign_in(Client(), username, "leadline-demo").status_code == 302


def test_a_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(client, db):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


# --- Sign in with Google: the pipeline step ----------------------------------------------------


class Backend:
    name = "google-oauth2"


def test_the_google_step_finds_the_agent_by_email_case_insensitively(alice):
    result = require_existing_agent(Backend(), {"email": "ALICE@example.com"})
    assert result == {"user": alice.user, "is_new": False}


def test_the_google_step_finds_the_agent_by_the_agents_own_email(alice):
    Agent.objects.filter(pk=alice.pk).update(email="alice@sunrise.example")
    assert (
        require_existing_agent(Backend(), {"email": "alice@sunrise.example"})["user"] == alice.user
    )


@pytest.mark.parametrize("email", ["stranger@example.com", ""])
def test_the_google_step_refuses_an_email_no_agent_has(alice, email):
    users = get_user_model().objects.count()
    with pytest.raises(AuthPolicyError):
        require_existing_agent(Backend(), {"email": email})
    assert get_user_model().objects.count() == users


def test_the_google_step_refuses_an_inactive_agent(alice):
    Agent.objects.filter(pk=alice.pk).update(is_active=False)
    with pytest.raises(AuthPolicyError):
        require_existing_agent(Backend(), {"email": "alice@example.com"})


def test_the_google_step_refuses_staff_without_an_agent_profile(db):
    get_user_model().objects.create_user("ops", "ops@example.com", "x", is_staff=True)
    with pytest.raises(AuthPolicyError):
        require_existing_agent(Backend(), {"email": "ops@example.com"})


def test_the_google_step_refuses_a_linked_account_whose_agent_left(alice):
    alice.user.is_active = False
    alice.user.save()
    with pytest.raises(AuthPolicyError):
        require_existing_agent(Backend(), {"email": "alice@example.com"}, user=alice.user)


# --- Sign in with Google: the whole flow against a local Google -------------------------------


class FakeGoogle(BaseHTTPRequestHandler):
    """Google's token endpoint and userinfo endpoint, as documented for OAuth 2.0 web apps."""

    account: dict[str, Any] = {}
    requests: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        self.requests.append((self.path, form))
        if self.path == "/token" and form.get("code") == "good-code":
            self._json(
                200, {"access_token": "ya29.token", "token_type": "Bearer", "expires_in": 3599}
            )
        else:
            self._json(400, {"error": "invalid_grant"})

    def do_GET(self) -> None:
        self.requests.append((self.path, {"authorization": self.headers.get("Authorization", "")}))
        if self.path == "/userinfo" and self.headers.get("Authorization") == "Bearer ya29.token":
            self._json(200, self.account)
        else:
            self._json(401, {"error": "invalid_token"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def google(settings, monkeypatch) -> Iterator[str]:
    server = None
    for port in range(8710, 8730):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), FakeGoogle)
            break
        except OSError:
            continue
    assert server is not None, "no free port in 8710-8729"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(LocalGoogleOAuth2, "base", base)
    monkeypatch.setattr(LocalGoogleOAuth2, "AUTHORIZATION_URL", f"{base}/auth")
    monkeypatch.setattr(LocalGoogleOAuth2, "ACCESS_TOKEN_URL", f"{base}/token")
    FakeGoogle.requests = []
    settings.SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = "client-id.apps.googleusercontent.com"
    settings.SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = "client-secret"
    settings.AUTHENTICATION_BACKENDS = [
        f"{__name__}.LocalGoogleOAuth2",
        "django.contrib.auth.backends.ModelBackend",
    ]
    monkeypatch.setattr(backend_utils, "BACKENDSCACHE", {})
    yield base
    server.shutdown()
    server.server_close()


class LocalGoogleOAuth2(GoogleOAuth2):
    """Google's backend with its endpoints moved to the local server."""

    base = ""

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        response = self.get_json(
            f"{self.base}/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        self.validate_email_verified(response)
        return response


def google_sign_in(client: Client, account: dict[str, Any], code: str = "good-code"):
    FakeGoogle.account = account
    start = client.post("/oauth/login/google-oauth2/")
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    query = parse_qs(location.query)
    assert location.path == "/auth"
    assert query["client_id"] == ["client-id.apps.googleusercontent.com"]
    assert query["redirect_uri"] == ["http://testserver/oauth/complete/google-oauth2/"]
    assert set(query["scope"][0].split()) >= {"openid", "email", "profile"}
    return client.get("/oauth/complete/google-oauth2/", {"state": query["state"][0], "code": code})


ALICE_AT_GOOGLE = {
    "sub": "1098765",
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice A",
    "given_name": "Alice",
    "family_name": "A",
}


def test_the_sign_in_page_offers_google_as_a_post_form_when_configured(client, google):
    page = client.get("/accounts/login/").content.decode()
    form = re.search(
        r'<form method="post" action="/oauth/login/google-oauth2/"[^>]*>(.*?)</form>', page, re.S
    )
    assert form is not None
    assert "csrfmiddlewaretoken" in form.group(1)
    assert client.get("/oauth/login/google-oauth2/").status_code == 405


def test_alice_signs_in_with_google(client, alice, google):
    response = google_sign_in(client, ALICE_AT_GOOGLE)
    assert response.status_code == 302
    assert response["Location"] == "/today/"
    assert client.get("/today/").status_code == 200
    assert UserSocialAuth.objects.get(user=alice.user).uid == "1098765"
    token_request = next(form for path, form in FakeGoogle.requests if path == "/token")
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["redirect_uri"] == "http://testserver/oauth/complete/google-oauth2/"


def test_a_google_account_nobody_knows_creates_nothing_and_is_told_why(client, alice, google):
    users = get_user_model().objects.count()
    stranger = {**ALICE_AT_GOOGLE, "sub": "555", "email": "stranger@example.com"}
    response = google_sign_in(client, stranger)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert get_user_model().objects.count() == users
    assert not UserSocialAuth.objects.exists()
    assert "_auth_user_id" not in client.session
    page = client.get("/accounts/login/").content.decode()
    assert "not an active agent" in page


def test_an_unverified_google_email_is_refused(client, alice, google):
    google_sign_in(client, {**ALICE_AT_GOOGLE, "email_verified": False})
    assert "_auth_user_id" not in client.session
    assert not UserSocialAuth.objects.exists()


def test_a_google_callback_with_a_forged_state_is_refused(client, alice, google):
    FakeGoogle.account = ALICE_AT_GOOGLE
    client.post("/oauth/login/google-oauth2/")
    client.get("/oauth/complete/google-oauth2/", {"state": "forged", "code": "good-code"})
    assert "_auth_user_id" not in client.session
    assert not [path for path, _ in FakeGoogle.requests if path == "/token"]
