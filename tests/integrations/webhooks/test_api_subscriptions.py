"""Webhook subscriptions through the REST API (a manager's, an integration's with
``webhooks:manage``), the test ping, and the events about people, notes, calls and deleted
leads, each delivered signed to a real local receiver."""

from __future__ import annotations

import pytest
from django.test import Client

from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.services import webhook_deliver
from leads import people, services
from leads.models import Contact, Integration, Lead
from leads.services import integration_create

from .conftest import capture, verified

pytestmark = pytest.mark.django_db


def api(user=None, key=None) -> Client:
    client = Client(headers={"Authorization": f"Bearer {key}"} if key else {})
    if user is not None:
        client.force_login(user)
    return client


def deliver_all() -> None:
    for delivery in WebhookDelivery.objects.filter(status="pending"):
        webhook_deliver(delivery_id=delivery.pk)


def test_a_manager_subscribes_pings_changes_and_deletes(mona, receiver):
    client = api(mona.user)
    response = client.post(
        "/api/v1/webhook-subscriptions/",
        {"name": "CRM sync", "url": receiver.url, "events": ["person.created", "note.created"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    made = response.json()
    assert made["secret"].startswith("whsec_")
    assert made["team"] == mona.team_id
    listed = client.get("/api/v1/webhook-subscriptions/").json()["results"]
    assert [s["id"] for s in listed] == [made["id"]]
    assert "secret" not in listed[0]  # shown once

    ping = client.post(f"/api/v1/webhook-subscriptions/{made['id']}/test/")
    assert ping.status_code == 200
    assert ping.json()["delivered"] is True
    assert ping.json()["status_code"] == 200
    subscription = WebhookSubscription.objects.get(pk=made["id"])
    payload = verified(subscription, receiver.requests[-1])
    assert payload["type"] == "webhook.test"

    receiver.answers.append(500)
    failed = client.post(f"/api/v1/webhook-subscriptions/{made['id']}/test/").json()
    assert failed["delivered"] is False
    assert failed["status_code"] == 500
    assert not WebhookDelivery.objects.filter(status="pending").exists()  # a ping never retries

    changed = client.patch(
        f"/api/v1/webhook-subscriptions/{made['id']}/", {"events": ["lead.deleted"]},
        content_type="application/json",
    )  # fmt: skip
    assert changed.json()["events"] == ["lead.deleted"]
    assert client.delete(f"/api/v1/webhook-subscriptions/{made['id']}/").status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_who_may_manage_subscriptions(alice, oscar, mona, team, receiver):
    theirs = WebhookSubscription.objects.create(name="Theirs", url=receiver.url, team=oscar.team)
    assert api(alice.user).get("/api/v1/webhook-subscriptions/").status_code == 403
    assert api(mona.user).get(f"/api/v1/webhook-subscriptions/{theirs.pk}/").status_code == 404
    assert (
        api(mona.user).post(f"/api/v1/webhook-subscriptions/{theirs.pk}/test/").status_code == 404
    )
    _, read_only = integration_create(
        name="Reader", team=team, source="reader", scopes=[Integration.Scope.LEADS_READ]
    )
    assert api(key=read_only).get("/api/v1/webhook-subscriptions/").status_code == 403
    _, key = integration_create(
        name="Zap", team=team, source="zap", scopes=[Integration.Scope.WEBHOOKS_MANAGE]
    )
    response = api(key=key).post(
        "/api/v1/webhook-subscriptions/", {"name": "Zap", "url": receiver.url},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["team"] == team.pk


def test_a_private_address_is_refused(mona, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = api(mona.user).post(
        "/api/v1/webhook-subscriptions/", {"name": "Inside", "url": "http://127.0.0.1:6379/"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "url" in response.json()["fields"]


def test_people_notes_calls_and_deleted_leads_are_told(subscription, receiver, beach, mona):
    lead = capture(subscription.team)  # a new person: person.created, then lead.created...
    services.lead_add_note(lead=lead, agent=mona, text="Wants a pool")
    services.lead_log_contact(lead=lead, agent=mona, how="call", outcome="voicemail")
    services.lead_log_contact(lead=lead, agent=mona, how="text")  # not a call: no call.logged
    people.person_update(contact=lead.contact, actor_id=None, origin="test", tags=["vip"])
    people.person_delete(contact=lead.contact, team_id=subscription.team_id)
    deliver_all()
    events = receiver.events()
    for wanted in ("person.created", "note.created", "call.logged", "person.updated",
                   "lead.deleted"):  # fmt: skip
        assert events.count(wanted) == 1, (wanted, events)
    payloads = {p["type"]: p["data"] for p in receiver.payloads()}
    assert payloads["person.created"]["person"]["emails"] == ["dana@example.com"]
    assert payloads["note.created"]["note"]["text"] == "Wants a pool"
    assert payloads["call.logged"]["by"]["id"] == mona.pk
    assert payloads["call.logged"]["call"]["outcome"] == "voicemail"
    assert payloads["person.updated"]["person"]["tags"] == ["vip"]
    assert payloads["lead.deleted"]["lead"]["id"] == lead.pk
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert not Contact.objects.filter(pk=lead.contact_id).exists()


def test_an_import_tells_of_each_person(subscription, receiver, mona):
    from leads import bulk

    rows = [bulk.PersonRow(key="import-1-1", emails=("a@example.com",)),
            bulk.PersonRow(key="import-1-2", emails=("b@example.com",))]  # fmt: skip
    bulk.people_import(team_id=subscription.team_id, rows=rows, origin="test.csv")
    deliver_all()
    assert receiver.events() == ["person.created", "person.created"]


def test_follow_ups_set_and_done_are_told(subscription, receiver, beach, alice):
    import datetime as dt

    from django.utils import timezone

    lead = capture(subscription.team)
    agent = lead.assigned_agent
    assert agent is not None
    task = services.task_create(
        lead=lead, agent=agent, kind="call",
        due_at=timezone.now() + dt.timedelta(hours=2),
    )  # fmt: skip
    services.task_finish(task=task, agent=agent)
    services.task_finish(task=task, agent=agent)  # already done: nothing more
    deliver_all()
    payloads = {p["type"]: p["data"] for p in receiver.payloads() if p["type"].startswith("task.")}
    assert sorted(receiver.events()).count("task.completed") == 1  # events are not ordered
    assert set(payloads) == {"task.created", "task.completed"}
    assert payloads["task.created"]["task"]["kind"] == "call"
    assert payloads["task.completed"]["task"]["status"] == "done"
    assert payloads["task.completed"]["lead"]["id"] == lead.pk
