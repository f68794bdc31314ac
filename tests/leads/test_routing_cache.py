"""Routing from memory: a team's rules, territories and agents kept per process for
ROUTING_CACHE_SECONDS, forgotten at once when saved in this process; the round robin's turn
taken in one statement that agrees with the rotation's rule.

Personas: Alice and Bob cover Miami Beach (33139) for the Miami team, in that order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import count
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads import routing
from leads.data import LeadData
from leads.models import Agent, Lead, RoutingDecision, RoutingRule
from leads.services import agent_update_settings, lead_capture

pytestmark = pytest.mark.django_db
NUMBERS = count(1)


@pytest.fixture
def remembered(settings: Any) -> Iterator[None]:
    """Routing kept in memory for a minute, as deployed (the tests' settings turn it off)."""
    settings.ROUTING_CACHE_SECONDS = 60.0
    routing.routing_forget()
    yield
    routing.routing_forget()


def capture(team: Any) -> Lead:
    n = next(NUMBERS)
    data = LeadData(
        source="webform", external_id=f"memory-{n}", received_at=timezone.now(),
        email=f"memory{n}@example.com", property_zip="33139", team_id=team.pk,
    )  # fmt: skip
    return lead_capture(data=data).lead


def skipped(lead: Lead) -> list[dict[str, Any]]:
    return RoutingDecision.objects.get(lead=lead).skipped


def test_a_team_routed_from_memory_reads_its_rules_once(team, beach, alice, bob, remembered):
    assert capture(team).assigned_agent == alice
    with CaptureQueriesContext(connection) as queries:
        lead = capture(team)
    assert lead.assigned_agent == bob  # the turn still moves, in the database
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if "leads_routingrule" in sql or "leads_agent" in sql]


def test_a_pause_saved_in_this_process_is_seen_at_once(team, beach, alice, bob, remembered):
    assert capture(team).assigned_agent == alice
    agent_update_settings(agent=bob, actor=bob, is_paused=True)
    lead = capture(team)
    assert lead.assigned_agent == alice
    assert {"agent": bob.pk, "name": "Bob", "reason": "paused"} in skipped(lead)


def test_a_change_made_in_another_process_is_seen_within_the_cache_seconds(
    team, beach, alice, bob, remembered, monkeypatch
):
    assert capture(team).assigned_agent == alice
    # Another process pauses Bob: no signal reaches this one.
    Agent.objects.filter(pk=bob.pk).update(is_paused=True)
    assert capture(team).assigned_agent == bob  # this process still knows him available
    later = time.monotonic() + 61
    monkeypatch.setattr(routing, "time", SimpleNamespace(monotonic=lambda: later))
    lead = capture(team)
    assert lead.assigned_agent == alice
    assert {"agent": bob.pk, "name": "Bob", "reason": "paused"} in skipped(lead)


def test_a_rule_turned_off_in_this_process_routes_no_more(team, beach, alice, remembered):
    assert capture(team).assigned_agent == alice
    rule = RoutingRule.objects.get(territory=beach)
    rule.is_active = False
    rule.save()
    assert capture(team).assigned_agent is None  # the team's default rule: the pool


@pytest.mark.parametrize("returning", [True, False], ids=["update-returning", "update-select"])
def test_the_turn_taken_in_the_database_is_the_rotations_pick(team, returning, monkeypatch):
    rule = RoutingRule.objects.create(team=team, name="Turns")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", returning)
    agents = {key: SimpleNamespace(key=key) for key in (7, 3, 12, 1_000_005, 9)}
    orders = [[3, 7, 9, 12, 1_000_005], [12, 3, 1_000_005, 7], [9]]
    for keys in orders:
        eligible: Any = [(key, agents[key], 1) for key in keys]
        for last in (0, 3, 5, 9, 12, 1_000_005, 2_000_000):
            RoutingRule.objects.filter(pk=rule.pk).update(rotation_key=last)
            expected = routing.pick_round_robin(RoutingRule(rotation_key=last), eligible)
            assert routing.take_turn(rule, eligible) == expected
            assert RoutingRule.objects.get(pk=rule.pk).rotation_key == expected[1]


def test_alert_settings_saved_in_this_process_reach_the_next_assignment(
    team, beach, alice, bob, remembered
):
    """The edges' rows loaded with the agents (the alert settings) are kept with them."""
    from integrations.alerts.models import AlertSettings

    assert capture(team).assigned_agent == alice
    AlertSettings.objects.create(agent=bob, sms_enabled=False)
    lead = capture(team)
    assert lead.assigned_agent == bob
    assert lead.assigned_agent.alert_settings.sms_enabled is False
