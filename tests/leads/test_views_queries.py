"""Every page of the agent's app runs the same number of queries with 3 leads as with 30:
no query per row, per timeline entry or per related lead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import extensions
from leads.models import Activity, Contact, Lead, LeadOffer, RoutingDecision, Task

pytestmark = pytest.mark.django_db

# The most queries each page may take, session, user and agent included; the lead page and
# the dashboard take one more for each timeline entry or panel an edge contributes.
TIMELINE, PANELS = len(extensions.timeline), len(extensions.dashboard)
# The inbox: one more for each edge marking its rows ("Unread reply"); the lead page: up to
# three for each card an edge adds (the conversation: its thread, the person's SMS consent,
# marking their texts read).
MARKS, LEAD_CARDS = len(extensions.lead_marks), 3 * len(extensions.lead_panels)
# The lead page: one more for its open follow-ups. The live pages read their stamps once
# (LIVE: one cache-table query; none with Redis). The lists: one for how many inquiries each
# row's person sent.
LIVE = 1
BUDGET = {
    "inbox": 7 + MARKS + LIVE, "search": 8 + MARKS + LIVE, "pool": 6 + LIVE,
    "lead": 10 + TIMELINE + LEAD_CARDS + LIVE,
    "dashboard": 8 + PANELS,
}  # fmt: skip
BUDGET["today"] = 6 + LIVE  # session, user, agent, open offers, follow-ups, waiting leads


def populate(n: int, alice, bob, oscar, focus: Lead | None = None, batch: str = "a") -> Lead:
    """``n`` leads of every kind around Alice, and ``n`` notes, decisions and other leads of
    the same person on one lead of hers (``focus``, made by the first call)."""
    now = timezone.now()
    person = focus.contact if focus else Contact.objects.create(first_name="Jordan")
    for i in range(n):
        contact = Contact.objects.create(first_name=f"P{i}", email=f"p{i}@example.com")
        common = {"team": alice.team, "source": ("webform", "zillow", "realtor")[i % 3]}
        received = now - dt.timedelta(days=i % 20)
        mine = Lead.objects.create(
            contact=person if i % 2 else contact, external_id=f"{batch}-a{i}",
            assigned_agent=alice, received_at=received, sla_due_at=now + dt.timedelta(minutes=i),
            accepted_at=received + dt.timedelta(minutes=i) if i % 3 else None,
            first_contact_at=now if i % 4 == 0 else None,
            status=("new", "accepted", "contacted")[i % 3], **common,
        )  # fmt: skip
        focus = focus or mine
        Task.objects.create(
            lead=mine, agent=alice, kind=("call", "text", "showing")[i % 3],
            due_at=now + dt.timedelta(hours=i - n // 2),
        )  # fmt: skip
        Lead.objects.create(
            contact=contact, external_id=f"{batch}-b{i}", assigned_agent=bob, received_at=now,
            **common,
        )  # fmt: skip
        pooled = Lead.objects.create(
            contact=contact, external_id=f"{batch}-p{i}", received_at=now, **common
        )
        LeadOffer.objects.create(lead=pooled, agent=alice)
        Lead.objects.create(
            contact=contact, team=oscar.team, source="webform", external_id=f"{batch}-o{i}",
            assigned_agent=oscar, received_at=now,
        )  # fmt: skip
        Activity.objects.create(
            contact=person, lead=focus, kind=Activity.Kind.NOTE, actor=alice.user,
            summary=f"Note {i}", data={"text": f"Note {i}"},
        )  # fmt: skip
        RoutingDecision.objects.create(
            lead=focus, agent=alice, reason=f"Decision {i}",
            skipped=[{"agent": bob.pk, "name": "Bob", "reason": "paused"}],
        )  # fmt: skip
    assert focus is not None
    Lead.objects.filter(pk=focus.pk).update(contact=person)
    focus.refresh_from_db()
    return focus


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize(
    ("page", "persona", "url"),
    [
        ("inbox", "alice", "/"),
        ("inbox", "mona", "/"),
        ("search", "alice", "/?q=p1+example"),
        ("search", "mona", "/?q=30555&status=open&source=zillow"),
        ("pool", "alice", "/pool/"),
        ("lead", "alice", "/leads/{focus}/"),
        ("lead", "mona", "/leads/{focus}/"),
        ("dashboard", "mona", "/dashboard/?days=90"),
        ("today", "alice", "/today/"),
        ("today", "mona", "/today/"),
    ],
)
def test_a_page_takes_as_many_queries_with_30_leads_as_with_3(
    request, client, alice, bob, mona, oscar, page, persona, url
):
    client.force_login(request.getfixturevalue(persona).user)
    focus = populate(3, alice, bob, oscar)
    client.get(url.format(focus=focus.pk))  # the first page of all makes the live stamps
    few = queries(client, url.format(focus=focus.pk))
    populate(27, alice, bob, oscar, focus=focus, batch="b")
    many = queries(client, url.format(focus=focus.pk))
    assert few == many
    assert many <= BUDGET[page]


def test_the_lead_page_really_shows_thirty_entries_in_its_fixed_queries(client, alice, bob, oscar):
    focus = populate(30, alice, bob, oscar)
    client.force_login(alice.user)
    response = client.get(f"/leads/{focus.pk}/")
    timeline = response.context["timeline"]
    assert sum(1 for e in timeline if e.kind == "note") == 30
    assert sum(1 for e in timeline if e.kind == "routing") == 30
    assert len(response.context["related"]) == 15  # the person's other leads, all Alice's
