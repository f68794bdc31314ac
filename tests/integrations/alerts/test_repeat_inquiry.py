"""A person whose agent is working them writes again: the new inquiry goes to that agent with
no second acceptance clock, and the agent hears "Jordan wrote again" (real twilio client
against a local Twilio API)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from leads.data import LeadData
from leads.models import Activity, Lead
from leads.services import lead_accept, lead_capture, lead_set_status, leads_escalate

pytestmark = pytest.mark.django_db


def inquiry(n: int, **fields) -> Lead:
    data = LeadData(
        source="webform", external_id=f"again-{n}", received_at=timezone.now(),
        first_name="Jordan", last_name="Lee", email="jordan@example.com", phone="+13055550188",
        property_zip="33150", lead_type=fields.pop("lead_type", "buyer"),
        message=f"Inquiry {n}", **fields,
    )  # fmt: skip
    return lead_capture(data=data).lead


def test_a_person_being_worked_writes_again_the_agent_hears_it_and_no_clock_runs(
    solo, alice, twilio, run_queue
):
    first = inquiry(1)
    run_queue()
    assert lead_accept(lead=first, agent=alice)
    twilio.sent.clear()

    again = inquiry(2, lead_type="seller")
    run_queue()
    assert again.contact_id == first.contact_id
    again.refresh_from_db()
    assert again.assigned_agent == alice
    assert again.sla_due_at is None  # no second acceptance clock
    assert again.accepted_at is not None
    assert again.status == Lead.Status.ACCEPTED
    kinds = set(AgentAlert.objects.filter(lead=again).values_list("kind", flat=True))
    assert kinds == {AgentAlert.Kind.REPEAT}
    [sms] = [sent.form for sent in twilio.sent]
    assert sms["Body"].startswith("Jordan wrote again via Web form: Jordan Lee, seller")
    assert "Reply Y" not in sms["Body"]
    said = Activity.objects.get(lead=again, kind=Activity.Kind.ACCEPTED).summary
    assert said == "Jordan wrote again: Alice already works with them, so no acceptance clock"
    assert leads_escalate(now=timezone.now() + dt.timedelta(hours=2)) == 0


def test_a_repeat_before_the_first_was_accepted_waits_for_acceptance_as_usual(
    solo, alice, twilio, run_queue
):
    inquiry(1)
    again = inquiry(2)
    run_queue()
    again.refresh_from_db()
    assert again.assigned_agent == alice
    assert again.sla_due_at is not None  # she has not taken the person on yet
    assert set(AgentAlert.objects.filter(lead=again).values_list("kind", flat=True)) == {
        AgentAlert.Kind.ASSIGNED
    }


def test_a_person_whose_lead_was_closed_starts_afresh(solo, alice, run_queue):
    first = inquiry(1)
    lead_set_status(lead=first, agent=alice, status=Lead.Status.CLOSED_LOST)
    again = inquiry(2)
    again.refresh_from_db()
    assert again.sla_due_at is not None
    assert again.accepted_at is None
