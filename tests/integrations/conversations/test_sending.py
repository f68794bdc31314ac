"""Texting a lead: the API, consent at the moment of sending, Twilio's answers, callbacks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from integrations.alerts.models import SendingFault
from integrations.conversations.models import Message, TeamMessaging
from integrations.conversations.services import message_send
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from leads.models import Agent, Consent, Lead

from .conftest import PERSON, capture, status

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/{}/messages/"


def login(client: Client, agent: Agent) -> Client:
    client.force_login(agent.user)
    return client


def texts_to(twilio, number: str = PERSON) -> list[dict[str, str]]:
    return [sent.form for sent in twilio.sent if sent.form.get("To") == number]


def test_the_agent_texts_the_person_and_the_thread_shows_it(
    client, jordan, alice, twilio, run_queue
):
    run_queue()  # Alice's own alert
    answer = login(client, alice).post(
        URL.format(jordan.pk), {"body": "Hi Jordan, when can you visit?"},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "queued"
    run_queue()
    sent = texts_to(twilio)
    assert [form["Body"] for form in sent] == ["Hi Jordan, when can you visit?"]
    assert sent[0]["From"] == "+13055550000"
    assert sent[0]["StatusCallback"] == "http://testserver/hooks/twilio/messages/status/"
    message = Message.objects.get()
    assert (message.status, message.author, message.attempts) == ("sent", alice, 1)
    assert message.provider_id.startswith("SM")
    thread = client.get(URL.format(jordan.pk)).json()
    assert [(m["direction"], m["body"], m["status"]) for m in thread] == [
        ("out", "Hi Jordan, when can you visit?", "sent")
    ]


@pytest.mark.postgres
def test_a_text_with_nul_from_the_lead_page_is_refused_naming_the_body(client, jordan, alice):
    """Found by bench/hostile.py on PostgreSQL: a NUL in the lead page's send box was a 500."""
    answer = login(client, alice).post(
        f"/leads/{jordan.pk}/text/", {"body": "Hi\x00there"}, follow=True
    )

    assert answer.status_code == 200
    assert "Remove the NUL" in answer.content.decode()
    assert not Message.objects.filter(direction="out", kind="message").exists()


def test_without_sms_consent_the_send_is_refused_with_no_consent(
    client, little_river, alice, twilio
):
    lead = capture(sms=None)
    answer = login(client, alice).post(
        URL.format(lead.pk), {"body": "Hello"}, content_type="application/json"
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "no_consent"
    assert body["status"] == 400
    assert "No SMS consent" in body["message"]
    assert not Message.objects.exists()


def test_a_person_who_refused_texts_or_has_a_landline_is_not_texted(
    client, little_river, alice, twilio
):
    refused = capture(1, sms=False)
    landline = capture(2, phone="+442072191000")  # a London fixed line
    login(client, alice)
    for lead, reason in ((refused, "refused SMS"), (landline, "landline")):
        answer = client.post(URL.format(lead.pk), {"body": "Hi"}, content_type="application/json")
        assert answer.status_code == 400
        assert answer.json()["code"] == "no_consent"
        assert reason in answer.json()["message"]


def test_only_the_agent_and_the_manager_read_and_write_the_thread(
    client, jordan, alice, bob, mona, oscar, twilio
):
    # Bob sees neither Alice's lead nor its thread; Oscar is of another team.
    for agent, code in ((bob, 404), (oscar, 404), (mona, 200), (alice, 200)):
        client.logout()
        assert login(client, agent).get(URL.format(jordan.pk)).status_code == code, agent
    client.logout()
    answer = login(client, bob).post(
        URL.format(jordan.pk), {"body": "Hi"}, content_type="application/json"
    )
    assert answer.status_code == 404
    client.logout()
    answer = login(client, mona).post(
        URL.format(jordan.pk), {"body": "Manager here"}, content_type="application/json"
    )
    assert answer.status_code == 201
    assert client.post(
        URL.format(jordan.pk), {"body": "  "}, content_type="application/json"
    ).json()["fields"] == {"body": ["This field may not be blank."]}


def test_a_team_number_is_the_sender(jordan, alice, team, twilio, run_queue):
    TeamMessaging.objects.create(team=team, from_number="+13055559999")
    message_send(lead=jordan, agent=alice, body="From the team line")
    run_queue()
    assert texts_to(twilio)[-1]["From"] == "+13055559999"


def test_callbacks_move_a_message_forward_only(client, jordan, alice, twilio, run_queue):
    message_send(lead=jordan, agent=alice, body="Hello")
    run_queue()
    message = Message.objects.get()
    assert status(client, message.provider_id, "delivered").status_code == 204
    assert status(client, message.provider_id, "sent").status_code == 204  # late, ignored
    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.delivered_at is not None


def test_a_retryable_error_is_tried_again_later(jordan, alice, twilio, run_queue, settings):
    settings.ALERT_RETRY_BASE_SECONDS = 0
    twilio.fail(20429)
    message_send(lead=jordan, agent=alice, body="Hello")
    run_queue()
    message = Message.objects.get()
    assert (message.status, message.error_code) == ("queued", "20429")
    from integrations.conversations.services import messages_sweep

    assert messages_sweep() == 1
    run_queue()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)


