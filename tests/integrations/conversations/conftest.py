"""Conversations with leads: the alerts' local Twilio API and SMTP server, a person who
agreed to texts, and signed Twilio requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from leads.data import ConsentData, LeadData
from leads.models import Agent, Lead, Territory
from leads.services import lead_capture
from tests.integrations.alerts.conftest import AUTH_TOKEN, FROM_NUMBER, smtp, twilio

__all__ = ["smtp", "twilio"]

PERSON = "+13055551234"  # Jordan's mobile
SMS_CONSENT = "I agree to receive texts about my inquiry. Reply STOP to opt out."


def capture(n: int = 1, *, phone: str = PERSON, sms: bool | None = True, **fields: Any) -> Lead:
    consents: tuple[ConsentData, ...] = ()
    if sms is not None:
        consents = (ConsentData("sms", sms, SMS_CONSENT, timezone.now()),)
    data = LeadData(
        source=fields.pop("source", "webform"), external_id=f"conv-{n}",
        received_at=timezone.now(), first_name="Jordan", last_name="Reyes",
        email=fields.pop("email", f"jordan{n}@example.net"), phone=phone,
        property_zip=fields.pop("zip", "33150"), price=Decimal("450000"), consents=consents,
        **fields,
    )  # fmt: skip
    return lead_capture(data=data).lead


@pytest.fixture
def little_river(team, alice: Agent) -> Territory:
    """ZIP 33150 is Alice's alone: every lead there is assigned to her."""
    territory = Territory.objects.create(team=team, name="Little River", zip_codes=["33150"])
    territory.agents.set([alice])
    return territory


@pytest.fixture
def jordan(little_river, twilio) -> Lead:
    """Jordan's lead, assigned to Alice, with SMS consent; the alerts about it already sent."""
    return capture()


def sign(path: str, params: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + path, params)


def twilio_post(client: Client, path: str, params: dict[str, str]):
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sign(path, params))


def inbound(client: Client, body: str, *, sid: str, phone: str = PERSON, **extra: str):
    """Twilio posting a text the person sent to the team's number."""
    params = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone,
        "To": FROM_NUMBER, "Body": body, "NumMedia": "0", "NumSegments": "1",
        "SmsStatus": "received", "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip
    return twilio_post(client, "/hooks/twilio/inbound/", params)


def status(client: Client, sid: str, value: str, code: str = "", to: str = PERSON):
    params = {
        "MessageSid": sid, "SmsSid": sid, "MessageStatus": value, "SmsStatus": value,
        "AccountSid": "AC" + "0" * 32, "From": FROM_NUMBER, "To": to, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    if code:
        params["ErrorCode"] = code
    return twilio_post(client, "/hooks/twilio/messages/status/", params)
