"""The ZIP placeholder behind leads.routing.route (the routing engine replaces it)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from leads.data import LeadData
from leads.models import Activity, Territory
from leads.routing import route
from leads.services import lead_capture
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


def capture(zip_code: str, team_id: int | None = None, n: str = "1"):
    data = LeadData(
        source="webform", external_id=f"r-{zip_code}-{n}", received_at=timezone.now(),
        email=f"buyer{n}@example.com", property_zip=zip_code, team_id=team_id,
    )  # fmt: skip
    return lead_capture(data=data).lead


def test_a_lead_goes_to_the_first_available_agent_of_its_zip_territory(team, beach, alice):
    lead = capture("33139", team.pk)
    assert lead.assigned_agent == alice
    assert lead.assigned_at is not None
    assigned = lead.activities.get(kind=Activity.Kind.ASSIGNED)
    assert "Miami Beach" in assigned.summary
    assert "33139" in assigned.summary


def test_paused_and_inactive_agents_are_skipped(team, beach, alice, bob):
    alice.is_paused = True
    alice.save()
    assert capture("33139", team.pk, "1").assigned_agent == bob
    bob.is_active = False
    bob.save()
    lead = capture("33139", team.pk, "2")
    assert lead.assigned_agent is None
    assert "no available agent" in lead.activities.get(kind=Activity.Kind.UNASSIGNED).summary


def test_a_deactivated_login_is_skipped(team, beach, alice, bob):
    alice.user.is_active = False
    alice.user.save()
    assert capture("33139", team.pk).assigned_agent == bob


def test_an_unknown_zip_stays_in_the_team_pool(team, beach):
    lead = capture("90210", team.pk)
    assert lead.assigned_agent is None
    assert lead.team == team
    assert (
        "No territory covers ZIP 90210"
        in lead.activities.get(kind=Activity.Kind.UNASSIGNED).summary
    )


def test_the_higher_priority_territory_wins(team, beach, alice):
    carlos = make_agent(team, "carlos")
    priority = Territory.objects.create(
        team=team, name="South Beach", zip_codes=["33139"], priority=5
    )
    priority.agents.set([carlos])
    assert capture("33139", team.pk).assigned_agent == carlos


def test_a_lead_of_one_team_never_goes_to_another_team(team, other_team, oscar, beach):
    orlando = Territory.objects.create(team=other_team, name="Orlando", zip_codes=["32803"])
    orlando.agents.set([oscar])
    lead = capture("32803", team.pk)
    assert lead.assigned_agent is None
    assert lead.team == team


def test_a_lead_without_a_team_takes_the_team_of_its_territory(team, beach, alice):
    lead = capture("33140", None)
    assert lead.team == team
    assert lead.assigned_agent == alice


def test_route_only_reads(team, beach, alice):
    lead = capture("90210", team.pk)
    decision = route(lead)
    lead.refresh_from_db()
    assert decision.agent is None
    assert lead.assigned_agent is None
