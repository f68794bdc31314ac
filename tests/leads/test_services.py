"""lead_capture: the person is recognised, the inquiry is kept once, the timeline tells it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from leads import signals
from leads.data import ConsentData, LeadData
from leads.models import Activity, Consent, Contact, ContactEmail, ContactPhone, Lead
from leads.services import lead_capture

pytestmark = pytest.mark.django_db


def inquiry(external_id: str = "inq-1", **fields) -> LeadData:
    values = {
        "source": "webform",
        "external_id": external_id,
        "received_at": timezone.now(),
        "first_name": "Jordan",
        "last_name": "Avery",
        "email": "jordan@example.com",
        "phone": "+13055550147",
        "property_zip": "33139",
        **fields,
    }
    return LeadData(**values)


def test_a_new_person_becomes_a_contact_with_a_lead_and_a_timeline(team):
    result = lead_capture(data=inquiry(team_id=team.pk, price=Decimal("450000")))

    assert result.created is True
    lead = result.lead
    assert lead.team == team
    assert lead.price == Decimal("450000")
    contact = lead.contact
    assert (contact.first_name, contact.email, contact.phone) == (
        "Jordan",
        "jordan@example.com",
        "+13055550147",
    )
    assert list(ContactEmail.objects.values_list("email", flat=True)) == ["jordan@example.com"]
    assert list(ContactPhone.objects.values_list("phone", flat=True)) == ["+13055550147"]
    assert lead.activities.filter(kind=Activity.Kind.RECEIVED).count() == 1


def test_the_same_inquiry_twice_is_one_lead(team):
    first = lead_capture(data=inquiry())
    second = lead_capture(data=inquiry(message="a retry with other text"))

    assert second.created is False
    assert second.lead.pk == first.lead.pk
    assert Lead.objects.count() == 1
    assert Activity.objects.count() == first.lead.activities.count()


def test_the_same_external_id_from_two_sources_is_two_leads(team):
    lead_capture(data=inquiry("42"))
    lead_capture(data=inquiry("42", source="realtor"))
    assert Lead.objects.count() == 2
    assert Contact.objects.count() == 1


def test_a_repeat_inquiry_is_a_new_lead_on_the_same_contact(team):
    first = lead_capture(data=inquiry("a"))
    second = lead_capture(data=inquiry("b", message="Now the 2-bedroom, please"))

    assert second.created is True
    assert second.lead.contact_id == first.lead.contact_id
    repeat = second.lead.activities.get(kind=Activity.Kind.REPEAT_INQUIRY)
    assert "1 earlier lead" in repeat.summary


def test_a_person_is_recognised_by_phone_when_the_email_is_new(team):
    first = lead_capture(data=inquiry("a"))
    second = lead_capture(data=inquiry("b", email="jordan.work@example.com"))

    assert second.lead.contact_id == first.lead.contact_id
    assert set(ContactEmail.objects.values_list("email", flat=True)) == {
        "jordan@example.com",
        "jordan.work@example.com",
    }


def test_a_person_is_recognised_by_email_when_the_phone_is_new(team):
    first = lead_capture(data=inquiry("a"))
    second = lead_capture(data=inquiry("b", phone="+13055550999"))
    assert second.lead.contact_id == first.lead.contact_id
    assert ContactPhone.objects.filter(contact=first.lead.contact).count() == 2


def test_a_phone_held_by_someone_else_stays_with_them(team):
    lead_capture(data=inquiry("a"))
    other = lead_capture(data=inquiry("b", email="partner@example.com", phone=""))
    shared = lead_capture(data=inquiry("c", email="partner@example.com"))

    assert shared.lead.contact_id == other.lead.contact_id
    assert ContactPhone.objects.get(phone="+13055550147").contact.email == "jordan@example.com"


def test_blank_contact_fields_are_filled_from_a_later_inquiry(team):
    first = lead_capture(data=inquiry("a", first_name="", last_name="", phone=""))
    lead_capture(data=inquiry("b"))

    contact = Contact.objects.get(pk=first.lead.contact_id)
    assert (contact.first_name, contact.last_name, contact.phone) == (
        "Jordan",
        "Avery",
        "+13055550147",
    )
    assert contact.activities.filter(kind=Activity.Kind.CONTACT_UPDATED).exists()


def test_known_names_are_not_overwritten(team):
    first = lead_capture(data=inquiry("a"))
    lead_capture(data=inquiry("b", first_name="J."))
    assert Contact.objects.get(pk=first.lead.contact_id).first_name == "Jordan"


def test_consents_are_kept_with_their_words(team):
    at = timezone.now() - dt.timedelta(seconds=5)
    consent = ConsentData("sms", True, "You may text me.", at, {"ip": "203.0.113.9"})
    lead = lead_capture(data=inquiry(consents=(consent,), source_detail="Website")).lead

    stored = Consent.objects.get()
    assert (stored.lead, stored.channel, stored.granted) == (lead, "sms", True)
    assert stored.text == "You may text me."
    assert stored.obtained_at == at
    assert stored.origin == "webform: Website"
    assert stored.evidence == {"ip": "203.0.113.9"}


def test_a_test_lead_is_stored_but_never_routed(team, beach, alice):
    lead = lead_capture(data=inquiry(is_test=True, team_id=team.pk)).lead
    assert lead.is_test is True
    assert lead.assigned_agent is None
    assert not lead.activities.filter(kind=Activity.Kind.ASSIGNED).exists()


def test_assignment_is_announced_after_commit(
    team, beach, alice, django_capture_on_commit_callbacks
):
    heard = []

    def listener(sender, lead, agent, reason, **kwargs):
        heard.append((lead.pk, agent.pk, reason))

    signals.lead_assigned.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            lead = lead_capture(data=inquiry(team_id=team.pk)).lead
            assert heard == []  # nothing is said before the commit
        for callback in callbacks:
            callback()
    finally:
        signals.lead_assigned.disconnect(listener)

    assert heard == [(lead.pk, alice.pk, heard[0][2])]
    assert "Miami Beach" in heard[0][2]
