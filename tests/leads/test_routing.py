"""The routing engine: rules, modes, eligibility, escalation and the explanation of each decision.

Personas: Alice and Bob cover Miami Beach (33139, 33140) for the Miami team, Mona manages it,
Oscar works for Orlando. The clock is passed in (``now``) so deadlines are exact.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import ProtectedError
from django.utils import timezone

from leads import signals
from leads.data import LeadData
from leads.models import (
    Activity,
    Agent,
    Lead,
    LeadOffer,
    Listing,
    RoutingDecision,
    RoutingRule,
    RuleMember,
    Territory,
)
from leads.routing import route, within_hours
from leads.services import (
    lead_accept,
    lead_capture,
    lead_claim,
    lead_record_contact,
    leads_escalate,
)
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db
NUMBERS = count(1)
NOON = dt.datetime(2026, 11, 18, 17, 0, tzinfo=dt.UTC)  # a Wednesday, noon in Miami


def capture(zip_code: str = "33139", team=None, **fields) -> Lead:
    n = next(NUMBERS)
    data = LeadData(
        source=fields.pop("source", "webform"),
        external_id=f"route-{n}",
        received_at=timezone.now(),
        email=fields.pop("email", f"buyer{n}@example.com"),
        property_zip=zip_code,
        team_id=team.pk if team else None,
        **fields,
    )
    return lead_capture(data=data).lead


def decision_of(lead: Lead) -> RoutingDecision:
    return lead.routing_decisions.order_by("-id")[0]


@pytest.fixture
def carol(team) -> Agent:
    return make_agent(team, "carol", mobile_phone="+13055550104")


# --- Territories and rules --------------------------------------------------------------------


def test_a_new_territory_routes_round_robin_among_its_agents(team, beach, alice, bob):
    picks = [capture(team=team).assigned_agent for _ in range(4)]
    assert picks == [alice, bob, alice, bob]


def test_every_team_has_a_default_rule_that_cannot_be_deleted(team):
    default = RoutingRule.objects.get(team=team, is_default=True)
    assert default.mode == RoutingRule.Mode.POOL
    with pytest.raises(ProtectedError):
        default.delete()


def test_a_lead_outside_every_territory_goes_to_the_default_rule_then_the_pool(team, beach):
    lead = capture("90210", team)
    assert lead.assigned_agent is None
    decision = decision_of(lead)
    default = RoutingRule.objects.get(team=team, is_default=True)
    assert decision.rule == default
    assert decision.matched == [
        {"rule": default.pk, "name": "Team default", "by": "the team default"}
    ]
    assert "team pool" in decision.reason
    assert lead.activities.filter(kind=Activity.Kind.UNASSIGNED).exists()


def test_zip_beats_city_beats_county_beats_state(team, alice, bob, carol, mona):
    state = Territory.objects.create(team=team, name="Florida", states=["FL"])
    state.agents.set([mona])
    county = Territory.objects.create(team=team, name="Dade", counties=["Miami-Dade County, FL"])
    county.agents.set([carol])
    city = Territory.objects.create(team=team, name="The Beach", cities=["Miami Beach, FL"])
    city.agents.set([bob])
    zip_only = Territory.objects.create(team=team, name="33139", zip_codes=["33139"])
    zip_only.agents.set([alice])

    assert capture("33139", team).assigned_agent == alice  # ZIP
    assert capture("33140", team).assigned_agent == bob  # Miami Beach, by the ZIP data
    assert capture("33133", team).assigned_agent == carol  # Coconut Grove: Miami-Dade County
    assert capture("32803", team).assigned_agent == mona  # Orlando: only the state


def test_a_county_territory_needs_no_zip_list(team, alice):
    orange = Territory.objects.create(team=team, name="Orange", counties=["Orange County, FL"])
    orange.agents.set([alice])
    lead = capture("32803", team)
    assert lead.assigned_agent == alice
    assert "territory Orange by county Orange County, FL" in decision_of(lead).reason


def test_among_equally_specific_rules_the_higher_priority_wins(team, beach, alice, carol):
    vip = Territory.objects.create(team=team, name="South Beach", zip_codes=["33139"])
    vip.agents.set([carol])
    RoutingRule.objects.filter(territory=vip).update(priority=10)
    assert capture("33139", team).assigned_agent == carol


def test_conditions_on_source_type_price_and_phone(team, beach, alice, bob, carol):
    luxury = RoutingRule.objects.create(
        team=team, name="Luxury sellers from Zillow", territory=beach, sources=["zillow"],
        lead_types=["seller"], price_min=Decimal("1000000"), requires_phone=True, priority=5,
    )  # fmt: skip
    RuleMember.objects.create(rule=luxury, agent=carol)

    def lead(**fields):
        phone = f"+1305555{next(NUMBERS):04d}"  # a new person each time
        base = {"source": "zillow", "lead_type": "seller", "price": Decimal("2500000"),
                "phone": phone}  # fmt: skip
        return capture("33139", team, **{**base, **fields}).assigned_agent

    assert lead() == carol
    assert lead(source="webform") != carol
    assert lead(lead_type="buyer") != carol
    assert lead(price=Decimal("900000")) != carol
    assert lead(price=None) != carol
    assert lead(phone="") != carol


def test_a_source_only_rule_ranks_below_territories_and_above_the_default(
    team, beach, alice, carol
):
    facebook = RoutingRule.objects.create(team=team, name="Facebook", sources=["facebook"])
    RuleMember.objects.create(rule=facebook, agent=carol)
    assert capture("33139", team, source="facebook").assigned_agent == alice
    assert capture("90210", team, source="facebook").assigned_agent == carol


def test_a_lead_without_a_team_takes_the_team_of_its_territory(team, beach, alice):
    lead = capture("33140", None)
    assert lead.team == team
    assert lead.assigned_agent == alice


def test_a_lead_of_one_team_never_goes_to_another_team(team, other_team, oscar, beach):
    orlando = Territory.objects.create(team=other_team, name="Orlando", zip_codes=["32803"])
    orlando.agents.set([oscar])
    lead = capture("32803", team)
    assert lead.assigned_agent is None
    assert lead.team == team


# --- Who comes first --------------------------------------------------------------------------


def test_the_listing_agent_gets_a_lead_on_their_listing_whatever_the_rules(team, beach, carol):
    Listing.objects.create(mls_number="A11489321", agent=carol)
    lead = capture("33139", team, mls_number="A11489321")
    assert lead.assigned_agent == carol
    assert "listing agent of MLS A11489321" in decision_of(lead).reason


def test_an_inactive_listing_agent_falls_back_to_the_rules(team, beach, alice, carol):
    Listing.objects.create(mls_number="A1", agent=carol)
    carol.is_active = False
    carol.save()
    lead = capture("33139", team, mls_number="A1")
    assert lead.assigned_agent == alice
    assert {"agent": carol.pk, "name": "Carol", "reason": "inactive"} in decision_of(lead).skipped


def test_the_agent_the_source_pinned_gets_the_lead_unless_inactive(team, beach, alice, carol):
    lead = capture("33139", team, pinned_agent_id=carol.pk)
    assert lead.assigned_agent == carol
    assert lead.pinned_agent == carol
    assert "The lead source assigned it to Carol." in decision_of(lead).reason
    carol.is_active = False
    carol.save()
    lead = capture("33139", team, pinned_agent_id=carol.pk)
    assert lead.assigned_agent == alice
    assert {"agent": carol.pk, "name": "Carol", "reason": "inactive"} in decision_of(lead).skipped


def test_a_repeat_inquiry_goes_to_the_agent_who_already_works_with_the_person(
    team, beach, alice, bob
):
    first = capture("33139", team, email="same@example.com")
    second = capture("33139", team, email="same@example.com")
    assert first.assigned_agent == alice
    assert second.assigned_agent == alice
    assert "already works with this person" in decision_of(second).reason


# --- Eligibility ------------------------------------------------------------------------------


def test_paused_inactive_and_deactivated_agents_are_skipped_with_the_reason(
    team, beach, alice, bob
):
    alice.is_paused = True
    alice.save()
    lead = capture(team=team)
    assert lead.assigned_agent == bob
    assert decision_of(lead).skipped == [{"agent": alice.pk, "name": "Alice", "reason": "paused"}]

    bob.user.is_active = False
    bob.user.save()
    lead = capture(team=team)
    assert lead.assigned_agent is None
    reasons = {s["name"]: s["reason"] for s in decision_of(lead).skipped}
    assert reasons == {"Alice": "paused", "Bob": "inactive"}


def test_working_hours_are_read_in_the_agents_own_time_zone_across_dst(team):
    hours = {"mon": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}
    west = make_agent(team, "wes", time_zone="America/Los_Angeles", working_hours=hours)
    # 16:30 UTC: 08:30 in Los Angeles on Friday 6 March 2026 (PST), 09:30 on Monday 9 March (PDT).
    assert not within_hours(west, dt.datetime(2026, 3, 6, 16, 30, tzinfo=dt.UTC))
    assert within_hours(west, dt.datetime(2026, 3, 9, 16, 30, tzinfo=dt.UTC))
    # 00:30 UTC on Saturday is Friday 16:30 in Los Angeles: still at work.
    assert within_hours(west, dt.datetime(2026, 3, 7, 0, 30, tzinfo=dt.UTC))
    assert not within_hours(west, dt.datetime(2026, 3, 8, 18, 0, tzinfo=dt.UTC))  # Sunday


def test_an_agent_off_hours_is_skipped(team, beach, alice, bob):
    alice.working_hours = {"wed": [["06:00", "10:00"]]}
    alice.time_zone = "America/New_York"
    alice.save()
    lead = capture(team=team)
    decision = route(lead, now=NOON)
    assert decision.agent == bob
    assert {"agent": alice.pk, "name": "Alice", "reason": "off hours"} in [
        s.as_dict() for s in decision.skipped
    ]


def test_daily_capacity_counts_from_the_agents_local_midnight(team, beach, alice, bob):
    alice.daily_capacity = 1
    alice.save()
    assert capture(team=team).assigned_agent == alice
    assert capture(team=team).assigned_agent == bob
    third = capture(team=team)
    assert third.assigned_agent == bob
    assert {"agent": alice.pk, "name": "Alice", "reason": "at daily capacity"} in decision_of(
        third
    ).skipped
    tomorrow = timezone.now() + dt.timedelta(days=1)
    assert route(third, now=tomorrow, exclude=[bob.pk]).agent == alice


def test_when_nobody_in_a_rule_can_take_it_the_next_rule_does(team, beach, alice, bob, carol):
    backup = Territory.objects.create(
        team=team, name="Miami Beach city", cities=["Miami Beach, FL"]
    )
    backup.agents.set([carol])
    for agent in (alice, bob):
        agent.is_paused = True
        agent.save()
    lead = capture("33139", team)
    assert lead.assigned_agent == carol
    assert [m["name"] for m in decision_of(lead).matched] == [
        "Miami Beach", "Miami Beach city", "Team default",
    ]  # fmt: skip


# --- Modes ------------------------------------------------------------------------------------


def test_weighted_shares_are_exact_over_time(team, alice, bob, carol):
    rule = RoutingRule.objects.create(team=team, name="Shares", mode=RoutingRule.Mode.WEIGHTED,
                                      sources=["zillow"])  # fmt: skip
    for agent, weight in ((alice, 5), (bob, 3), (carol, 2)):
        RuleMember.objects.create(rule=rule, agent=agent, weight=weight)
    picks = [capture("90210", team, source="zillow").assigned_agent for _ in range(20)]
    assert (picks.count(alice), picks.count(bob), picks.count(carol)) == (10, 6, 4)
    assert picks[:2] == [alice, bob]  # the richest credit goes first, then the next


def test_least_loaded_prefers_fewer_open_leads_then_the_longest_wait(team, alice, bob, carol):
    rule = RoutingRule.objects.create(team=team, name="Load", mode=RoutingRule.Mode.LEAST_LOADED,
                                      sources=["realtor"])  # fmt: skip
    for agent in (alice, bob, carol):
        RuleMember.objects.create(rule=rule, agent=agent)
    first = capture("90210", team, source="realtor").assigned_agent
    second = capture("90210", team, source="realtor").assigned_agent
    third = capture("90210", team, source="realtor").assigned_agent
    assert {first, second, third} == {alice, bob, carol}
    contacted = Lead.objects.get(assigned_agent=second)
    assert second is not None
    lead_record_contact(lead=contacted, agent=second, how="call")
    assert capture("90210", team, source="realtor").assigned_agent == second


def test_first_to_claim_offers_everyone_eligible_and_the_first_claim_wins(team, beach, alice, bob):
    RoutingRule.objects.filter(territory=beach).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    offered = []
    signals.lead_offered.connect(receiver := lambda sender, agents, **kw: offered.append(agents))
    try:
        lead = capture(team=team)
    finally:
        signals.lead_offered.disconnect(receiver)
    assert lead.assigned_agent is None
    assert set(LeadOffer.objects.filter(lead=lead).values_list("agent", flat=True)) == {
        alice.pk, bob.pk,
    }  # fmt: skip

    won = lead_claim(lead=lead, agent=bob)
    late = lead_claim(lead=lead, agent=alice)
    assert (won.won, won.holder) == (True, bob)
    assert (late.won, late.holder) == (False, bob)
    lead.refresh_from_db()
    assert (lead.assigned_agent, lead.status) == (bob, Lead.Status.ACCEPTED)
    assert dict(LeadOffer.objects.filter(lead=lead).values_list("agent", "status")) == {
        alice.pk: "lost", bob.pk: "won",
    }  # fmt: skip


def test_a_pool_rule_leaves_the_lead_for_any_agent_of_the_team_to_claim(
    team, beach, alice, bob, oscar
):
    RoutingRule.objects.filter(territory=beach).update(mode=RoutingRule.Mode.POOL)
    lead = capture(team=team)
    assert lead.assigned_agent is None
    assert lead.sla_due_at is None
    assert lead_claim(lead=lead, agent=oscar).won is False  # another team's agent
    assert lead_claim(lead=lead, agent=alice).won is True


def test_route_is_a_dry_run(team, beach, alice):
    lead = capture("90210", team)
    rule = RoutingRule.objects.get(territory=beach)
    lead.property_zip = "33139"
    decision = route(lead)
    lead.refresh_from_db()
    rule.refresh_from_db()
    assert decision.agent == alice
    assert lead.assigned_agent is None
    assert rule.rotation_key == 0


# --- Escalation -------------------------------------------------------------------------------


def test_a_lead_not_accepted_in_time_goes_to_the_next_agent_and_the_manager_is_told(
    team, beach, alice, bob, mona, django_capture_on_commit_callbacks
):
    lead = capture(team=team)
    assert lead.assigned_agent == alice
    assert lead.sla_due_at is not None
    heard = []
    receiver = lambda sender, **kw: heard.append(kw)  # noqa: E731
    signals.lead_escalated.connect(receiver)
    try:
        assert leads_escalate(now=lead.sla_due_at - dt.timedelta(seconds=1)) == 0
        with django_capture_on_commit_callbacks(execute=True):
            assert leads_escalate(now=lead.sla_due_at + dt.timedelta(seconds=1)) == 1
        lead.refresh_from_db()
        assert leads_escalate(now=lead.sla_due_at - dt.timedelta(seconds=1)) == 0  # once only
    finally:
        signals.lead_escalated.disconnect(receiver)

    assert lead.assigned_agent == bob
    assert lead.escalation_step == 1
    assert [(h["step"], h["previous_agent"], h["agent"]) for h in heard] == [(1, alice, bob)]
    assert heard[0]["managers"] == [mona]
    assert decision_of(lead).kind == RoutingDecision.Kind.ESCALATION


def test_escalation_follows_the_fallback_chain_then_the_pool(team, alice, bob, carol, mona):
    rule = RoutingRule.objects.create(team=team, name="Chain", sources=["zillow"], sla_minutes=5)
    RuleMember.objects.create(rule=rule, agent=alice, step=0)
    RuleMember.objects.create(rule=rule, agent=bob, step=1)
    RuleMember.objects.create(rule=rule, agent=carol, step=2)
    lead = capture("90210", team, source="zillow")
    holders = [lead.assigned_agent]
    for _ in range(4):
        assert lead.sla_due_at is not None
        leads_escalate(now=lead.sla_due_at + dt.timedelta(seconds=1))
        lead.refresh_from_db()
        holders.append(lead.assigned_agent)
        if lead.sla_due_at is None:
            break
    assert holders == [alice, bob, carol, None]
    assert lead.escalation_step == 3
    assert "pool" in decision_of(lead).reason


def test_accepting_stops_the_clock(team, beach, alice):
    lead = capture(team=team)
    assert lead_accept(lead=lead, agent=alice) is True
    assert leads_escalate(now=timezone.now() + dt.timedelta(hours=1)) == 0
    lead.refresh_from_db()
    assert (lead.status, lead.assigned_agent, lead.sla_due_at) == ("accepted", alice, None)


def test_only_the_assigned_agent_can_accept(team, beach, alice, bob):
    lead = capture(team=team)
    assert lead_accept(lead=lead, agent=bob) is False
    lead.refresh_from_db()
    assert lead.accepted_at is None


def test_logging_a_first_contact_stops_the_clock(team, beach, alice):
    lead = capture(team=team)
    lead_record_contact(lead=lead, agent=alice, how="call")
    assert leads_escalate(now=timezone.now() + dt.timedelta(hours=1)) == 0
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED
    assert lead.first_contact_at is not None


def test_an_offer_nobody_claims_escalates_to_the_pool(team, beach, alice, bob):
    RoutingRule.objects.filter(territory=beach).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    lead = capture(team=team)
    assert lead.sla_due_at is not None
    leads_escalate(now=lead.sla_due_at + dt.timedelta(seconds=1))
    lead.refresh_from_db()
    assert lead.assigned_agent is None
    assert lead.sla_due_at is None
    assert set(LeadOffer.objects.filter(lead=lead).values_list("status", flat=True)) == {"expired"}
