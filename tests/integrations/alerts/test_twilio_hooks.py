"""Twilio's callbacks: signatures, statuses that only move forward, agents' replies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from integrations.alerts.models import AgentAlert
from integrations.intake.models import InboundEvent
from leads.data import LeadData
from leads.models import Activity, Agent, Lead, RoutingRule, Territory
from leads.services import lead_capture

from .conftest import AUTH_TOKEN, known

pytestmark = pytest.mark.django_db
STATUS_URL = "/hooks/twilio/status/"
INBOUND_URL = "/hooks/twilio/inbound/"


def sign(path: str, params: dict[str, str], site: str = "http://testserver") -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(site + path, params)


def post(client: Client, path: str, params: dict[str, str], signature: str | None = None):
    signature = sign(path, params) if signature is None else signature
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status(client: Client, delivery: AgentAlert, value: str, code: str = ""):
    params = {
        "MessageSid": delivery.provider_id, "SmsSid": delivery.provider_id,
        "MessageStatus": value, "SmsStatus": value, "AccountSid": "AC" + "0" * 32,
        "From": "+13055550000", "To": delivery.to, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    if code:
        params["ErrorCode"] = code
    return post(client, STATUS_URL, params)


def text(client: Client, agent: Agent, body: str, sid: str = "", **extra: str):
    params = {
        "MessageSid": sid or f"SM{abs(hash((agent.pk, body, timezone.now()))):032x}"[:34],
        "AccountSid": "AC" + "0" * 32, "From": agent.mobile_phone, "To": "+13055550000",
        "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
        "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip
    return post(client, INBOUND_URL, params)


def capture(zip_code: str, n: int) -> Lead:
    data = LeadData(
        source="webform", external_id=f"hook-{zip_code}-{n}", received_at=timezone.now(),
        first_name="Jane", last_name=f"Doe{n}", email=f"jane{n}@example.net",
        property_zip=zip_code, price=Decimal("300000"),
    )  # fmt: skip
    return lead_capture(data=data).lead


@pytest.fixture
def assigned(team, alice: Agent, twilio, run_queue) -> Lead:
    """A lead assigned to Alice, its SMS alert sent."""
    territory = Territory.objects.create(team=team, name="Little River", zip_codes=["33150"])
    territory.agents.set([alice])
    lead = capture("33150", 1)
    run_queue()
    return lead


@pytest.fixture
def offered(team, alice: Agent, bob: Agent, twilio, run_queue) -> Lead:
    """A lead offered to Alice and Bob, first to claim."""
    Agent.objects.filter(pk=bob.pk).update(mobile_phone="+13055550122")
    bob.refresh_from_db()
    territory = Territory.objects.create(team=team, name="Shores", zip_codes=["33138"])
    territory.agents.set([alice, bob])
    RoutingRule.objects.filter(territory=territory).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    lead = capture("33138", 2)
    run_queue()
    return lead


def sms(lead: Lead, agent: Agent) -> AgentAlert:
    return AgentAlert.objects.get(lead=lead, agent=agent, channel="sms")


# --- Signatures -----------------------------------------------------------------------------


def test_twilios_published_test_vector_validates():
    validator = RequestValidator("12345")
    params = {
        "CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
        "To": "+18005551212", "Caller": "+14158675309",
    }  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert validator.compute_signature(url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.validate(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize("url", [STATUS_URL, INBOUND_URL])
def test_unsigned_or_wrongly_signed_callbacks_are_refused_and_kept_nowhere(client, twilio, url):
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "Body": "Y"}
    assert client.post(url, params).status_code == 403
    assert post(client, url, params, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=").status_code == 403
    # Signed for another URL: the host is part of what is signed.
    forged = sign(url, params, site="https://elsewhere.example")
    assert post(client, url, params, signature=forged).status_code == 403
    assert not InboundEvent.objects.exists()


def test_without_an_auth_token_nothing_is_accepted(client, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    assert post(client, STATUS_URL, params).status_code == 403


def test_behind_a_proxy_the_signature_is_checked_against_site_url(
    client, assigned, alice, settings
):
    settings.SITE_URL = "https://crm.example.com"
    delivery = sms(assigned, alice)
    params = {"MessageSid": delivery.provider_id, "MessageStatus": "delivered"}
    signature = sign(STATUS_URL, params, site="https://crm.example.com")
    response = client.post(STATUS_URL, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.DELIVERED


# --- Status callbacks -----------------------------------------------------------------------


def test_statuses_move_forward_and_never_back(client, assigned, alice):
    delivery = sms(assigned, alice)
    assert status(client, delivery, "sent").status_code == 204
    assert status(client, delivery, "delivered").status_code == 204
    assert status(client, delivery, "sent").status_code == 204  # late, out of order
    assert status(client, delivery, "delivered").status_code == 204  # repeated
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.DELIVERED
    assert delivery.delivered_at
    assigned.refresh_from_db()
    assert assigned.alert_delivered_at == delivery.delivered_at
    events = InboundEvent.objects.filter(source="twilio_status")
    # Kept once per (message, status): the late and the repeated callbacks were known.
    assert sorted(e.external_id.split(":")[1] for e in events) == ["delivered", "sent"]


def test_a_transient_carrier_failure_sends_again(client, assigned, alice, twilio, run_queue):
    delivery = sms(assigned, alice)
    first_sid = delivery.provider_id
    status(client, delivery, "undelivered", code="30003")
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.QUEUED
    assert delivery.provider_id == ""
    assert first_sid in delivery.last_error
    AgentAlert.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    from integrations.alerts.services import alerts_sweep

    alerts_sweep()
    run_queue()
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.SENT
    assert delivery.provider_id != first_sid
    assert len(twilio.sent) == 2


def test_a_permanent_carrier_failure_flags_the_phone(client, assigned, alice):
    delivery = sms(assigned, alice)
    status(client, delivery, "sent")
    status(client, delivery, "undelivered", code="30005")
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.UNDELIVERED
    assert delivery.error_code == "30005"
    assert known(alice).phone_problem.startswith("Twilio 30005")
    status(client, delivery, "delivered")  # a contradicting late callback changes nothing
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.UNDELIVERED


def test_a_callback_for_an_unknown_message_is_kept_and_answered(client, twilio):
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    assert post(client, STATUS_URL, params).status_code == 204
    assert InboundEvent.objects.get().source == "twilio_status"


def test_a_callback_without_its_ids_is_a_clear_400(client, twilio):
    response = post(client, STATUS_URL, {"MessageStatus": "delivered"})
    assert response.status_code == 400
    assert b"MessageSid" in response.content


# --- Agents' replies ------------------------------------------------------------------------


def twiml(response: Any) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    return response.content.decode()


def test_yes_accepts_the_lead_the_agent_was_alerted_about(client, assigned, alice):
    reply = twiml(text(client, alice, "yes"))
    assigned.refresh_from_db()
    assert assigned.accepted_at is not None
    assert assigned.status == Lead.Status.ACCEPTED
    assert f"Jane Doe1 is yours. Call them now: http://testserver/l/{assigned.short_code}/" in reply


def test_y_claims_an_offer_and_the_second_agent_hears_who_has_it(client, offered, alice, bob):
    assert "is yours" in twiml(text(client, bob, "Y"))
    reply = twiml(text(client, alice, "CLAIM"))
    offered.refresh_from_db()
    assert offered.assigned_agent == bob
    assert "Too late: Bob has Jane Doe2." in reply


def test_the_short_code_names_the_lead(client, offered, assigned, alice):
    # Alice's last alert is for the offered lead; the code picks the assigned one.
    reply = twiml(text(client, alice, assigned.short_code))
    assigned.refresh_from_db()
    offered.refresh_from_db()
    assert assigned.accepted_at is not None
    assert offered.assigned_agent is None
    assert "is yours" in reply


def test_stop_pauses_sms_alerts_and_start_resumes_them(client, assigned, alice, run_queue, twilio):
    assert "<Message>" not in twiml(text(client, alice, "STOP"))
    assert known(alice).sms_opted_out_at is not None
    capture("33150", 3)
    run_queue()
    assert len(twilio.sent) == 1  # only the first lead's; the second went by email
    assert AgentAlert.objects.filter(channel="email").count() == 2
    twiml(text(client, alice, "start"))
    assert known(alice).sms_opted_out_at is None


def test_twilios_opt_out_type_pauses_too(client, assigned, alice):
    twiml(text(client, alice, "Stop please", OptOutType="STOP"))
    assert known(alice).sms_opted_out_at is not None


def test_other_words_become_a_note_on_the_lead(client, assigned, alice):
    assert "<Message>" not in twiml(text(client, alice, "Calling her after my showing"))
    note = Activity.objects.get(lead=assigned, kind=Activity.Kind.NOTE)
    assert note.data["text"] == "By SMS: Calling her after my showing"
    assert note.actor == alice.user


def test_a_stranger_gets_no_answer_and_changes_nothing(client, assigned):
    params = {"MessageSid": "SM" + "5" * 32, "From": "+19995550100", "Body": "YES"}
    assert "<Message>" not in twiml(post(client, INBOUND_URL, params))
    assigned.refresh_from_db()
    assert assigned.accepted_at is None


def test_a_repeated_inbound_message_is_applied_once(client, assigned, alice):
    sid = "SM" + "7" * 32
    twiml(text(client, alice, "Left a voicemail", sid=sid))
    twiml(text(client, alice, "Left a voicemail", sid=sid))
    assert Activity.objects.filter(lead=assigned, kind=Activity.Kind.NOTE).count() == 1
