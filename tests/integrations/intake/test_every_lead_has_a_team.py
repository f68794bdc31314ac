"""Every lead lands in a team (issue 12): a lead whose ZIP no territory covers goes to its
source's default team (``Team.default_for_sources``), else to the only team; with several
teams and no default for a source, the system check intake.E310 says so at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.intake.checks import check_every_lead_has_a_team
from integrations.intake.models import FacebookPage
from integrations.intake.services import event_store
from leads.models import Lead, Team
from leads.selectors import visible_leads
from tests.conftest import make_agent

from .doors import configure, doors, webform_token

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"
VENDORS = ["realtor", "zillow", "zillow_rentals"]


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / name).read_bytes()


@pytest.fixture
def olga(other_team):
    """The manager of the team that takes the portals' leads no territory covers."""
    other_team.default_for_sources = VENDORS
    other_team.save()
    return make_agent(other_team, "olga", role="manager")


def _send(source: str, settings, team, web_form, alice) -> None:
    """One lead from ``source``, with no territory anywhere (so no ZIP is covered)."""
    configure(settings)
    door = {d.name: d for d in doors(team, web_form, alice.user)}
    if source == "webform":
        payload = {**json.loads(fixture("webform", "submission__json.json"))}
        payload["_ts"] = webform_token(web_form)
        assert door["webform (JSON)"].post(json.dumps(payload).encode()).status_code == 201
    elif source == "realtor":
        assert door["realtor"].post(fixture("realtor", "lead__nested.json")).status_code == 200
    elif source == "zillow_rentals":
        body = fixture("zillow_rentals", "callback__full_profile.txt")
        assert door["zillow_rentals"].post(body).status_code == 200
    elif source == "zillow":  # past its SNS signature, which test_zillow.py proves
        envelope = json.loads(fixture("zillow", "notification__lead.json"))
        event_store(
            source="zillow", body=json.dumps(envelope).encode(),
            external_id=envelope["MessageId"], meta={"type": "Notification"},
        )  # fmt: skip
    elif source == "facebook":  # a backfilled lead: its page names the team
        page = FacebookPage(page_id="516540199134611", name="Sunrise", team=team)
        page.set_access_token("page-token")
        page.save()
        lead = json.loads(fixture("facebook", "lead__full.json"))
        lead.pop("form_id")
        event_store(
            source="facebook", body=json.dumps(lead).encode(), external_id=lead["id"],
            meta={"page_id": page.page_id},
        )  # fmt: skip
    elif source == "api":
        assert door["api leads"].post(fixture("api", "lead__phone_only.json")).status_code == 202
    elif source == "events":
        body = fixture("events", "registration__phone_only.json")
        assert door["api events"].post(body).status_code == 202


SOURCES = ["webform", "realtor", "zillow", "zillow_rentals", "facebook", "api", "events"]


@pytest.mark.parametrize("source", SOURCES)
def test_a_lead_no_territory_covers_lands_in_a_pool_a_manager_sees(
    source, settings, team, other_team, web_form, alice, mona, olga, run_queue
):
    _send(source, settings, team, web_form, alice)
    run_queue()

    lead = Lead.objects.get()
    owner, manager, stranger = (other_team, olga, mona) if source in VENDORS else (team, mona, olga)
    assert lead.team_id == owner.pk
    assert lead.assigned_agent_id is None  # the team's pool: no rule names an agent
    assert visible_leads(user=manager.user).filter(pk=lead.pk).exists()
    assert not visible_leads(user=stranger.user).filter(pk=lead.pk).exists()


def test_a_team_saying_star_takes_every_source_no_other_team_names(
    settings, team, other_team, web_form, alice, run_queue
):
    other_team.default_for_sources = ["zillow"]
    other_team.save()
    team.default_for_sources = ["*"]
    team.save()

    _send("realtor", settings, team, web_form, alice)
    run_queue()

    assert Lead.objects.get().team_id == team.pk


def test_the_only_team_takes_every_lead_without_a_default(
    settings, team, web_form, alice, run_queue
):
    _send("realtor", settings, team, web_form, alice)
    run_queue()

    assert Lead.objects.get().team_id == team.pk
    assert check_every_lead_has_a_team() == []


def test_several_teams_without_a_default_for_a_portal_is_a_system_check_error(team, other_team):
    errors = check_every_lead_has_a_team()

    assert {e.id for e in errors} == {"intake.E310"}
    # Realtor.com, Zillow, Zillow Rentals and Email: the sources whose leads may lack a team.
    assert len(errors) == len(VENDORS) + 1
    assert any("Realtor.com lead that no territory covers" in e.msg for e in errors)
    assert any("Email lead that no territory covers" in e.msg for e in errors)
    assert all("Default for sources" in (e.hint or "") for e in errors)

    other_team.default_for_sources = [*VENDORS, "email"]
    other_team.save()
    assert check_every_lead_has_a_team() == []


def test_the_admin_refuses_a_source_two_teams_claim(team, other_team):
    from django.core.exceptions import ValidationError

    team.default_for_sources = ["realtor"]
    team.save()
    other_team.default_for_sources = ["realtor", "zillow"]

    with pytest.raises(ValidationError, match="realtor: already"):
        other_team.full_clean()
    other_team.default_for_sources = "realtor"
    with pytest.raises(ValidationError, match="A list of source keys"):
        other_team.full_clean()


def test_before_migrate_the_check_says_nothing(monkeypatch):
    from django.db import DatabaseError

    def broken(*args, **kwargs):
        raise DatabaseError("no such table: leads_team")

    monkeypatch.setattr(Team.objects, "values_list", broken)
    assert check_every_lead_has_a_team() == []
