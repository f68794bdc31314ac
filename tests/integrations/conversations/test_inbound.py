"""A person's texts to the team's number: the thread, the agent's alert, routing, new leads,
and the keywords that give and take back consent."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from integrations.conversations.models import Message
from integrations.conversations.services import message_send
from integrations.intake.models import InboundEvent
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from leads.models import Agent, Consent, Lead, RoutingDecision, Territory

from .conftest import PERSON, capture, inbound
from .test_sending import URL, login, texts_to

pytestmark = pytest.mark.django_db
ALICE = "+13055550111"


@pytest.fixture
def alice_phone(alice: Agent) -> Agent:
    Agent.objects.filter(pk=alice.pk).update(mobile_phone=ALICE)
    alice.refresh_from_db()
    return alice


def sms_consent(lead: Lead) -> Consent:
    return Consent.objects.filter(contact=lead.contact, channel="sms").order_by(
        "-obtained_at", "-id"
    )[0]


def test_a_reply_lands_in_the_thread_with_its_pictures_and_alerts_the_agent(
    client, alice_phone, jordan, twilio, run_queue
):
    run_queue()
    answer = inbound(
        client, "Is it still available? Here is my pre-approval", sid="SM" + "1" * 32,
        NumMedia="1", MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/xml")
    message = Message.objects.get(direction="in")
    assert (message.contact_id, message.lead_id, message.status) == (
        jordan.contact_id,
        jordan.pk,
        "received",
    )
    assert message.media == [
        {"url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
         "content_type": "image/jpeg"}
    ]  # fmt: skip
    assert message.raw_event_id == InboundEvent.objects.get(source="twilio_sms").pk
    run_queue()
    to_alice = texts_to(twilio, ALICE)
    assert to_alice[-1]["Body"].startswith('Jordan replied: "Is it still available?')
    assert len(to_alice[-1]["Body"]) <= 160
    alert = AgentAlert.objects.get(kind="replied", channel="sms")
    assert alert.status == "sent"
    email = [m for m in mail.outbox if m.subject.startswith("Jordan replied")]
    assert len(email) == 1
    assert "Is it still available?" in email[0].body
    # Twilio posting the same text again changes nothing.
    inbound(client, "Is it still available? Here is my pre-approval", sid="SM" + "1" * 32)
    assert Message.objects.filter(direction="in").count() == 1
    # The agent reads it; the API shows it.
    thread = login(client, alice_phone).get(URL.format(jordan.pk)).json()
    assert [m["direction"] for m in thread] == ["in"]
    message.refresh_from_db()
    assert message.read_at is not None


def test_each_reply_alerts_the_agent_again(client, alice_phone, jordan, twilio, run_queue):
    run_queue()
    inbound(client, "Hello?", sid="SM" + "2" * 32)
    inbound(client, "Are you there?", sid="SM" + "3" * 32)
    run_queue()
    assert AgentAlert.objects.filter(kind="replied", channel="sms").count() == 2


def test_an_agents_claim_still_works_beside_leads_texts(
    client, alice_phone, jordan, twilio, run_queue
):
    run_queue()
    answer = inbound(client, "Y", sid="SM" + "4" * 32, phone=ALICE)
    assert "is yours" in answer.content.decode()
    jordan.refresh_from_db()
    assert jordan.accepted_at is not None
    assert not Message.objects.exists()


def test_a_text_from_an_unknown_number_is_a_routed_sms_lead(
    client, little_river, alice, twilio, run_queue
):
    answer = inbound(
        client, "Hi, I saw your sign on 5th street", sid="SM" + "5" * 32, phone="+13055557777",
        FromCity="MIAMI", FromState="FL",
    )  # fmt: skip
    assert answer.status_code == 200
    lead = Lead.objects.get(source="sms")
    assert lead.contact.phone == "+13055557777"
    assert lead.message == "Hi, I saw your sign on 5th street"
    assert lead.external_id == "SM" + "5" * 32
    assert RoutingDecision.objects.filter(lead=lead).exists()
    consent = sms_consent(lead)
    assert consent.granted
    assert "texted" in consent.text
    message = Message.objects.get()
    assert (message.lead_id, message.direction) == (lead.pk, "in")


def test_an_unassigned_persons_reply_goes_to_routing(client, team, alice, twilio, run_queue):
    lead = capture(zip="33133")  # nobody covers it: the team's pool
    assert lead.assigned_agent_id is None
    before = RoutingDecision.objects.filter(lead=lead).count()
    Territory.objects.create(team=team, name="Grove", zip_codes=["33133"]).agents.set([alice])
    inbound(client, "Can someone call me?", sid="SM" + "6" * 32)
    lead.refresh_from_db()
    assert RoutingDecision.objects.filter(lead=lead).count() == before + 1
    assert lead.assigned_agent == alice


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "END",
        "quit",
        "REVOKE",
        "OPTOUT",
        "Stop.",
    ],
)
def test_the_stop_family_withdraws_sms_consent_with_the_text_as_evidence(
    client, jordan, alice, twilio, word
):
    answer = inbound(client, word, sid="SM" + "7" * 32)
    assert "<Message>" not in answer.content.decode()  # Twilio answers STOP itself
    consent = sms_consent(jordan)
    assert not consent.granted
    assert consent.text == word
    assert consent.origin == "sms: STOP texted"
    assert consent.evidence["message_sid"] == "SM" + "7" * 32
    sent = login(client, alice).post(
        URL.format(jordan.pk), {"body": "Hi"}, content_type="application/json"
    )
    assert sent.json()["code"] == "no_consent"
    assert "Opted out" in sent.json()["message"]


def test_twilio_optouttype_counts_even_for_another_word(client, jordan, twilio):
    inbound(client, "ARRET", sid="SM" + "8" * 32, OptOutType="STOP")
    assert not sms_consent(jordan).granted


def test_a_stop_arriving_while_a_text_waits_stops_it(client, jordan, alice, twilio, run_queue):
    run_queue()  # the alerts about the lead
    message = message_send(lead=jordan, agent=alice, body="Are you free Saturday?")
    # The text is queued (its task not yet run) when the person's STOP arrives.
    inbound(client, "STOP", sid="SM" + "9" * 32)
    run_queue()
    assert texts_to(twilio) == []
    message.refresh_from_db()
    assert message.status == "canceled"
    assert "opted out" in message.last_error


def test_a_stop_between_the_claim_and_the_send_is_read_at_the_send(
    jordan, alice, twilio, run_queue
):
    """The consent is read when the text is sent, not when it was written."""
    from integrations.conversations.services import message_deliver, sms_opt_out_record

    run_queue()
    message = message_send(lead=jordan, agent=alice, body="Hello")
    sms_opt_out_record(contact=jordan.contact, text="STOP", origin="sms: STOP texted", evidence={})
    Message.objects.filter(pk=message.pk).update(
        status="queued", next_attempt_at=message.next_attempt_at
    )
    message_deliver(message_id=message.pk)
    assert texts_to(twilio) == []
    assert Message.objects.get(pk=message.pk).status == "canceled"


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_start_unstop_or_yes_gives_consent_back(client, jordan, alice, twilio, word):
    inbound(client, "STOP", sid="SM" + "a" * 32)
    inbound(client, word, sid="SM" + "b" * 32)
    consent = sms_consent(jordan)
    assert consent.granted
    assert (consent.text, consent.origin) == (word, "sms: START texted")
    sent = login(client, alice).post(
        URL.format(jordan.pk), {"body": "Welcome back"}, content_type="application/json"
    )
    assert sent.status_code == 201


def test_yes_from_a_person_who_never_stopped_is_a_reply(
    client, alice_phone, jordan, twilio, run_queue
):
    run_queue()
    inbound(client, "Yes", sid="SM" + "c" * 32)
    assert Consent.objects.filter(contact=jordan.contact, channel="sms").count() == 1
    run_queue()
    assert AgentAlert.objects.filter(kind="replied").exists()


def test_help_is_answered_with_the_teams_name_and_contact(client, jordan, team, twilio, settings):
    from integrations.conversations.models import TeamMessaging

    TeamMessaging.objects.create(team=team, help_contact="(305) 555-0100")
    answer = inbound(client, "help", sid="SM" + "d" * 32).content.decode()
    assert (
        "<Message>Miami: texts about your real estate inquiry. Reach us at (305) 555-0100."
        in answer
    )
    assert "Reply STOP to opt out." in answer
    assert Message.objects.filter(kind="help", direction="out").count() == 1


def test_consent_changes_and_texts_are_webhook_events(client, jordan, twilio):
    WebhookSubscription.objects.create(
        name="CRM", url="https://hooks.example.com/x",
        events=["consent.changed", "message.received"],
        events_from=timezone.now() - dt.timedelta(minutes=1),
    )  # fmt: skip
    inbound(client, "STOP", sid="SM" + "e" * 32)
    events = {d.event_type: json.loads(d.payload)["data"] for d in WebhookDelivery.objects.all()}
    assert events["consent.changed"]["granted"] is False
    assert events["consent.changed"]["text"] == "STOP"
    assert events["message.received"]["message"]["body"] == "STOP"
    assert PERSON  # the person's number is the thread's


def test_a_stop_reaches_the_marketing_platform_as_the_sms_tag(
    client, mailchimp, jordan, twilio, run_queue
):
    run_queue()
    member = mailchimp.member("jordan1@example.net")
    assert mailchimp.tags[member["id"]]["sms:consented"] is True
    inbound(client, "STOP", sid="SM" + "f" * 32)
    run_queue()
    tags = mailchimp.tags[member["id"]]
    assert (tags["sms:opted-out"], tags["sms:consented"]) == (True, False)
    inbound(client, "START", sid="SM" + "0" * 32)
    run_queue()
    tags = mailchimp.tags[member["id"]]
    assert (tags["sms:opted-out"], tags["sms:consented"]) == (False, True)
