"""One page per person: every inquiry of theirs the user may see, whose they are now, and one
timeline of them all, with the alerts the edges add; per role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from leads.models import Activity, Contact, Lead
from leads.services import lead_add_note, lead_log_contact

from .test_views import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def jordan(db) -> Contact:
    return Contact.objects.create(
        first_name="Jordan", last_name="Lee", email="jordan@example.com", phone="+13055550177"
    )


def inquiry(contact, agent, n: int, team=None, **fields) -> Lead:
    lead = Lead.objects.create(
        contact=contact, team=team or agent.team, source=("zillow", "webform", "realtor")[n % 3],
        external_id=f"p-{n}", received_at=timezone.now(), assigned_agent=agent,
        assigned_at=timezone.now() if agent else None, message=f"Inquiry number {n}", **fields,
    )  # fmt: skip
    Activity.objects.create(
        contact=contact, lead=lead, kind=Activity.Kind.RECEIVED, summary=f"Lead received {n}"
    )
    return lead


def test_three_inquiries_are_one_page_with_one_timeline(client, alice, jordan):
    first = inquiry(jordan, alice, 1, status=Lead.Status.CLOSED_LOST)
    second = inquiry(jordan, alice, 2)
    third = inquiry(jordan, alice, 3)
    lead_add_note(lead=first, agent=alice, text="Wanted a pool; lost to another listing")
    lead_log_contact(lead=second, agent=alice, how="call", outcome="voicemail")
    lead_log_contact(lead=third, agent=alice, how="text")
    AgentAlert.objects.create(
        lead=third, agent=alice, channel="sms", kind="assigned", status="delivered", to="+1305"
    )

    page = signed_in(client, alice).get(f"/people/{jordan.pk}/").content.decode()
    assert "Jordan Lee" in page
    assert "Their agent: <b>Alice</b>" in page
    for lead in (first, second, third):
        assert f'id="inquiry-{lead.pk}"' in page
        assert f"Inquiry number {lead.pk - first.pk + 1}" in page
    timeline = page.split('id="history-title"')[1]
    for said in (
        "Wanted a pool; lost to another listing",  # a note on the first inquiry
        "Alice called: left voicemail",  # a call on the second
        "Alice logged a text",  # a text on the third
        "SMS alert to Alice: Delivered",  # what the alerts app adds
        "Lead received 1",
        "Lead received 3",
    ):
        assert said in timeline, said
    assert "Buyer via realtor" in timeline  # each entry says which inquiry it is about


def test_the_lead_page_leads_to_the_persons_page(client, alice, jordan):
    lead = inquiry(jordan, alice, 1)
    inquiry(jordan, alice, 2)
    page = signed_in(client, alice).get(f"/leads/{lead.pk}/").content.decode()
    assert f'href="/people/{jordan.pk}/"' in page
    assert "All 2 inquiries" in page


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 200), ("bob", 404), ("mona", 200), ("oscar", 404)]
)
def test_who_may_open_a_persons_page(request, client, alice, jordan, persona, expected):
    inquiry(jordan, alice, 1)
    agent = request.getfixturevalue(persona)
    assert signed_in(client, agent).get(f"/people/{jordan.pk}/").status_code == expected


def test_an_agent_sees_only_the_inquiries_they_may_of_a_person(client, alice, bob, oscar, jordan):
    hers = inquiry(jordan, alice, 1)
    his = inquiry(jordan, bob, 2)
    lead_add_note(lead=his, agent=bob, text="Bob's private read on the budget")
    elsewhere = inquiry(jordan, oscar, 3, team=oscar.team)

    page = signed_in(client, alice).get(f"/people/{jordan.pk}/").content.decode()
    assert f'id="inquiry-{hers.pk}"' in page
    assert f'id="inquiry-{his.pk}"' not in page
    assert f'id="inquiry-{elsewhere.pk}"' not in page
    assert "Bob's private read" not in page
    assert "Lead received 2" not in page

    page = signed_in(client, oscar).get(f"/people/{jordan.pk}/").content.decode()
    assert f'id="inquiry-{elsewhere.pk}"' in page
    assert f'id="inquiry-{hers.pk}"' not in page


def test_a_pool_inquiry_opens_the_person_to_the_team(client, bob, alice, jordan):
    inquiry(jordan, None, 1, team=alice.team)
    page = signed_in(client, bob).get(f"/people/{jordan.pk}/").content.decode()
    assert "No agent yet" in page


def test_no_such_person_is_a_404(client, alice):
    assert signed_in(client, alice).get("/people/999999/").status_code == 404


def test_the_timeline_names_each_inquiry_by_the_day_the_page_shows(client, alice, jordan):
    """Late in the evening, New York time, is already the next day in UTC: the timeline's
    label of the inquiry says the same day as the list of inquiries above it."""
    evening = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC)  # Dec 1, 9:30 PM in New York
    inquiry(jordan, alice, 1, lead_type=Lead.Type.BUYER)
    Lead.objects.filter(contact=jordan).update(received_at=evening)

    page = signed_in(client, alice).get(f"/people/{jordan.pk}/").content.decode()
    listed = page.split('id="inquiries-title"')[1].split("</section>")[0]
    assert "Dec 1, 2026" in listed
    timeline = page.split('id="history-title"')[1]
    assert "· Buyer via webform, Dec 1<" in timeline
    assert "Dec 2" not in timeline