def test_an_undelivered_text_with_a_transient_code_is_sent_again(
    client, jordan, alice, twilio, run_queue, settings
):
    settings.ALERT_RETRY_BASE_SECONDS = 0
    message_send(lead=jordan, agent=alice, body="Hello")
    run_queue()
    first = Message.objects.get().provider_id
    status(client, first, "undelivered", code="30003")
    message = Message.objects.get()
    assert (message.status, message.provider_id) == ("queued", "")
    from integrations.conversations.services import messages_sweep

    messages_sweep()
    run_queue()
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider_id not in ("", first)


def test_21610_records_the_opt_out_and_no_later_text_goes(client, jordan, alice, twilio, run_queue):
    twilio.fail(21610)
    message_send(lead=jordan, agent=alice, body="Hello")
    run_queue()
    message = Message.objects.get()
    assert (message.status, message.error_code) == ("failed", "21610")
    consent = Consent.objects.filter(channel="sms").order_by("-obtained_at", "-id").first()
    assert consent is not None
    assert (consent.granted, consent.origin) == (False, "sms: Twilio 21610")
    assert consent.evidence["code"] == "21610"
    answer = login(client, alice).post(
        URL.format(jordan.pk), {"body": "Again"}, content_type="application/json"
    )
    assert answer.json()["code"] == "no_consent"


@pytest.mark.parametrize("code", [30034, 30007, 30032, 21408])
def test_a_sender_fault_is_configuration_mailed_once_and_on_healthz(
    client, jordan, alice, twilio, run_queue, code, settings
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    run_queue()  # Alice's alert about the lead goes first
    if code == 21408:
        twilio.fail(code, times=2)
    if code != 21408:  # the carriers' codes come back in the message's status callback
        message_send(lead=jordan, agent=alice, body="One")
        message_send(lead=jordan, agent=alice, body="Two")
        run_queue()
        for message in Message.objects.filter(status="sent"):
            status(client, message.provider_id, "failed", code=str(code))
    else:
        message_send(lead=jordan, agent=alice, body="One")
        message_send(lead=jordan, agent=alice, body="Two")
        run_queue()
    assert set(Message.objects.values_list("status", "error_code")) == {("failed", str(code))}
    fault = SendingFault.objects.get()
    assert (fault.code, fault.occurrences, fault.where) == (str(code), 2, "messages to leads")
    ops = [m for m in mail.outbox if "ops@example.com" in m.to]
    assert len(ops) == 1
    warnings = client.get("/healthz").json()["warnings"]
    assert len(warnings) == 1
    assert str(code) in warnings[0]
    # The next text Twilio takes clears it.
    message_send(lead=jordan, agent=alice, body="Three")
    run_queue()
    assert client.get("/healthz").json()["warnings"] == []


def test_a_test_lead_is_never_texted(little_river, alice, twilio, run_queue):
    lead = capture(is_test=True)
    Lead.objects.filter(pk=lead.pk).update(assigned_agent=alice)
    lead.refresh_from_db()
    message_send(lead=lead, agent=alice, body="Hi")
    run_queue()
    assert not texts_to(twilio)
    assert Message.objects.get().status == "canceled"


def test_a_sent_text_is_a_message_sent_webhook(jordan, alice, twilio, run_queue):
    WebhookSubscription.objects.create(
        name="CRM", url="https://hooks.example.com/x", events=["message.sent"],
        events_from=timezone.now() - dt.timedelta(minutes=1),
    )  # fmt: skip
    message_send(lead=jordan, agent=alice, body="Hi")
    run_queue()
    delivery = WebhookDelivery.objects.get(event_type="message.sent")
    assert json.loads(delivery.payload)["data"]["message"]["body"] == "Hi"
