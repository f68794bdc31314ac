"""The machine doors' short path (crm/doors.py): the hosted web forms and the hooks answer
exactly as through the whole middleware stack, and everything else still goes through it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import Client, override_settings
from django.utils.http import parse_http_date

from integrations.intake.models import WebForm
from tests.integrations.intake import doors

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
WHOLE_STACK = [m for m in django_settings.MIDDLEWARE if m != "crm.doors.DoorsMiddleware"]
ALLOWED = "https://www.sunrise.example"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

Call = Callable[[Client, WebForm], Any]


def _post_json(payload: object, **headers: str) -> Call:
    def call(client: Client, web_form: WebForm) -> Any:
        body = (
            {"_ts": doors.webform_token(web_form), **payload}
            if isinstance(payload, dict)
            else payload
        )
        return client.post(
            f"/forms/{web_form.public_key}/", json.dumps(body), JSON, headers=headers
        )

    return call


def _post_form(body: str) -> Call:
    def call(client: Client, web_form: WebForm) -> Any:
        token = doors.webform_token(web_form)
        return client.post(f"/forms/{web_form.public_key}/", f"_ts={token}&{body}", FORM)

    return call


def _get(path: str, **headers: str) -> Call:
    return lambda client, web_form: client.get(
        path.format(key=web_form.public_key), headers=headers
    )


def _hook(path: str, body: bytes, content_type: str = JSON, **headers: str) -> Call:
    return lambda client, web_form: client.post(path, body, content_type, headers=headers)


REQUESTS: dict[str, Call] = {
    "the form page": _get("/forms/{key}/?utm_source=news&embed=1"),
    "the form page framed by an allowed site": _get("/forms/{key}/", Origin=ALLOWED),
    "the embed script": _get("/forms/{key}/embed.js"),
    "an unknown form": _get("/forms/no-such-form/"),
    "a form's path without its slash": _get("/forms/{key}"),
    "a CORS preflight": lambda client, web_form: client.options(
        f"/forms/{web_form.public_key}/", headers={"Origin": ALLOWED}
    ),
    "another method": lambda client, web_form: client.put(f"/forms/{web_form.public_key}/"),
    "a JSON submission": _post_json({"email": "ana@example.com"}, Origin=ALLOWED),
    "a JSON submission with bad fields": _post_json({"email": "nope", "phone": "1"}),
    "a JSON submission from another site": _post_json(
        {"email": "a@b.co"}, Origin="https://x.example"
    ),
    "a JSON array": _post_json([1, 2]),
    "a form post": _post_form("first_name=Ana&phone=305-555-0123&consent=on"),
    "a form post with errors": _post_form("first_name=Ana&email=nope&zip_code=1"),
    "a form post without its token": lambda client, web_form: client.post(
        f"/forms/{web_form.public_key}/", "email=a%40b.co", FORM
    ),
    "a Realtor.com lead": _hook(
        "/hooks/realtor/",
        (FIXTURES / "realtor" / "lead__nested.json").read_bytes(),
        **{"x-api-key": doors.REALTOR_KEY},
    ),
    "a Realtor.com post without its key": _hook("/hooks/realtor/", b"{}"),
    "a Realtor.com body that is not JSON": _hook(
        "/hooks/realtor/", b"{\x00", **{"x-api-key": doors.REALTOR_KEY}
    ),
    "Facebook's verification": _get(
        "/hooks/facebook/?hub.mode=subscribe&hub.verify_token=fb-verify&hub.challenge=1158201444"
    ),
    "an unsigned Twilio callback": _hook("/hooks/twilio/status/", b"MessageSid=SM1", FORM),
    "Mailchimp's check": _get(f"/hooks/mailchimp/{doors.MAILCHIMP_TOKEN}/"),
    "an email door that is off": _hook("/hooks/email/postmark/inbound/", b"{}"),
    "an unknown hook": _get("/hooks/no-such-hook/"),
}

# What differs between two answers to the same request: the form's render token and
# submission id, event ids (UUIDs), and so the length of the body; the time (Expires).
_VARIES = [
    (re.compile(r'(name="_ts" value=")[^"]*'), r"\1…"),
    (re.compile(r'(name="submission_id" value=")[^"]*'), r"\1…"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "…"),
]


def answer(response: HttpResponse) -> tuple[int, dict[str, str], dict[str, str], str]:
    """Status, headers, cookies and body, with what varies from call to call masked."""
    body = response.content.decode()
    for pattern, replacement in _VARIES:
        body = pattern.sub(replacement, body)
    headers = dict(response.items())
    assert headers.pop("Content-Length", str(len(response.content))) == str(len(response.content))
    if "Expires" in headers:  # never_cache: the time of the answer
        assert abs(parse_http_date(headers.pop("Expires")) - time.time()) < 60
        headers["Expires"] = "…"
    return response.status_code, headers, {k: v.value for k, v in response.cookies.items()}, body


@pytest.fixture
def open_doors(settings: Any) -> None:
    doors.configure(settings)


@pytest.mark.usefixtures("open_doors")
@pytest.mark.parametrize("name", REQUESTS)
def test_a_door_answers_exactly_as_through_the_whole_stack(web_form, name):
    whole, short = Client(), Client()
    with override_settings(MIDDLEWARE=WHOLE_STACK):
        expected = REQUESTS[name](whole, web_form)
    got = REQUESTS[name](short, web_form)

    assert answer(got) == answer(expected)
    assert not hasattr(got.wsgi_request, "session")  # it took the short path
    assert hasattr(expected.wsgi_request, "session")


@pytest.mark.usefixtures("open_doors")
def test_the_doors_keep_the_security_headers(client, web_form):
    page = client.get(f"/forms/{web_form.public_key}/")
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"
    assert page["Content-Security-Policy"] == f"frame-ancestors 'self' {ALLOWED}"
    assert "X-Frame-Options" not in page  # the form may be framed, by the sites it names
    hook = client.post("/hooks/realtor/", b"{}", JSON)
    assert hook.status_code == 401
    assert hook["X-Content-Type-Options"] == "nosniff"
    assert hook["X-Frame-Options"] == "DENY"


def test_a_signed_in_browser_s_session_is_neither_read_nor_touched_at_a_door(
    client, web_form, alice
):
    client.force_login(alice.user)
    response = client.get(f"/forms/{web_form.public_key}/")
    assert response.status_code == 200
    assert not response.cookies  # no session or CSRF cookie set, renewed or deleted
    assert "Vary" not in response
    assert not hasattr(response.wsgi_request, "user")
    assert client.get("/").wsgi_request.user == alice.user  # still signed in


@pytest.mark.parametrize(
    "path", ["/", "/settings/", "/accounts/login/", "/api/v1/leads/", "/healthz"]
)
def test_every_other_page_goes_through_the_whole_stack(client, alice, path):
    client.force_login(alice.user)
    request = client.get(path).wsgi_request
    assert request.user == alice.user
    assert hasattr(request, "session")
    assert hasattr(request, "csp_nonce")
    assert hasattr(request, "htmx")
    assert hasattr(request, "_messages")


def test_the_short_stack_is_the_whole_stack_s_middleware_in_its_order():
    whole, short = django_settings.MIDDLEWARE, django_settings.DOOR_MIDDLEWARE
    assert whole[0] == "crm.doors.DoorsMiddleware"
    assert [m for m in whole if m in short] == short
    assert set(short) <= set(whole)
