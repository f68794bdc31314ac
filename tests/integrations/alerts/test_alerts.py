"""Alerts end to end: the real twilio client against a local Twilio API, email through a
real SMTP server, retries, permanent failures, fall-backs, quiet hours, no duplicates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.alerts.channels.base import DeliveryError
from integrations.alerts.channels.sms import compose, is_gsm
from integrations.alerts.faults import sending_fault_record
from integrations.alerts.models import AgentAlert, SendingFault
from integrations.alerts.services import (
    alert_send,
    alert_settings_set,
    alerts_create,
    alerts_sweep,
    in_quiet_hours,
)
from leads.data import LeadData
from leads.models import Agent, Lead, Territory
from leads.services import lead_capture, leads_escalate
from tests.conftest import _commit_callbacks

from .conftest import ACCOUNT_SID, FROM_NUMBER, known

pytestmark = pytest.mark.django_db
NUMBERS = count(1)
ALMOST_MIDNIGHT = dt.time(23, 59)


def capture(zip_code: str = "33150", **fields: Any) -> Lead:
    data = LeadData(
        source=fields.pop("source", "webform"),
        external_id=f"alert-{next(NUMBERS)}",
        received_at=timezone.now(),
        first_name=fields.pop("first_name", "Jane"),
        last_name=fields.pop("last_name", "Doe"),
        email="jane@example.net",
        phone="+13055550199",
        property_zip=zip_code,
        price=Decimal("450000"),
        message="Is it still available? Can I see it Saturday?",
        **fields,
    )
    return lead_capture(data=data).lead


def sms_deliveries() -> list[AgentAlert]:
    return list(AgentAlert.objects.filter(channel="sms").order_by("id"))


def age(delivery: AgentAlert) -> None:
    """Make a queued delivery due now, as time passing would."""
    AgentAlert.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# --- The happy path -----------------------------------------------------------------------------


def test_an_assigned_lead_texts_and_emails_the_agent(solo, alice, twilio, smtp, run_queue):
    lead = capture()
    assert run_queue() == 2  # one send task per channel

    [sent] = twilio.sent
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert sent.form["To"] == "+13055550111"
    assert sent.form["From"] == FROM_NUMBER
    assert "MessagingServiceSid" not in sent.form
    assert sent.form["StatusCallback"] == "http://testserver/hooks/twilio/status/"
    body = sent.form["Body"]
    assert body.startswith("New lead from Web form: Jane Doe, buyer, Miami 33150, $450k.")
    assert f"http://testserver/l/{lead.short_code}/" in body
    assert "Reply Y to accept" in body
    assert len(body) <= 160
    assert is_gsm(body)
    assert "+13055550199" not in body
    assert "jane@example.net" not in body

    [email] = smtp.to(alice.email)
    assert email["Subject"] == "New lead from Web form: Jane Doe, Miami 33150"
    leaves = [part for part in email.walk() if not part.is_multipart()]
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in leaves}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Is it still available? Can I see it Saturday?" in parts["text/plain"]
    assert f"http://testserver/leads/{lead.pk}/" in parts["text/html"]
    assert "Accept this lead" in parts["text/html"]
    assert "Why you:" in parts["text/plain"]  # the routing explanation

    mail_row, sms = AgentAlert.objects.order_by("channel")  # email < sms
    assert (mail_row.status, sms.status) == (AgentAlert.Status.SENT, AgentAlert.Status.SENT)
    assert sms.provider_id.startswith("SM")
    assert sms.attempts == 1
    assert sms.to == "+13055550111"
    assert mail_row.provider_id == email["Message-ID"]
    lead.refresh_from_db()
    assert lead.alert_sent_at is not None
    assert lead.assigned_at is not None
    assert lead.alert_sent_at >= lead.assigned_at


def test_a_messaging_service_sends_instead_of_a_number(solo, twilio, settings, run_queue):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "ab" * 16
    capture()
    run_queue()
    [sent] = twilio.sent
    assert sent.form["MessagingServiceSid"] == "MG" + "ab" * 16
    assert "From" not in sent.form


def test_an_agent_who_asks_for_contact_details_gets_them(solo, alice, twilio, run_queue):
    alert_settings_set(agent=alice, include_contact_details=True)
    capture()
    run_queue()
    assert "+13055550199 jane@example.net" in twilio.sent[0].form["Body"]


def test_a_long_place_is_shortened_to_keep_one_segment(solo, alice):
    lead = capture(
        property_address="1200 Brickell Bay Drive, Apartment 4501, Miami, Florida 33131-3620",
        first_name="Maximiliana Alexandra",
        last_name="Montgomery-Featherstonehaugh",
    )
    delivery = AgentAlert(lead=lead, agent=alice, kind=AgentAlert.Kind.ASSIGNED, channel="sms")
    from integrations.alerts.facts import alert_facts

    text = compose(alert_facts(delivery))
    assert len(text) <= 160
    assert "1200 Brickell" in text
    assert "..." in text
    assert is_gsm(text)
    assert f"/l/{lead.short_code}/" in text


def test_an_offer_alerts_every_agent_offered(team, alice, bob, twilio, smtp, run_queue):
    from leads.models import RoutingRule

    territory = Territory.objects.create(team=team, name="Shores", zip_codes=["33138"])
    territory.agents.set([alice, bob])
    RoutingRule.objects.filter(territory=territory).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    Agent.objects.filter(pk=bob.pk).update(mobile_phone="+13055550122")
    capture("33138")
    run_queue()
    assert {s.form["To"] for s in twilio.sent} == {"+13055550100", "+13055550122"}
    assert all("First to reply Y gets it" in s.form["Body"] for s in twilio.sent)
    assert {m["To"] for _, _, m in smtp.messages} == {alice.email, bob.email}
    assert set(AgentAlert.objects.values_list("kind", flat=True)) == {AgentAlert.Kind.OFFERED}


def test_a_test_lead_alerts_nobody(solo, twilio, run_queue):
    capture(is_test=True)
    run_queue()
    assert not AgentAlert.objects.exists()
    assert not twilio.sent


def test_without_twilio_settings_only_email_goes(solo, alice, run_queue):
    capture()
    run_queue()
    assert list(AgentAlert.objects.values_list("channel", flat=True)) == ["email"]
    assert [m.to for m in mail.outbox] == [[alice.email]]


def test_channels_the_agent_turned_off_are_not_used(solo, alice, twilio, run_queue):
    alert_settings_set(agent=alice, email_enabled=False)
    capture()
    run_queue()
    assert list(AgentAlert.objects.values_list("channel", flat=True)) == ["sms"]


# --- No duplicates --------------------------------------------------------------------------


def test_the_same_alert_is_made_once(solo, alice, twilio, run_queue):
    lead = capture()
    run_queue()
    again = alerts_create(lead=lead, agents=[alice], kind=AgentAlert.Kind.ASSIGNED)
    assert again == []
    assert AgentAlert.objects.count() == 2
    assert len(twilio.sent) == 1


def test_of_alerts_made_together_only_those_not_made_before_are_new(
    solo, alice, twilio, smtp, run_queue
):
    alert_settings_set(agent=alice, sms_enabled=False)
    lead = capture()
    run_queue()
    assert list(AgentAlert.objects.values_list("channel", flat=True)) == ["email"]
    alert_settings_set(agent=alice, sms_enabled=True)

    again = alerts_create(lead=lead, agents=[alice], kind=AgentAlert.Kind.ASSIGNED)
    run_queue()

    assert [(a.channel, a.pk is not None) for a in again] == [("sms", True)]
    assert sorted(AgentAlert.objects.values_list("channel", flat=True)) == ["email", "sms"]
    assert len(twilio.sent) == 1
    assert len(smtp.to(alice.email)) == 1


def test_two_workers_rung_for_one_alert_send_it_once(solo, twilio, run_queue):
    capture()
    run_queue()
    delivery = sms_deliveries()[0]
    AgentAlert.objects.filter(pk=delivery.pk).update(
        status=AgentAlert.Status.QUEUED, next_attempt_at=timezone.now()
    )
    first = alert_send(alert_id=delivery.pk)
    second = alert_send(alert_id=delivery.pk)  # the row is held, or already sent
    assert first is not None
    assert second is None
    assert len(twilio.sent) == 2  # the first send, and this one


def test_the_sweeper_sends_an_alert_whose_task_was_lost(solo, twilio, run_queue):
    capture()
    _commit_callbacks()  # the alert rows are written and their tasks rung...
    get_broker().purge_queue()  # ...and the tasks lost
    assert not twilio.sent
    assert alerts_sweep() == 2
    run_queue()
    assert len(twilio.sent) == 1
    assert all(d.status == AgentAlert.Status.SENT for d in AgentAlert.objects.all())


# --- Failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [20429, 30001, 500])
def test_a_transient_error_is_retried_with_backoff(solo, twilio, run_queue, code):
    if code == 500:
        twilio.fail_http(503)
    else:
        twilio.fail(code)
    capture()
    run_queue()
    delivery = sms_deliveries()[0]
    assert delivery.status == AgentAlert.Status.QUEUED
    assert delivery.attempts == 1
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 5 < wait < 31  # 20 s, jittered
    assert alert_send(alert_id=delivery.pk) is None  # not due yet

    age(delivery)
    assert alerts_sweep() == 1
    run_queue()
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.SENT
    assert delivery.attempts == 2
    assert len(twilio.sent) == 2


def test_an_unreachable_provider_is_retried(solo, settings, twilio, run_queue):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    capture()
    run_queue()
    delivery = sms_deliveries()[0]
    assert delivery.status == AgentAlert.Status.QUEUED
    assert "unreachable" in delivery.last_error


def test_retries_stop_after_five_attempts_and_fall_back(solo, alice, twilio, run_queue):
    alert_settings_set(agent=alice, email_enabled=False)
    twilio.fail(20429, times=5)
    capture()
    run_queue()
    delivery = sms_deliveries()[0]
    for _ in range(4):
        age(delivery)
        alert_send(alert_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == AgentAlert.Status.FAILED
    assert delivery.attempts == 5
    assert len(twilio.sent) == 5
    assert "Attempt 5: Twilio 20429" in delivery.last_error
    # The agent turned email off, but an alert that cannot arrive by SMS still goes by email.
    fallback = AgentAlert.objects.get(channel="email")
    assert fallback.fallback_for == delivery
    run_queue()
    fallback.refresh_from_db()
    assert fallback.status == AgentAlert.Status.SENT
    assert [m.to for m in mail.outbox] == [[alice.email]]


@pytest.mark.parametrize("code", [21211, 21614])
def test_a_bad_number_fails_at_once_and_is_flagged(solo, alice, twilio, smtp, run_queue, code):
    twilio.fail(code)
    capture()
    run_queue()
    delivery = sms_deliveries()[0]
    assert delivery.status == AgentAlert.Status.FAILED
    assert delivery.attempts == 1
    assert delivery.error_code == str(code)
    assert known(alice).phone_problem.startswith(f"Twilio {code}")
    # Email went anyway; no second email as a fallback.
    assert len(smtp.to(alice.email)) == 1
    assert AgentAlert.objects.filter(channel="email").count() == 1
    # The next lead does not try the broken phone.
    capture()
    run_queue()
    assert len(twilio.sent) == 1


def test_an_opted_out_phone_pauses_sms(solo, alice, twilio, run_queue):
    twilio.fail(21610)
    capture()
    run_queue()
    assert known(alice).sms_opted_out_at is not None
    assert known(alice).phone_problem == ""


def test_a_configuration_error_tells_operations_once(solo, alice, twilio, settings, run_queue):
    settings.ADMINS = [("Ops", "ops@example.com")]
    twilio.fail(20003, times=2)
    capture()
    capture()
    run_queue()
    assert [d.status for d in sms_deliveries()] == [AgentAlert.Status.FAILED] * 2
    to_ops = [m for m in mail.outbox if m.to == ["ops@example.com"]]
    assert len(to_ops) == 1
    assert "SMS sending is failing (agent alerts): Twilio 20003" in to_ops[0].subject
    fault = SendingFault.objects.get()
    assert (fault.code, fault.occurrences, fault.cleared_at) == ("20003", 2, None)
    assert known(alice).phone_problem == ""  # not the agent's fault


def test_a_fault_met_by_another_process_ends_with_the_next_send(
    solo, alice, twilio, client, run_queue
):
    # Met elsewhere: nothing in this process knows of it but its row.
    error = DeliveryError("Twilio 20003: Authenticate", configuration=True, code="20003")
    fault = sending_fault_record(channel="sms", error=error, where="agent alerts")
    assert len(client.get("/healthz").json()["warnings"]) == 1

    capture()
    run_queue()

    [sms] = sms_deliveries()
    assert sms.status == AgentAlert.Status.SENT
    assert client.get("/healthz").json()["warnings"] == []
    fault.refresh_from_db()
    assert fault.cleared_at == sms.sent_at


def test_the_admin_lists_a_fault_a_send_ended_as_cleared(
    solo, alice, twilio, admin_client, run_queue
):
    error = DeliveryError("Twilio 30034: not registered", configuration=True, code="30034")
    fault = sending_fault_record(channel="sms", error=error, where="agent alerts")
    capture()
    run_queue()

    response = admin_client.get(reverse("admin:alerts_sendingfault_changelist"))

    assert response.status_code == 200
    fault.refresh_from_db()
    assert fault.cleared_at == sms_deliveries()[0].sent_at
    detail = admin_client.get(reverse("admin:alerts_sendingfault_change", args=[fault.pk]))
    assert detail.status_code == 200


def test_a_send_writes_nothing_about_faults(solo, alice, twilio, smtp, run_queue):
    capture()
    with CaptureQueriesContext(connection) as queries:
        run_queue()
    assert len(twilio.sent) == 1
    assert [q["sql"] for q in queries.captured_queries if "sendingfault" in q["sql"]] == []


def test_a_fault_met_again_after_a_send_ended_it_is_told_again(
    solo, alice, twilio, smtp, settings, run_queue
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    twilio.fail(20003, times=1)
    capture()
    run_queue()
    capture()
    run_queue()  # this one's SMS goes: the fault is over
    twilio.fail(20003, times=1)
    capture()
    run_queue()

    first, second = SendingFault.objects.order_by("first_seen_at")
    assert first.cleared_at is not None
    assert second.cleared_at is None
    assert (first.occurrences, second.occurrences) == (1, 1)
    assert len(smtp.to("ops@example.com")) == 2


def test_a_refused_email_address_is_flagged_and_falls_back_to_sms(
    solo, alice, twilio, smtp, run_queue
):
    alert_settings_set(agent=alice, sms_enabled=False)
    smtp.refuse[alice.email] = "550 5.1.1 No such user"
    capture()
    run_queue()
    email = AgentAlert.objects.get(channel="email")
    assert email.status == AgentAlert.Status.FAILED
    assert "SMTP 550" in email.last_error
    assert known(alice).email_problem.startswith("SMTP 550")
    fallback = AgentAlert.objects.get(channel="sms")
    assert fallback.fallback_for == email
    assert fallback.status == AgentAlert.Status.SENT
    assert len(twilio.sent) == 1


def test_a_mail_server_that_is_down_is_retried(solo, alice, settings, run_queue):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    capture()
    run_queue()
    email = AgentAlert.objects.get(channel="email")
    assert email.status == AgentAlert.Status.QUEUED
    assert email.attempts == 1
    assert "Mail server unreachable" in email.last_error


# --- Whether an alert is still wanted -------------------------------------------------------


def test_quiet_hours_hold_the_sms_until_they_end_and_email_goes_now(
    solo, alice, twilio, smtp, run_queue
):
    now = timezone.now().astimezone(dt.UTC)
    start = (now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    Agent.objects.filter(pk=alice.pk).update(time_zone="UTC")
    alert_settings_set(agent=alice, quiet_hours_start=start, quiet_hours_end=end)
    capture()
    run_queue()
    assert not twilio.sent
    assert len(smtp.to(alice.email)) == 1
    held = sms_deliveries()[0]
    assert held.status == AgentAlert.Status.QUEUED
    assert held.next_attempt_at is not None
    wait = held.next_attempt_at - now
    assert dt.timedelta(hours=1, minutes=58) < wait <= dt.timedelta(hours=2)


def test_a_hot_lead_texts_even_in_quiet_hours(solo, alice, twilio, run_queue):
    Agent.objects.filter(pk=alice.pk).update(time_zone="UTC")
    alert_settings_set(
        agent=alice, quiet_hours_start=dt.time(0, 0), quiet_hours_end=dt.time(23, 59)
    )
    capture(source="zillow")
    run_queue()
    assert len(twilio.sent) == 1


def test_quiet_hours_over_midnight(alice):
    alice.time_zone = "America/New_York"
    alert_settings_set(agent=alice, quiet_hours_start=dt.time(21, 0), quiet_hours_end=dt.time(7, 0))
    late = dt.datetime(2026, 12, 1, 4, 30, tzinfo=dt.UTC)  # 23:30 in New York
    assert in_quiet_hours(alice, late) == dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    noon = dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
    assert in_quiet_hours(alice, noon) is None


def test_a_held_sms_for_a_lead_already_accepted_is_not_sent(solo, alice, twilio, run_queue):
    from leads.services import lead_accept

    Agent.objects.filter(pk=alice.pk).update(time_zone="UTC")
    alert_settings_set(
        agent=alice, quiet_hours_start=dt.time(0, 0), quiet_hours_end=dt.time(23, 59)
    )
    lead = capture()
    run_queue()
    lead.refresh_from_db()
    lead_accept(lead=lead, agent=Agent.objects.get(pk=alice.pk))
    held = sms_deliveries()[0]
    age(held)
    alert_send(alert_id=held.pk)
    held.refresh_from_db()
    assert held.status == AgentAlert.Status.CANCELED
    assert "accepted" in held.last_error
    assert not twilio.sent


def test_managers_hear_of_an_escalation(team, solo, alice, mona, twilio, smtp, run_queue):
    lead = capture()
    run_queue()
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now() - dt.timedelta(seconds=1))
    leads_escalate()
    run_queue()
    escalated = AgentAlert.objects.filter(kind=AgentAlert.Kind.ESCALATED)
    assert {(d.agent, d.channel) for d in escalated} == {(mona, "sms"), (mona, "email")}
    assert any("Lead not accepted in time" in s.form["Body"] for s in twilio.sent)
    [to_mona] = smtp.to(mona.email)
    assert "Open and reassign" in to_mona.get_payload()[1].get_payload(decode=True).decode()


@pytest.mark.django_db(transaction=True)
def test_the_worker_that_routes_a_web_form_lead_sends_its_alerts_itself(
    client, web_form, solo, alice, twilio, smtp, run_queue, queue_worker
):
    """With real commits (as in production), the event's own task sends the alerts: one
    trip through the queue from the request to the SMS, not two."""
    from integrations.intake.sources.webform import render_token

    payload = {
        "first_name": "Jane", "last_name": "Doe", "email": "jane@example.net",
        "zip_code": "33150", "consent": True, "_ts": render_token(web_form),
    }  # fmt: skip
    response = client.post("/forms/test-form-key/", payload, content_type="application/json")
    assert response.status_code == 201
    assert run_queue() == 1  # the event's task, and nothing after it
    assert [s.form["To"] for s in twilio.sent] == ["+13055550111"]
    assert len(smtp.to(alice.email)) == 1
    assert set(AgentAlert.objects.values_list("status", flat=True)) == {AgentAlert.Status.SENT}


def test_an_agent_is_reminded_once_before_the_deadline(solo, alice, twilio, run_queue, settings):
    settings.ALERT_REMINDER_SECONDS = 120
    lead = capture()
    run_queue()
    assert alerts_sweep() == 0  # the deadline is far
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now() + dt.timedelta(seconds=90))
    alerts_sweep()
    alerts_sweep()  # a second sweep in the window makes no second reminder
    run_queue()
    reminders = AgentAlert.objects.filter(kind=AgentAlert.Kind.REMINDER)
    assert sorted(reminders.values_list("channel", flat=True)) == ["email", "sms"]
    assert twilio.sent[-1].form["Body"].startswith("Lead waiting for you from Web form: Jane Doe")
    assert len(twilio.sent) == 2


def test_no_reminder_for_an_accepted_lead(solo, alice, twilio, run_queue, settings):
    from leads.services import lead_accept

    lead = capture()
    run_queue()
    lead.refresh_from_db()
    lead_accept(lead=lead, agent=alice)
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now() + dt.timedelta(seconds=90))
    alerts_sweep()
    assert not AgentAlert.objects.filter(kind=AgentAlert.Kind.REMINDER).exists()


def test_alerts_lost_before_their_rows_were_written_are_made_by_the_sweeper(
    solo, alice, twilio, run_queue
):
    """The routing committed, then the process died before the alert rows: the sweeper
    finds the assignment without alerts and makes them, once."""
    lead = capture()
    _commit_callbacks()
    AgentAlert.objects.all().delete()  # as if never written
    get_broker().purge_queue()
    assert alerts_sweep() == 0  # too recent: its alerts may still be on their way
    Lead.objects.filter(pk=lead.pk).update(assigned_at=timezone.now() - dt.timedelta(minutes=1))
    alerts_sweep()
    alerts_sweep()
    run_queue()
    assert sorted(AgentAlert.objects.values_list("channel", "status")) == [
        ("email", "sent"),
        ("sms", "sent"),
    ]
    assert len(twilio.sent) == 1


def test_lost_offer_alerts_are_made_by_the_sweeper(team, alice, bob, twilio, run_queue):
    from leads.models import LeadOffer, RoutingRule

    territory = Territory.objects.create(team=team, name="Shores", zip_codes=["33138"])
    territory.agents.set([alice, bob])
    RoutingRule.objects.filter(territory=territory).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    capture("33138")
    _commit_callbacks()
    AgentAlert.objects.all().delete()  # as if never written
    get_broker().purge_queue()
    LeadOffer.objects.update(offered_at=timezone.now() - dt.timedelta(minutes=1))
    alerts_sweep()
    run_queue()
    offered = AgentAlert.objects.filter(kind=AgentAlert.Kind.OFFERED, channel="sms")
    assert {d.agent for d in offered} == {alice, bob}
    assert len(twilio.sent) == 2
