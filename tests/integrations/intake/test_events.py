"""The events API (``POST /api/v1/events/``): an IDX website, an open-house app or an agent's
script sends typed events; each is stored raw, then makes a lead or goes on a person's
timeline, on the queue."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from leads.data import LeadData
from leads.models import Activity, Consent, Contact, Integration, Lead, RoutingRule
from leads.selectors import lead_timeline
from leads.services import api_token_create, integration_create, lead_capture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "events"
URL = "/api/v1/events/"

pytestmark = pytest.mark.django_db


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def send(key: str, body: bytes, idempotency_key: str | None = None, client: Client | None = None):
    headers = {"Authorization": f"Bearer {key}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return (client or Client()).post(URL, body, content_type="application/json", headers=headers)


@pytest.fixture
def idx(team) -> tuple[Integration, str]:
    """The team's IDX website: sends events and reads what became of them."""
    return integration_create(
        name="IDX website", team=team, source="idx-website",
        scopes=[Integration.Scope.EVENTS_WRITE, Integration.Scope.LEADS_READ],
    )  # fmt: skip


@pytest.fixture
def dana(beach) -> Lead:
    """Dana, known from an earlier web-form inquiry."""
    data = LeadData(
        source="webform", external_id="dana-1", received_at=timezone.now(), first_name="Dana",
        email="dana.whitfield@example.com", phone="+13055550188", property_zip="33139",
    )  # fmt: skip
    return lead_capture(data=data).lead


def test_an_idx_website_sends_an_inquiry_that_is_stored_raw_then_made_a_routed_lead(
    idx, beach, alice, run_queue
):
    response = send(idx[1], fixture("property_inquiry__idx.json"))

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert (event.source, event.status) == ("events", "received")
    assert bytes(event.body) == fixture("property_inquiry__idx.json")
    assert event.meta["integration_id"] == idx[0].pk

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert (lead.source, lead.source_detail) == ("idx-website", "Property inquiry: Listing page")
    assert lead.assigned_agent == alice  # Miami Beach's round robin
    assert (lead.property_address, lead.property_state, lead.property_zip) == (
        "1500 Collins Ave #1203", "FL", "33139",
    )  # fmt: skip
    assert (lead.mls_number, lead.price) == ("A11548812", Decimal("875000.00"))
    assert (lead.utm_source, lead.utm_medium, lead.gclid) == ("google", "cpc", "Cj0KCQjw")
    assert lead.extra["property"] == {
        "url": "https://www.sunrise.example/listings/a11548812", "type": "Condo",
        "bedrooms": 2, "bathrooms": "2.50",
    }  # fmt: skip
    contact = lead.contact
    assert set(contact.emails.values_list("email", flat=True)) == {
        "dana.whitfield@example.com", "dana@whitfield-law.example",
    }  # fmt: skip
    assert set(contact.phones.values_list("phone", flat=True)) == {"+13055550188", "+13055550199"}
    assert (contact.email, contact.phone) == ("dana.whitfield@example.com", "+13055550188")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["condo buyer", "idx"]
    assert Consent.objects.get(lead=lead).evidence["integration"] == idx[0].pk
    status = Client().get(
        response.json()["status_url"], headers={"Authorization": f"Bearer {idx[1]}"}
    )
    assert (status.json()["status"], status.json()["lead"]) == ("processed", lead.pk)


def test_routing_rules_can_name_the_integrations_source(idx, beach, bob, run_queue):
    rule = RoutingRule.objects.create(
        team=bob.team, name="IDX to Bob", sources=["idx-website"], priority=10
    )
    rule.members.create(agent=bob)

    send(idx[1], fixture("inquiry__without_property.json"))
    run_queue()

    lead = Lead.objects.get()
    assert lead.source_detail == "General inquiry"
    assert (lead.assigned_agent, lead.routing_rule) == (bob, rule)


def test_the_events_own_id_makes_a_retry_safe(idx, beach, run_queue):
    first = send(idx[1], fixture("property_inquiry__idx.json"))
    again = send(idx[1], fixture("property_inquiry__idx.json"))
    changed = json.loads(fixture("property_inquiry__idx.json"))
    changed["message"] = "Something else"
    conflict = send(idx[1], json.dumps(changed).encode())
    run_queue()

    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_key_reused"
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1


def test_an_idempotency_key_header_is_honoured_too(idx, beach, run_queue):
    body = fixture("registration__phone_only.json")

    answers = [send(idx[1], body, idempotency_key="signup-77").status_code for _ in range(3)]
    run_queue()

    assert answers == [202, 202, 202]
    assert Lead.objects.count() == 1
    assert Lead.objects.get().contact.phone == "+17865550142"


