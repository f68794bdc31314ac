"""Alerts as the agent's app and the REST API show them: the timeline, the manager's
dashboard, the settings page's preferences, and /api/v1/agent-alerts/ per role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from integrations.alerts.services import alert_settings_set
from leads.data import LeadData
from leads.models import Agent, Lead
from leads.services import lead_capture

from .conftest import known

pytestmark = pytest.mark.django_db


def lead_for(team, agent: Agent, n: int) -> Lead:
    data = LeadData(
        source="webform", external_id=f"app-{n}", received_at=timezone.now(), team_id=team.pk,
        first_name="Jane", last_name=f"Doe{n}", email=f"jane{n}@example.net",
        pinned_agent_id=agent.pk,
    )  # fmt: skip
    return lead_capture(data=data).lead


def delivery(lead: Lead, agent: Agent, channel: str, status: str, error: str = "") -> AgentAlert:
    return AgentAlert.objects.create(
        lead=lead, agent=agent, channel=channel, kind=AgentAlert.Kind.ASSIGNED, status=status,
        to=agent.mobile_phone if channel == "sms" else agent.email, last_error=error,
    )  # fmt: skip


@pytest.fixture
def world(team, other_team, alice, bob, mona, oscar):
    a = lead_for(team, alice, 1)
    b = lead_for(team, bob, 2)
    o = lead_for(other_team, oscar, 3)
    return {
        "a_sms": delivery(a, alice, "sms", AgentAlert.Status.DELIVERED),
        "a_email": delivery(a, alice, "email", AgentAlert.Status.FAILED, "SMTP 550: refused"),
        "b_sms": delivery(b, bob, "sms", AgentAlert.Status.UNDELIVERED, "Twilio 30005"),
        "o_sms": delivery(o, oscar, "sms", AgentAlert.Status.SENT),
        "leads": {"a": a, "b": b, "o": o},
    }


def as_(client: Client, agent: Agent) -> Client:
    client.force_login(agent.user)
    return client


def test_the_lead_page_shows_each_alert_and_its_fate(client, world, alice):
    page = as_(client, alice).get(f"/leads/{world['leads']['a'].pk}/")
    html = page.content.decode()
    assert "SMS alert to Alice: Delivered" in html
    assert "Email alert to Alice: Failed" in html
    assert "SMTP 550: refused" in html


def test_the_dashboard_lists_the_team_s_failed_alerts_to_a_manager(client, world, mona):
    html = as_(client, mona).get("/dashboard/").content.decode()
    assert "Alerts that failed" in html
    assert "Jane Doe1" in html and "Jane Doe2" in html  # noqa: PT018
    assert "Jane Doe3" not in html  # another team's


def test_an_agent_sets_channels_quiet_hours_and_details_on_the_settings_page(client, alice):
    page = as_(client, alice).get("/settings/")
    html = page.content.decode()
    for name in ("sms_enabled", "email_enabled", "quiet_hours_start", "include_contact_details"):
        assert f'name="{name}"' in html
    assert 'type="time" name="quiet_hours_start"' in html
    initial = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    response = client.post(
        "/settings/",
        {
            **initial, "sms_enabled": "", "email_enabled": "on",
            "quiet_hours_start": "21:30", "quiet_hours_end": "07:00",
            "include_contact_details": "on",
        },
    )  # fmt: skip
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (known(alice).sms_enabled, known(alice).email_enabled) == (False, True)
    assert (known(alice).quiet_hours_start, known(alice).quiet_hours_end) == (
        dt.time(21, 30),
        dt.time(7, 0),
    )
    assert known(alice).include_contact_details is True


def test_a_new_phone_clears_a_phone_problem(client, alice, django_capture_on_commit_callbacks):
    alert_settings_set(agent=alice, phone_problem="Twilio 21211: not a valid number")
    page = as_(client, alice).get("/settings/")
    initial = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/settings/", {**initial, "mobile_phone": "(305) 555-0177"})
    alice.refresh_from_db()
    assert alice.mobile_phone == "+13055550177"
    assert known(alice).phone_problem == ""


@pytest.mark.parametrize(
    ("who", "seen"),
    [
        ("alice", {"a_sms", "a_email"}),
        ("bob", {"b_sms"}),
        ("mona", {"a_sms", "a_email", "b_sms"}),
        ("oscar", {"o_sms"}),
    ],
)
def test_the_agent_alerts_api_shows_each_persona_only_their_own(client, world, who, seen, request):
    agent = request.getfixturevalue(who)
    response = as_(client, agent).get("/api/v1/agent-alerts/")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {world[k].pk for k in seen}
    for key in set(world) - {"leads"} - seen:
        assert as_(client, agent).get(f"/api/v1/agent-alerts/{world[key].pk}/").status_code == 404


def test_the_agent_alerts_api_filters_by_lead_and_status(client, world, mona):
    as_(client, mona)
    by_lead = client.get(f"/api/v1/agent-alerts/?lead={world['leads']['a'].pk}").json()["results"]
    assert {row["channel"] for row in by_lead} == {"sms", "email"}
    failed = client.get("/api/v1/agent-alerts/?status=failed").json()["results"]
    assert [row["id"] for row in failed] == [world["a_email"].pk]
    assert failed[0]["last_error"] == "SMTP 550: refused"
    bad = client.get("/api/v1/agent-alerts/?status=lost")
    assert bad.status_code == 400
    assert "status" in bad.json()["fields"]


def test_the_lead_page_shows_speed_to_lead_step_by_step(client, world, alice):
    lead = world["leads"]["a"]
    Lead.objects.filter(pk=lead.pk).update(
        assigned_at=lead.received_at + dt.timedelta(seconds=0.2),
        alert_sent_at=lead.received_at + dt.timedelta(seconds=0.4),
        alert_delivered_at=lead.received_at + dt.timedelta(seconds=3),
        accepted_at=lead.received_at + dt.timedelta(minutes=2),
    )
    html = as_(client, alice).get(f"/leads/{lead.pk}/").content.decode()
    assert "Assigned 0.2 s · Alert sent 0.4 s · Alert delivered 3.0 s · Accepted 2 min" in html
