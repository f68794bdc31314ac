"""The thread on the lead page, its send box, and the inbox's unread marks, per role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from integrations.conversations.models import Message
from leads.models import Agent, Lead

from .conftest import capture, inbound
from .test_sending import login

pytestmark = pytest.mark.django_db


def page(client: Client, lead: Lead) -> str:
    answer = client.get(f"/leads/{lead.pk}/")
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_agent_reads_the_thread_and_texts_from_the_lead_page(
    client, jordan, alice, twilio, run_queue
):
    inbound(client, "Can we see it Saturday?", sid="SM" + "1" * 32)
    text = page(login(client, alice), jordan)
    assert "Texts with Jordan" in text
    assert "Can we see it Saturday?" in text
    assert 'name="body"' in text
    assert "disabled" not in text.split('id="conversation"')[1].split("</section>")[0]
    answer = client.post(f"/leads/{jordan.pk}/text/", {"body": "Saturday 10am works!"})
    assert answer.status_code == 302
    assert answer["Location"] == f"/leads/{jordan.pk}/#conversation"
    run_queue()
    sent = Message.objects.get(direction="out")
    assert (sent.body, sent.author, sent.status) == ("Saturday 10am works!", alice, "sent")
    text = page(client, jordan)
    assert "Saturday 10am works!" in text
    assert "Text on its way." in text


def test_without_consent_the_send_box_is_disabled_with_the_reason(
    client, little_river, alice, twilio
):
    lead = capture(sms=None)
    text = page(login(client, alice), lead)
    box = text.split('id="conversation"')[1].split("</section>")[0]
    assert "disabled" in box
    assert "You cannot text Jordan: No SMS consent from this person." in box
    answer = client.post(f"/leads/{lead.pk}/text/", {"body": "Hi"}, follow=True)
    assert "Not sent: No SMS consent from this person." in answer.content.decode()
    assert not Message.objects.exists()


def test_a_manager_sees_the_thread_and_another_agent_does_not(
    client, team, little_river, alice, bob, mona, oscar, twilio
):
    lead = capture()
    inbound(client, "Hello?", sid="SM" + "2" * 32)
    assert "Hello?" in page(login(client, mona), lead)
    client.logout()
    # Bob and Oscar cannot open Alice's lead at all; Bob cannot post to its thread either.
    for agent in (bob, oscar):
        login(client, agent)
        assert client.get(f"/leads/{lead.pk}/").status_code == 404
        assert client.post(f"/leads/{lead.pk}/text/", {"body": "Hi"}).status_code == 404
        client.logout()
    # A pool lead Bob may see and claim: its page, without the person's thread.
    pooled = capture(
        2, zip="33133", phone="+13055551299", email="pool@example.net", team_id=team.pk
    )
    Message.objects.create(
        contact=pooled.contact, lead=pooled, direction="in", status="received", body="Secret words"
    )
    text = page(login(client, bob), pooled)
    assert "Texts with" not in text
    assert "Secret words" not in text
    assert client.post(f"/leads/{pooled.pk}/text/", {"body": "Hi"}, follow=True).status_code == 200
    assert not Message.objects.filter(direction="out").exists()


def test_the_inbox_marks_an_unread_reply_until_the_agent_opens_the_lead(
    client, jordan, alice, mona, twilio
):
    inbound(client, "Still available?", sid="SM" + "3" * 32)
    inbox = login(client, alice).get("/").content.decode()
    row = inbox.split(f'id="row-{jordan.pk}"')[1].split("</li>")[0]
    assert "Unread reply" in row
    client.logout()
    # The manager reading it does not mark it read for Alice.
    page(login(client, mona), jordan)
    client.logout()
    assert "Unread reply" in login(client, alice).get("/").content.decode()
    page(client, jordan)
    assert "Unread reply" not in client.get("/").content.decode()


def test_a_waiting_instant_reply_is_shown(client, jordan, alice, twilio, settings):
    Message.objects.create(
        contact=jordan.contact, lead=jordan, direction="out", kind="greeting", status="queued",
        to=jordan.contact.phone, next_attempt_at=timezone.now() + dt.timedelta(hours=9),
    )  # fmt: skip
    text = page(login(client, alice), jordan)
    assert "Instant reply waits until" in text
    assert "08:00-21:00" in text


def test_an_agent_without_a_profile_is_refused(client, jordan, django_user_model):
    user = django_user_model.objects.create_user("nobody", "n@example.com", "pw-pw-pw-pw")
    client.force_login(user)
    answer = client.post(f"/leads/{jordan.pk}/text/", {"body": "Hi"})
    assert answer.status_code in (302, 403)
    assert not Message.objects.exists()
    assert Agent.objects.filter(user=user).count() == 0


def test_in_the_api_too_only_the_leads_agent_reading_marks_texts_read(
    client, jordan, alice, mona, twilio
):
    inbound(client, "Any news?", sid="SM" + "4" * 32)
    assert login(client, mona).get(f"/api/v1/leads/{jordan.pk}/messages/").status_code == 200
    assert Message.objects.get(direction="in").read_at is None
    client.logout()
    assert login(client, alice).get(f"/api/v1/leads/{jordan.pk}/messages/").status_code == 200
    assert Message.objects.get(direction="in").read_at is not None
