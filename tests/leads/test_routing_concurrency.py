"""Routing under real concurrency, on PostgreSQL: fair turns and atomic claims."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections, transaction
from django.utils import timezone

from leads.data import LeadData
from leads.models import Lead, RoutingDecision, RoutingRule, Territory
from leads.people import person_update
from leads.services import lead_capture, lead_claim, lead_set_status
from tests.conftest import make_agent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_hundred_leads_at_once_give_ten_agents_exactly_twenty_each(team):
    ten = [make_agent(team, f"agent{i:02d}") for i in range(10)]
    territory = Territory.objects.create(team=team, name="Beach", zip_codes=["33139"])
    territory.agents.set(ten)
    barrier = threading.Barrier(8)

    def capture(n: int) -> int:
        try:
            if n < 8:
                barrier.wait()
            data = LeadData(
                source="webform", external_id=f"burst-{n}", received_at=timezone.now(),
                email=f"burst{n}@example.com", property_zip="33139", team_id=team.pk,
            )  # fmt: skip
            return lead_capture(data=data).lead.pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        lead_ids = list(pool.map(capture, range(200)))

    assert len(set(lead_ids)) == 200
    counts = Counter(Lead.objects.values_list("assigned_agent", flat=True))
    assert sorted(counts.values()) == [20] * 10
    assert None not in counts
    assert RoutingDecision.objects.count() == 200  # one decision per lead, none twice
    assert RoutingRule.objects.get(territory=territory).rotation_key > 0


def test_two_claims_at_the_same_moment_one_wins_and_the_other_is_told(team, alice, bob):
    territory = Territory.objects.create(team=team, name="Beach", zip_codes=["33139"])
    territory.agents.set([alice, bob])
    RoutingRule.objects.filter(territory=territory).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    for n in range(20):
        data = LeadData(
            source="webform", external_id=f"race-{n}", received_at=timezone.now(),
            email=f"race{n}@example.com", property_zip="33139", team_id=team.pk,
        )  # fmt: skip
        lead = lead_capture(data=data).lead
        assert lead.assigned_agent is None
        barrier = threading.Barrier(2)

        def claim(agent, lead_id=lead.pk, barrier=barrier):
            try:
                barrier.wait()
                return lead_claim(lead=Lead.objects.get(pk=lead_id), agent=agent)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(claim, [alice, bob]))
        winners = [r for r in results if r.won]
        losers = [r for r in results if not r.won]
        assert len(winners) == 1
        assert len(losers) == 1
        assert losers[0].holder == winners[0].holder
        lead.refresh_from_db()
        assert lead.assigned_agent == winners[0].holder


def test_a_person_being_edited_holds_no_status_change_of_their_lead(team, alice, beach):
    """Found by schemathesis on a production server: a PATCH of a person and a PATCH of
    their lead's status at once deadlocked (a 500). Editing a person locks their row for a
    change of its fields, not of its key, so the timeline entry the status change writes
    (whose reference to the person PostgreSQL checks at commit) does not wait for it."""
    data = LeadData(
        source="webform", external_id="edit-race", received_at=timezone.now(),
        email="race@example.com", property_zip="33139", team_id=team.pk,
    )  # fmt: skip
    lead = lead_capture(data=data).lead
    editing, done = threading.Event(), threading.Event()

    def edit_the_person() -> None:
        try:
            with transaction.atomic():
                person_update(contact=lead.contact, actor_id=None, origin="test", first_name="Dana")
                editing.set()
                done.wait(10)
        finally:
            connections.close_all()

    editor = threading.Thread(target=edit_the_person)
    editor.start()
    try:
        assert editing.wait(10)
        started = time.monotonic()
        lead_set_status(lead=lead, agent=alice, status=Lead.Status.CONTACTED)
        waited = time.monotonic() - started
    finally:
        done.set()
        editor.join()

    assert waited < 5
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.CONTACTED
