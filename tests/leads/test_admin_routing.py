"""Routing is configured entirely in the admin: rules, members, listings, and a dry run."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from leads.models import Lead, RoutingRule, RuleMember, Territory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-ops-123")
    client.force_login(user)
    return client


def test_test_a_lead_shows_where_it_would_go_and_why_without_changing_anything(
    ops, team, beach, alice, bob
):
    bob.is_paused = True
    bob.save()
    url = reverse("admin:leads_routingrule_test")
    assert ops.get(url).status_code == 200
    response = ops.post(
        url, {"team": team.pk, "source": "webform", "lead_type": "buyer", "zip_code": "33139",
              "has_phone": "on"},
    )  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert "Rule Miami Beach (territory Miami Beach by ZIP 33139), round robin: Alice." in html
    assert "<td>Bob</td><td>paused</td>" in html
    assert RoutingRule.objects.get(territory=beach).rotation_key == 0
    assert not Lead.objects.exists()


def test_test_a_lead_names_a_bad_zip(ops, team):
    response = ops.post(
        reverse("admin:leads_routingrule_test"),
        {"team": team.pk, "source": "webform", "lead_type": "buyer", "zip_code": "ABC"},
    )
    assert "Enter a five-digit ZIP code." in response.content.decode()


def test_a_rule_with_a_fallback_chain_is_made_in_the_admin(ops, team, alice, bob):
    url = reverse("admin:leads_routingrule_add")
    form = {
        "team": team.pk, "name": "Zillow buyers", "is_active": "on", "priority": "3",
        "sources": "zillow", "lead_types": ["buyer"], "mode": "round_robin",
        "sla_minutes": "3",
        "members-TOTAL_FORMS": "2", "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
        "members-0-agent": alice.pk, "members-0-step": "0", "members-0-position": "0",
        "members-0-weight": "1",
        "members-1-agent": bob.pk, "members-1-step": "1", "members-1-position": "0",
        "members-1-weight": "1",
    }  # fmt: skip
    response = ops.post(url, form)
    assert response.status_code == 302, re.findall(r"errorlist.{0,300}", response.content.decode())
    rule = RoutingRule.objects.get(name="Zillow buyers")
    assert rule.sources == ["zillow"]
    assert list(RuleMember.objects.filter(rule=rule).values_list("agent", "step")) == [
        (alice.pk, 0), (bob.pk, 1),
    ]  # fmt: skip
    assert ops.get(reverse("admin:leads_routingrule_change", args=[rule.pk])).status_code == 200


def test_the_team_default_rule_cannot_be_deleted_from_the_admin(ops, team, beach):
    default = RoutingRule.objects.get(team=team, is_default=True)
    delete_url = reverse("admin:leads_routingrule_delete", args=[default.pk])
    assert ops.get(delete_url).status_code == 403
    changelist = reverse("admin:leads_routingrule_changelist")
    territory_rule = beach.rules.get()
    refused = ops.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [default.pk, territory_rule.pk],
         "post": "yes"},
    )  # fmt: skip
    assert refused.status_code == 403  # the whole bulk delete is refused
    assert RoutingRule.objects.filter(pk__in=[default.pk, territory_rule.pk]).count() == 2
    ops.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [territory_rule.pk], "post": "yes"},
    )
    assert RoutingRule.objects.filter(pk=default.pk).exists()
    assert not beach.rules.exists()


def test_the_lead_page_shows_the_routing_explanation(ops, team, beach, alice):
    from tests.leads.test_routing import capture

    lead = capture(team=team)
    html = ops.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "why it went where it went" in html
    assert "round robin: Alice." in html


def rule_without_members(team, **fields) -> dict:
    """The admin's "add routing rule" form, filled in, with no member rows."""
    return {
        "team": team.pk, "priority": "0", "mode": "round_robin", "sla_minutes": "5",
        "members-TOTAL_FORMS": "0", "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000", **fields,
    }  # fmt: skip


def test_a_rules_conditions_are_typed_as_words_and_ticks_not_json(ops, team):
    add = ops.get(reverse("admin:leads_routingrule_add")).content.decode()
    assert 'type="checkbox" name="lead_types" value="seller"' in add
    form = rule_without_members(
        team, name="Portal buyers", is_active="on", sources="Zillow, realtor  zillow",
        lead_types=["buyer", "renter"],
    )  # fmt: skip
    response = ops.post(reverse("admin:leads_routingrule_add"), form)
    assert response.status_code == 302, re.findall(r"errorlist.{0,300}", response.content.decode())
    rule = RoutingRule.objects.get(name="Portal buyers")
    assert rule.sources == ["zillow", "realtor"]
    assert rule.lead_types == ["buyer", "renter"]
    page = ops.get(reverse("admin:leads_routingrule_change", args=[rule.pk])).content.decode()
    assert 'value="zillow, realtor"' in page
    assert "[&quot;zillow&quot;" not in page
    assert re.search(r'name="lead_types" value="renter"[^>]*\bchecked', page)
    assert not re.search(r'name="lead_types" value="seller"[^>]*\bchecked', page)


def test_a_rules_sources_that_are_not_words_are_named(ops, team):
    form = rule_without_members(team, name="Odd", sources='["zillow"]', mode="pool")
    response = ops.post(reverse("admin:leads_routingrule_add"), form)
    assert response.status_code == 200
    assert "Not understood: [&quot;zillow&quot;]. Write them like zillow, realtor." in (
        response.content.decode()
    )
    assert not RoutingRule.objects.filter(name="Odd").exists()


def test_a_territorys_places_are_typed_one_a_line_or_separated_by_commas(ops, team, alice):
    form = {
        "team": team.pk, "name": "South Beach", "priority": "0", "agents": [alice.pk],
        "zip_codes": "33139 33140,33141", "cities": "Miami Beach, FL\nNorth Bay Village, fl",
        "counties": "", "states": "fl",
    }  # fmt: skip
    response = ops.post(reverse("admin:leads_territory_add"), form)
    assert response.status_code == 302, re.findall(r"errorlist.{0,300}", response.content.decode())
    territory = Territory.objects.get(name="South Beach")
    assert territory.zip_codes == ["33139", "33140", "33141"]
    assert territory.cities == ["Miami Beach, FL", "North Bay Village, fl"]
    assert territory.states == ["FL"]
    assert ("city", "north bay village|fl") in territory.area_keys()
    page = ops.get(reverse("admin:leads_territory_change", args=[territory.pk])).content.decode()
    assert "33139, 33140, 33141" in page
    assert "Miami Beach, FL\nNorth Bay Village, fl</textarea>" in page
    bad = ops.post(reverse("admin:leads_territory_add"), {**form, "name": "B", "zip_codes": "331"})
    assert "Not understood: 331. Write them like 33139, 33140." in bad.content.decode()
