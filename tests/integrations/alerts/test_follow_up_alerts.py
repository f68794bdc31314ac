"""A follow-up that falls due reminds its agent on their channels (the real twilio client
against a local Twilio API, email through a real SMTP server), once, and not when done."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from integrations.alerts.services import alert_send
from leads.models import Contact, Lead
from leads.services import task_create, task_finish, tasks_remind
from leads.tasks import remind_due_follow_ups

pytestmark = pytest.mark.django_db


def worked_lead(agent) -> Lead:
    contact = Contact.objects.create(
        first_name="Jordan", last_name="Lee", email="jordan@example.com", phone="+13055550199"
    )
    now = timezone.now()
    return Lead.objects.create(
        contact=contact, team=agent.team, source="zillow", external_id="z-1", received_at=now,
        assigned_agent=agent, assigned_at=now, accepted_at=now, status=Lead.Status.CONTACTED,
        property_address="1 Ocean Dr",
    )  # fmt: skip


def test_a_due_follow_up_texts_and_emails_its_agent_once(alice, twilio, smtp, run_queue):
    lead = worked_lead(alice)
    now = timezone.now()
    task = task_create(
        lead=lead, agent=alice, kind="showing", due_at=now - dt.timedelta(seconds=5), now=now
    )
    task_create(lead=lead, agent=alice, kind="call", due_at=now + dt.timedelta(hours=1))
    assert remind_due_follow_ups() == 1
    run_queue()
    alerts = AgentAlert.objects.filter(kind=AgentAlert.Kind.FOLLOW_UP).order_by("channel")
    assert [(a.channel, a.task_id, a.status) for a in alerts] == [
        ("email", task.pk, "sent"),
        ("sms", task.pk, "sent"),
    ]
    [sms] = [sent.form for sent in twilio.sent]
    local = task.due_at.astimezone(ZoneInfo(alice.time_zone))
    assert sms["Body"].startswith(f"Follow-up due: showing at {local:%-H:%M}: Jordan Lee")
    assert "+13055550199" in sms["Body"]  # the number to call is the point of it
    [mail] = smtp.to("alice@example.com")
    assert mail["Subject"].startswith("Follow-up due: showing at")
    text = mail.get_payload()[0].get_payload(decode=True).decode()
    assert "At: 1 Ocean Dr" in text
    assert "Accept" not in text

    assert remind_due_follow_ups() == 0  # once
    lead.refresh_from_db()
    assert lead.alert_sent_at is None  # speed to lead is about the lead's own alerts


def test_a_follow_up_done_before_its_reminder_goes_is_not_sent(alice, twilio, run_queue):
    lead = worked_lead(alice)
    task = task_create(lead=lead, agent=alice, kind="call", due_at=timezone.now())
    tasks_remind()
    [alert] = AgentAlert.objects.filter(kind=AgentAlert.Kind.FOLLOW_UP, channel="sms")
    task_finish(task=task, agent=alice)
    alert_send(alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.status == AgentAlert.Status.CANCELED
    assert "follow-up was done" in alert.last_error
    assert twilio.sent == []


def test_two_follow_ups_on_one_lead_each_get_their_reminder(alice, twilio, run_queue):
    lead = worked_lead(alice)
    now = timezone.now()
    first = task_create(lead=lead, agent=alice, kind="call", due_at=now - dt.timedelta(minutes=1))
    second = task_create(lead=lead, agent=alice, kind="text", due_at=now)
    assert tasks_remind(now=now) == 2
    run_queue()
    sms = AgentAlert.objects.filter(kind=AgentAlert.Kind.FOLLOW_UP, channel="sms")
    assert sorted(sms.values_list("task_id", flat=True)) == [first.pk, second.pk]
    assert len(twilio.sent) == 2