def test_a_seller_inquiry_pinned_to_an_agent_goes_to_them_first(idx, beach, bob, run_queue):
    send(idx[1], fixture("seller_inquiry__pinned_agent.json"))
    run_queue()

    lead = Lead.objects.get()
    assert lead.lead_type == "seller"
    assert lead.pinned_agent == bob
    assert lead.assigned_agent == bob


def test_an_open_house_visit_is_a_lead(idx, beach, run_queue):
    send(idx[1], fixture("open_house_visit__sign_in.json"))
    run_queue()

    lead = Lead.objects.get()
    assert lead.source_detail == "Open house visit: Open house, 1500 Collins Ave"
    assert lead.external_id == f"event:integration:{idx[0].pk}:oh-2024-06-01-0017"


def test_a_viewed_property_goes_on_a_known_persons_timeline_without_a_new_lead(
    idx, dana, run_queue
):
    response = send(idx[1], fixture("viewed_property__known_person.json"))
    run_queue()

    assert response.status_code == 202
    assert Lead.objects.count() == 1
    event = InboundEvent.objects.get(source="events")
    assert (event.status, event.lead_id) == ("processed", None)
    activity = Activity.objects.get(kind=Activity.Kind.SOURCE_EVENT)
    assert activity.contact_id == dana.contact_id
    assert activity.summary == (
        "Viewed a property: 1500 Collins Ave #1203, Miami Beach, FL 33139 "
        "(MLS A11548812, $875,000) (via idx-website)"
    )
    assert activity.summary in [entry.title for entry in lead_timeline(lead=dana)]
    assert list(dana.contact.tags.values_list("name", flat=True)) == ["viewed-collins"]


def test_a_property_search_is_recognised_by_phone_and_said_in_words(idx, dana, run_queue):
    send(idx[1], fixture("property_search__known_person.json"))
    run_queue()

    activity = Activity.objects.get(kind=Activity.Kind.SOURCE_EVENT)
    assert activity.contact_id == dana.contact_id
    assert activity.summary == (
        "Searched for properties: Miami Beach, FL 33139, $500,000 to $900,000, "
        "2+ bedrooms, Condo (via Saved search)"
    )
    assert Lead.objects.count() == 1


def test_a_saved_property_by_someone_new_is_a_new_lead(idx, beach, run_queue):
    send(idx[1], fixture("saved_property__new_person.json"))
    run_queue()

    lead = Lead.objects.get()
    assert lead.contact.email == "ines@example.com"
    assert lead.extra["event_type"] == "saved_property"
    assert not Activity.objects.filter(kind=Activity.Kind.SOURCE_EVENT).exists()


def test_an_agents_own_token_sends_as_api_for_their_team(alice, beach, run_queue):
    token = api_token_create(user=alice.user, name="script")[1]

    response = send(token, fixture("registration__phone_only.json"))
    run_queue()

    assert response.status_code == 202
    lead = Lead.objects.get()
    assert (lead.source, lead.team_id) == ("api", alice.team_id)


def test_invalid_fields_are_each_named_and_nothing_is_stored(idx):
    response = send(idx[1], fixture("event__invalid_fields.json"))

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {
        "type", "person.emails.0.value", "person.phones.0.value", "property.state",
        "property.price", "agent",
    }  # fmt: skip
    assert not InboundEvent.objects.exists()


def test_a_person_without_an_email_or_phone_is_refused(idx):
    response = send(idx[1], fixture("event__no_contact.json"))

    assert response.status_code == 400
    assert response.json()["fields"] == {"person.emails": ["Give an email address or a phone."]}


def test_a_malformed_body_is_a_parse_error(idx):
    response = send(idx[1], fixture("event__malformed.json"))

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not InboundEvent.objects.exists()


def test_a_key_without_events_write_is_refused(team):
    _, raw = integration_create(
        name="Reader", team=team, source="reader", scopes=[Integration.Scope.LEADS_READ]
    )

    response = send(raw, fixture("registration__phone_only.json"))

    assert response.status_code == 403
    assert "events:write" in response.json()["message"]


def test_another_integration_cannot_read_what_became_of_an_event(idx, team, oscar):
    sent = send(idx[1], fixture("registration__phone_only.json")).json()
    _, other = integration_create(
        name="Other", team=oscar.team, source="other",
        scopes=[Integration.Scope.EVENTS_WRITE],
    )  # fmt: skip

    answer = Client().get(sent["status_url"], headers={"Authorization": f"Bearer {other}"})

    assert answer.status_code == 404


def test_a_stored_event_that_no_longer_reads_fails_with_the_reason(team, run_queue):
    stored = event_store(
        source="events",
        body=fixture("event__invalid_fields.json"),
        content_type="application/json",
        meta={"team_id": team.pk, "lead_source": "idx-website"},
    )
    run_queue()

    stored.event.refresh_from_db()
    assert stored.event.status == "failed"
    assert "toured_the_moon" in stored.event.error
    assert not Contact.objects.exists()
