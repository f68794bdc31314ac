"""Reads, as the REST API will use them: what each person sees, and the dashboard's figures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from leads import selectors
from leads.models import Activity, Contact, Lead, LeadOffer, RoutingDecision
from leads.selectors import LeadFilters, dashboard, lead_get, lead_list, lead_timeline, percentile

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def lead(team, agent=None, name="Jordan", **fields) -> Lead:
    contact = Contact.objects.create(first_name=name, email=f"{name.lower()}@example.com")
    values = {
        "contact": contact,
        "team": team,
        "source": "webform",
        "external_id": f"{name}-{Lead.objects.count()}",
        "received_at": NOW,
        "assigned_agent": agent,
    }
    return Lead.objects.create(**{**values, **fields})


def names(user, **filters) -> set[str]:
    return {x.contact.first_name for x in lead_list(user=user, filters=LeadFilters(**filters))}


def test_each_persona_sees_exactly_their_share(alice, bob, mona, oscar):
    team = alice.team
    lead(team, alice, "Ann")
    lead(team, bob, "Ben")
    lead(team, None, "Pia")
    lead(oscar.team, oscar, "Ola")
    lead(oscar.team, None, "Pam")
    lead(team, alice, "Tess", is_test=True)

    assert names(alice.user) == {"Ann", "Pia"}
    assert names(alice.user, scope="mine") == {"Ann"}
    assert names(alice.user, scope="pool") == {"Pia"}
    assert names(bob.user) == {"Ben", "Pia"}
    assert names(mona.user) == {"Ann", "Ben", "Pia"}
    assert names(oscar.user) == {"Ola", "Pam"}
    assert names(AnonymousUser()) == set()


def test_an_open_offer_makes_a_lead_of_another_team_visible_and_mine(alice, oscar):
    offered = lead(oscar.team, None, "Olga")
    LeadOffer.objects.create(lead=offered, agent=alice)
    assert names(alice.user, scope="mine") == {"Olga"}
    LeadOffer.objects.filter(lead=offered).update(status=LeadOffer.Status.LOST)
    assert names(alice.user) == set()


def test_lead_get_raises_the_same_for_hidden_and_missing_leads(alice, bob):
    hidden = lead(alice.team, bob, "Ben")
    with pytest.raises(Lead.DoesNotExist):
        lead_get(user=alice.user, pk=hidden.pk)
    with pytest.raises(Lead.DoesNotExist):
        lead_get(user=alice.user, pk=hidden.pk + 1000)
    assert lead_get(user=bob.user, pk=hidden.pk) == hidden


def test_what_each_persona_may_do_to_a_lead(alice, bob, mona):
    mine = lead(alice.team, alice, "Ann")
    pooled = lead(alice.team, None, "Pia")
    access = selectors.lead_access
    assert access(user=alice.user, lead=mine) == selectors.LeadAccess(accept=True, work=True)
    assert access(user=mona.user, lead=mine) == selectors.LeadAccess(work=True, reassign=True)
    assert access(user=bob.user, lead=pooled) == selectors.LeadAccess(claim=True)
    pooled.status = Lead.Status.CLOSED_LOST
    assert access(user=bob.user, lead=pooled) == selectors.LeadAccess()


def test_the_timeline_merges_activities_and_routing_decisions_newest_first(alice):
    subject = lead(alice.team, alice)
    Activity.objects.create(
        contact=subject.contact, lead=subject, kind=Activity.Kind.RECEIVED, summary="Received"
    )
    RoutingDecision.objects.create(
        lead=subject, agent=alice, reason="Rule Beach, round robin: Alice.",
        matched=[{"rule": 1, "name": "Beach", "by": "territory Beach by ZIP 33139"}],
        skipped=[{"agent": 2, "name": "Bob", "reason": "off hours"}],
    )  # fmt: skip
    Activity.objects.create(
        contact=subject.contact, kind=Activity.Kind.CONTACT_UPDATED, summary="Filled in phone"
    )
    entries = lead_timeline(lead=subject)
    assert [e.title for e in entries] == ["Filled in phone", "Assigned to Alice", "Received"]
    # Its rule is gone (deleted since): the recorded reason says how it went.
    assert entries[1].details == [
        "Rule Beach, round robin: Alice.",
        "Passed over: Bob (outside working hours).",
    ]


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [([], 0.9, None), ([5], 0.9, 5), (list(range(1, 11)), 0.9, 9), (list(range(1, 11)), 0.5, 5)],
)
def test_percentile_is_the_nearest_rank(values, share, expected):
    assert percentile(values, share) == expected


def test_the_dashboard_computes_speed_to_lead_per_agent_and_source(alice, bob, mona, oscar):
    team = alice.team
    received = NOW - dt.timedelta(days=2)
    for minutes in range(1, 11):  # Alice: 1..10 minutes to accept, webform
        lead(
            team, alice, f"A{minutes}", received_at=received,
            accepted_at=received + dt.timedelta(minutes=minutes),
            first_contact_at=received + dt.timedelta(minutes=2 * minutes),
            status=Lead.Status.CONTACTED,
        )  # fmt: skip
    lead(team, bob, "Slow", source="zillow", received_at=received, status=Lead.Status.CLOSED_WON,
         accepted_at=received + dt.timedelta(hours=2))  # fmt: skip
    lead(team, bob, "Old", received_at=NOW - dt.timedelta(days=40))
    lead(oscar.team, oscar, "Other", received_at=received)
    lead(team, bob, "Late", sla_due_at=NOW - dt.timedelta(minutes=1))

    board = dashboard(user=mona.user, days=30, now=NOW)
    assert board is not None
    assert board.total == 12
    alice_speed = next(s for s in board.speed_by_agent if s.label == "Alice")
    assert alice_speed.leads == 10
    assert alice_speed.to_accept_median == dt.timedelta(minutes=5.5)
    assert alice_speed.to_accept_p90 == dt.timedelta(minutes=9)
    assert alice_speed.to_contact_p90 == dt.timedelta(minutes=18)
    assert dict(board.by_source) == {"webform": 11, "zillow": 1}
    assert dict(board.funnel) == {
        "Received": 12, "Accepted": 11, "Contacted": 11, "Qualified": 1, "Appointment": 1,
        "Under contract": 1, "Won": 1,
    }  # fmt: skip
    assert sum(n for _, n in board.by_week) == 12
    assert [x.contact.first_name for x in board.breaching] == ["Late"]
    quarter = dashboard(user=mona.user, days=90, now=NOW)
    assert quarter is not None
    assert quarter.total == 13


def test_the_dashboard_is_none_for_agents(alice, oscar):
    assert dashboard(user=alice.user) is None
    assert dashboard(user=oscar.user) is None


@pytest.mark.parametrize("people_looked_up_first", [1000, 1])
def test_a_narrow_and_a_broad_search_find_the_same_leads(
    monkeypatch, alice, bob, people_looked_up_first
):
    monkeypatch.setattr(selectors, "SEARCH_PEOPLE", people_looked_up_first)
    mine = lead(alice.team, alice, "Avery")
    lead(alice.team, bob, "Averyson")  # Bob's: never Alice's to find
    also_mine = lead(alice.team, alice, "Averyson")
    lead(alice.team, alice, "Quinn")
    found = lead_list(user=alice.user, filters=LeadFilters(q="avery"))
    assert {x.pk for x in found} == {mine.pk, also_mine.pk}


def test_a_search_word_longer_than_any_email_finds_nobody(alice):
    lead(alice.team, alice, "Avery")

    assert not lead_list(user=alice.user, filters=LeadFilters(q="x" * 300)).exists()


@pytest.mark.parametrize("people_looked_up_first", [1000, 1])
@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("zoe", {"Zoë"}),
        ("ZOË", {"Zoë"}),
        ("nunez", {"Zoë", "Iñaki"}),
        ("Núñez", {"Zoë", "Iñaki"}),
        ("zoe nunez", {"Zoë"}),
        ("inaki", {"Iñaki"}),
        ("lukasz", {"Łukasz"}),
        ("strasse", {"Łukasz"}),
        ("ZOE.N", {"Zoë"}),  # the email, case aside
    ],
)
def test_search_finds_names_whatever_their_accents_and_case(
    monkeypatch, alice, people_looked_up_first, typed, found
):
    """On SQLite and on PostgreSQL alike (the CI runs this file on both)."""
    monkeypatch.setattr(selectors, "SEARCH_PEOPLE", people_looked_up_first)
    for first, last, email in (
        ("Zoë", "Núñez", "zoe.n@example.com"),
        ("Iñaki", "NUÑEZ", "i@example.com"),
        ("Łukasz", "Straße", "l@example.com"),
        ("Zed", "Nunn", "z@example.com"),
    ):
        contact = Contact.objects.create(first_name=first, last_name=last, email=email)
        Lead.objects.create(
            contact=contact, team=alice.team, source="webform", external_id=email,
            received_at=NOW, assigned_agent=alice,
        )  # fmt: skip
    assert names(alice.user, q=typed) == found


def test_search_follows_a_name_changed_by_any_path(alice):
    """The folded name is the database's own column: a bulk update keeps it in step."""
    subject = lead(alice.team, alice, "Jordan")
    Contact.objects.filter(pk=subject.contact_id).update(first_name="Zoë", last_name="Ñandú")
    assert names(alice.user, q="nandu") == {"Zoë"}
    assert names(alice.user, q="zoe nandu") == {"Zoë"}
