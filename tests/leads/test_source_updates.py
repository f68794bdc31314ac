"""A source's news about an inquiry it sent before: the lead is filled in and re-pinned."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from leads.data import LeadData
from leads.models import Activity, Lead, RoutingDecision
from leads.services import lead_apply_source_update, lead_capture

pytestmark = pytest.mark.django_db


def inquiry(**fields) -> LeadData:
    values = {
        "source": "zillow",
        "external_id": "comm-1",
        "received_at": timezone.now(),
        "first_name": "Sam",
        "phone": "+13055550142",
        "property_zip": "33139",
        "extra": {"zillow": {"client_guid": "c-1"}},
        **fields,
    }
    return LeadData(**values)


def test_an_update_fills_only_what_the_lead_does_not_know(beach):
    lead = lead_capture(data=inquiry(message="First question")).lead

    changed = lead_apply_source_update(
        lead=lead,
        data=inquiry(
            message="Another text",
            mls_number="A1",
            price=Decimal("500000"),
            email="sam@example.com",
            property_zip="33140",
            extra={"zillow": {"client_guid": "c-1", "update": True}},
        ),
    )

    lead.refresh_from_db()
    assert changed == ["mls_number", "price", "extra"]
    assert (lead.message, lead.mls_number, lead.price, lead.property_zip) == (
        "First question",
        "A1",
        Decimal("500000.00"),
        "33139",
    )
    assert lead.extra == {"zillow": {"client_guid": "c-1", "update": True}}
    assert lead.contact.email == "sam@example.com"
    entry = Activity.objects.get(lead=lead, kind=Activity.Kind.SOURCE_UPDATE)
    assert entry.summary == "Updated via zillow: filled mls_number, price"


def test_an_update_with_nothing_new_still_leaves_a_trace(beach):
    lead = lead_capture(data=inquiry()).lead
    assert lead_apply_source_update(lead=lead, data=inquiry()) == []
    entry = Activity.objects.get(lead=lead, kind=Activity.Kind.SOURCE_UPDATE)
    assert entry.summary == "Updated via zillow: no new facts"


def test_naming_another_agent_pins_and_hands_the_lead_over(beach, alice, bob):
    lead = lead_capture(data=inquiry()).lead
    assert lead.assigned_agent == alice

    lead_apply_source_update(lead=lead, data=inquiry(pinned_agent_id=bob.pk))

    lead.refresh_from_db()
    assert (lead.pinned_agent, lead.assigned_agent, lead.status) == (bob, bob, Lead.Status.NEW)
    assert RoutingDecision.objects.filter(lead=lead, kind="manual", agent=bob).exists()


def test_an_inactive_agent_is_pinned_but_not_handed_the_lead(beach, alice, bob):
    bob.is_active = False
    bob.save()
    lead = lead_capture(data=inquiry()).lead

    lead_apply_source_update(lead=lead, data=inquiry(pinned_agent_id=bob.pk))

    lead.refresh_from_db()
    assert (lead.pinned_agent, lead.assigned_agent) == (bob, alice)


def test_a_test_lead_is_pinned_but_never_assigned(beach, bob):
    lead = lead_capture(data=inquiry(is_test=True)).lead

    lead_apply_source_update(lead=lead, data=inquiry(is_test=True, pinned_agent_id=bob.pk))

    lead.refresh_from_db()
    assert (lead.pinned_agent, lead.assigned_agent) == (bob, None)
    assert not RoutingDecision.objects.filter(lead=lead).exists()


def test_capture_applies_an_update_only_when_the_source_says_it_is_one(beach):
    lead = lead_capture(data=inquiry()).lead

    lead_capture(data=inquiry(mls_number="A1"))
    lead.refresh_from_db()
    assert lead.mls_number == ""  # a plain repeat changes nothing

    result = lead_capture(data=inquiry(mls_number="A1", is_update=True))
    lead.refresh_from_db()
    assert (result.created, result.lead.pk, lead.mls_number) == (False, lead.pk, "A1")
