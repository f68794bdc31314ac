"""Realtor.com lead delivery: the key at the door, both payload shapes, test leads, replies."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client, override_settings

from integrations.intake.models import InboundEvent
from leads import signals
from leads.models import Consent, Lead, RoutingDecision

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "realtor"
URL = "/hooks/realtor/"
KEY = "rdc-test-key-5f1c0a"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("realtor_key")]


@pytest.fixture
def realtor_key(settings):
    settings.REALTOR_API_KEY = KEY


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def deliver(client: Client, body: bytes, key: str | None = KEY):
    headers = {"x-api-key": key} if key is not None else {}
    return client.post(URL, body, content_type="application/json", headers=headers)


# --- Accepted leads ---------------------------------------------------------------------------


def test_a_lead_is_stored_raw_answered_in_realtors_shape_and_captured_by_the_worker(
    client, beach, alice, run_queue
):
    response = deliver(client, fixture("lead__nested.json"))

    assert response.status_code == 200
    assert response.json() == {
        "message": "OK",
        "description": "The request has succeeded.",
        "status_code": 200,
        "communications_guid": "a9e4c3b2-7d61-4f85-b0c2-5d3e8f1a6b74",
    }
    event = InboundEvent.objects.get()
    assert bytes(event.body) == fixture("lead__nested.json")
    assert (event.source, event.external_id, event.status) == (
        "realtor",
        "c2d1e7a4-58b3-4f0e-8d6a-1e9f3b7c5a20",
        "received",
    )
    assert "x-api-key" not in event.headers  # the secret is never stored
    assert not Lead.objects.exists()  # the worker makes the lead

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    event.refresh_from_db()
    assert (event.status, event.lead) == ("processed", lead)
    assert (lead.source, lead.external_id) == ("realtor", "c2d1e7a4-58b3-4f0e-8d6a-1e9f3b7c5a20")
    assert lead.source_detail == "Connections · rdc-web"
    assert (lead.contact.first_name, lead.contact.last_name) == ("Maria", "Lopez")
    assert (lead.contact.email, lead.contact.phone) == ("maria.lopez@example.com", "+13055550164")
    assert lead.lead_type == "buyer"
    assert lead.message.startswith("Is the condo at 1500 Collins still available?")
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "1500 Collins Ave Apt 804",
        "Miami Beach",
        "FL",
        "33139",
    )
    assert (lead.mls_number, lead.price) == ("A11500123", Decimal("875000.00"))
    assert lead.page_url.startswith("https://www.realtor.com/realestateandhomes-detail/")
    assert lead.is_test is False
    assert lead.assigned_agent == alice  # Miami Beach's round robin
    realtor = lead.extra["realtor"]
    assert realtor["partner_customer_id"] == "sunrise-realty-17"
    assert realtor["consumer"]["timeframe"] == "0-3 months"
    assert realtor["form"]["tour_type"] == "in_person"
    assert realtor["listing"]["listing_agent_name"] == "Alice Agent"
    assert realtor["recipient"]["recipient_customer_id"] == 880123  # the block beside lead_info


def test_the_jornaya_tcpa_token_is_kept_as_consent_evidence(client, beach, run_queue):
    deliver(client, fixture("lead__nested.json"))
    run_queue()

    lead = Lead.objects.get()
    consents = Consent.objects.filter(lead=lead).order_by("channel")
    assert [(c.channel, c.granted) for c in consents] == [("call", True), ("sms", True)]
    for consent in consents:
        assert consent.evidence["jornaya_tcpa_id"] == "5C1E2D3F-4A5B-6C7D-8E9F-0A1B2C3D4E5F"
        assert consent.evidence["lead_guid"] == lead.external_id
        assert "Jornaya" in consent.text
        assert consent.origin == "realtor: Connections · rdc-web"
        assert consent.obtained_at.isoformat() == "2026-11-28T15:02:44.512000+00:00"


def test_blocks_beside_lead_info_are_read_and_null_strings_are_empty(client, beach, bob, run_queue):
    response = deliver(client, fixture("lead__sibling_blocks.json"))
    assert response.status_code == 200
    assert response.json()["communications_guid"] == "7d9f1b3c-5e7a-4c2d-9f1b-3d5e7a9c1b3d"

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Devon", "Carter")  # full_name
    assert (lead.contact.email, lead.contact.phone) == ("", "+17865550133")
    assert lead.lead_type == "seller"
    assert (lead.property_address, lead.property_state, lead.property_zip) == (
        "6301 Collins Ave #1204",
        "FL",
        "33140",
    )
    assert (lead.mls_number, lead.price) == ("", None)  # "null" is no value
    assert lead.extra["realtor"]["preferences"]["recent_views"] == [
        {"rdc_property_id": "3391620001"}
    ]
    assert lead.assigned_agent is not None  # routed by the ZIP found beside lead_info
    assert not Consent.objects.filter(lead=lead).exists()  # no TCPA token, no consent claimed


def test_a_test_lead_is_stored_and_visible_but_never_routed_or_alerted(
    client, beach, alice, run_queue
):
    heard: list[str] = []

    def listener(signal_name: str):
        def receiver(sender, **kwargs):
            heard.append(signal_name)

        return receiver

    alerting = ("lead_assigned", "lead_offered", "lead_pooled", "lead_escalated")
    receivers = {name: listener(name) for name in alerting}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        assert deliver(client, fixture("lead__test.json")).status_code == 200
        run_queue()
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)

    lead = Lead.objects.get()
    assert lead.is_test is True
    assert lead.assigned_agent is None
    assert lead.property_zip == "33139"  # would have gone to Alice
    assert not RoutingDecision.objects.filter(lead=lead).exists()
    assert heard == []
    assert lead.extra["realtor"]["paid_type"] == "test"


def test_the_same_lead_delivered_twice_is_answered_200_and_made_once(client, beach, run_queue):
    first = deliver(client, fixture("lead__nested.json"))
    run_queue()
    again = deliver(client, fixture("lead__duplicate.json"))
    run_queue()

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["communications_guid"] == first.json()["communications_guid"]
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1


# --- Forged and refused -----------------------------------------------------------------------


def test_a_wrong_key_is_401_in_realtors_shape_and_nothing_is_stored(client):
    response = deliver(client, fixture("lead__wrong_key.json"), key="rdc-test-key-5f1c0b")

    assert response.status_code == 401
    assert response.json() == {
        "message": "Unauthorized",
        "description": "The x-api-key header is missing or wrong.",
        "status_code": 401,
    }
    assert not InboundEvent.objects.exists()


def test_a_missing_key_is_401_and_nothing_is_stored(client):
    response = deliver(client, fixture("lead__nested.json"), key=None)
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized"
    assert not InboundEvent.objects.exists()


@override_settings(REALTOR_API_KEY="")
def test_without_a_configured_key_the_source_is_off_for_everyone(client):
    response = deliver(client, fixture("lead__nested.json"), key="")
    assert response.status_code == 404
    assert "not configured" in response.json()["description"]
    assert not InboundEvent.objects.exists()


def test_only_post_delivers(client):
    response = client.get(URL, headers={"x-api-key": KEY})
    assert response.status_code == 405
    assert response.json()["status_code"] == 405
    assert not InboundEvent.objects.exists()


# --- Authentic but unreadable: stored as failed, answered 400 ----------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("lead__malformed.json", "The body is not valid JSON"),
        ("lead__empty.json", "The body is empty"),
        ("lead__no_guid.json", "Lead.lead_info.lead_guid: missing"),
        ("lead__no_contact.json", "neither an email nor a phone number"),
    ],
)
def test_an_unreadable_lead_is_kept_as_failed_and_answered_400_naming_the_problem(
    client, run_queue, name, reason
):
    response = deliver(client, fixture(name))

    assert response.status_code == 400
    assert response.json()["message"] == "Bad Request"
    assert reason in response.json()["description"]
    event = InboundEvent.objects.get()
    assert (event.status, event.source) == ("failed", "realtor")
    assert reason in event.error
    assert bytes(event.body) == fixture(name)
    assert run_queue() == 0  # nothing to process; an operator can read and replay it
    assert not Lead.objects.exists()


def test_a_huge_body_is_refused_413_before_it_is_read(client):
    lead = json.loads(fixture("lead__nested.json"))
    lead["Lead"]["lead_info"]["lead_consumer_info"]["message"] = "x" * 300_000
    response = deliver(client, json.dumps(lead).encode())
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()
