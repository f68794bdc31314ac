"""Every door a stranger can post to, set up and called the same way, for the tests of hostile
input (test_hostile_input.py, test_any_input.py): each door takes a body (bytes) and answers.

A door's ``post`` signs, keys or tokens the request as its sender would, so the body itself
is what is being tried, past the check of who sent it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.test import Client
from twilio.request_validator import RequestValidator

from integrations.intake.models import WebForm
from integrations.intake.sources.webform import render_token
from leads.models import Integration, Team
from leads.services import api_token_create, integration_create

REALTOR_KEY = "rdc-hostile-key"
ZILLOW_CREDENTIALS = "zillow:hostile-pass"
ZILLOW_TOPIC = "arn:aws:sns:us-east-1:324733501228:zillow-hostile"
RENTALS_TOKEN = "zr-hostile-token"
FACEBOOK_SECRET = "fb-hostile-secret"
MAILCHIMP_TOKEN = "mc-hostile-token"
TWILIO_TOKEN = "tw-hostile-token"
SITE_URL = "http://testserver"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Door:
    name: str
    kind: str  # "json" or "form": what its sender sends
    post: Callable[[bytes], Any]


def configure(settings: Any) -> None:
    """Open every door: the secrets and switches each needs."""
    settings.REALTOR_API_KEY = REALTOR_KEY
    settings.ZILLOW_BASIC_AUTH = ZILLOW_CREDENTIALS
    settings.ZILLOW_TOPIC_ARNS = [ZILLOW_TOPIC]
    settings.ZILLOW_RENTALS_TOKEN = RENTALS_TOKEN
    settings.FACEBOOK_APP_SECRET = FACEBOOK_SECRET
    settings.FACEBOOK_VERIFY_TOKEN = "fb-verify"
    settings.MAILCHIMP_WEBHOOK_TOKEN = MAILCHIMP_TOKEN
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.SITE_URL = SITE_URL
    settings.WEBFORM_MIN_FILL_SECONDS = 0
    settings.WEBFORM_RATE_LIMIT = 1_000_000


def doors(team: Team, web_form: WebForm, user: Any) -> list[Door]:
    """Every door, ready to post a body to (``user``: an agent's user, for the API token)."""
    client = Client()
    token = api_token_create(user=user, name="hostile")[1]
    key = integration_create(
        team=team, name="hostile", source="idx-hostile",
        scopes=[Integration.Scope.EVENTS_WRITE, Integration.Scope.LEADS_READ],
    )[1]  # fmt: skip
    zillow_auth = "Basic " + base64.b64encode(ZILLOW_CREDENTIALS.encode()).decode()

    def webform_json(body: bytes):
        return client.post(f"/forms/{web_form.public_key}/", body, content_type=JSON)

    def webform_form(body: bytes):
        return client.post(f"/forms/{web_form.public_key}/", body, content_type=FORM)

    def realtor(body: bytes):
        return client.post(
            "/hooks/realtor/", body, content_type=JSON, headers={"x-api-key": REALTOR_KEY}
        )

    def zillow(body: bytes):
        return client.post(
            "/hooks/zillow/", body, content_type=JSON, headers={"Authorization": zillow_auth}
        )

    def zillow_rentals(body: bytes):
        return client.post(f"/hooks/zillow-rentals/{RENTALS_TOKEN}/", body, content_type=FORM)

    def facebook(body: bytes):
        signature = "sha256=" + hmac.new(FACEBOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return client.post(
            "/hooks/facebook/", body, content_type=JSON,
            headers={"X-Hub-Signature-256": signature},
        )  # fmt: skip

    def mailchimp(body: bytes):
        return client.post(f"/hooks/mailchimp/{MAILCHIMP_TOKEN}/", body, content_type=FORM)

    def api_leads(body: bytes):
        return client.post(
            "/api/v1/leads/", body, content_type=JSON,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip

    def api_events(body: bytes):
        return client.post(
            "/api/v1/events/", body, content_type=JSON, headers={"Authorization": f"Bearer {key}"}
        )

    def twilio(path: str) -> Callable[[bytes], Any]:
        def post(body: bytes):
            params = QueryDict(body, encoding="utf-8")
            url = SITE_URL + path
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
            return client.post(
                path, body, content_type=FORM, headers={"X-Twilio-Signature": signature}
            )

        return post

    return [
        Door("webform (JSON)", "json", webform_json),
        Door("webform (form)", "form", webform_form),
        Door("realtor", "json", realtor),
        Door("zillow", "json", zillow),
        Door("zillow_rentals", "form", zillow_rentals),
        Door("facebook", "json", facebook),
        Door("mailchimp", "form", mailchimp),
        Door("api leads", "json", api_leads),
        Door("api events", "json", api_events),
        Door("twilio status", "form", twilio("/hooks/twilio/status/")),
        Door("twilio inbound", "form", twilio("/hooks/twilio/inbound/")),
        Door("twilio messages status", "form", twilio("/hooks/twilio/messages/status/")),
    ]


def webform_token(web_form: WebForm) -> str:
    return render_token(web_form)
