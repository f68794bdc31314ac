"""Outbound webhooks against a real local receiver: signed, retried, logged, disabled.

Signatures are checked with the ``standardwebhooks`` package (the specification's own
reference library), not with our code.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from django.core import mail
from django.utils import timezone
from django_q.brokers import get_broker
from standardwebhooks import Webhook

from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.services import webhook_deliver, webhooks_sweep
from leads.data import LeadData
from leads.services import api_token_create, lead_accept, lead_capture, lead_set_status
from tests.conftest import _commit_callbacks as commit_callbacks

from .conftest import capture, verified

pytestmark = pytest.mark.django_db


def retry_until_settled(run_queue, delivery: WebhookDelivery, seconds: float = 10.0) -> None:
    """Play the sweeper: ring for due deliveries until ``delivery`` is settled."""
    deadline = time.monotonic() + seconds
    delivery.refresh_from_db()
    while delivery.status == WebhookDelivery.Status.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        webhooks_sweep()
        run_queue()
        delivery.refresh_from_db()


def test_a_subscribed_receiver_gets_signed_lead_created_and_lead_assigned(
    subscription, receiver, beach, alice, run_queue
):
    lead = capture(subscription.team)
    run_queue()

    assert sorted(receiver.events()) == ["lead.assigned", "lead.created", "person.created"]
    payloads = {p["type"]: p for p in (verified(subscription, r) for r in receiver.requests)}
    assert payloads["lead.created"]["data"]["lead"]["id"] == lead.pk
    assert payloads["lead.created"]["data"]["lead"]["contact"]["email"] == "dana@example.com"
    assigned = payloads["lead.assigned"]["data"]
    assert assigned["agent"] == {"id": alice.pk, "display_name": "Alice"}
    assert assigned["lead"]["assigned_agent"]["id"] == alice.pk
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3


def test_the_signature_is_the_specifications_hmac_of_id_timestamp_and_body(
    subscription, receiver, beach, run_queue
):
    capture(subscription.team)
    run_queue()

    headers, body = receiver.requests[0]
    tampered = body.replace(b"dana@example.com", b"mallory@example.com")
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    with pytest.raises(Exception, match="signature"):
        Webhook(subscription.secret).verify(tampered, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(body, headers)


def test_it_retries_with_backoff_until_the_receiver_answers(
    subscription, receiver, beach, run_queue
):
    receiver.answers.extend([503, 500, 502])
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at is not None
    assert delivery.last_attempt_at is not None
    assert delivery.next_attempt_at > delivery.last_attempt_at
    retry_until_settled(run_queue, delivery)

    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert [a.status_code for a in delivery.log.order_by("id")] == [503, 500, 502, 200]
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    assert len({body for _, body in receiver.requests}) == 1
    for request in receiver.requests:
        assert verified(subscription, request)["type"] == "lead.created"
    subscription.refresh_from_db()
    assert (subscription.consecutive_failures, subscription.failing_since) == (0, None)


def test_each_attempt_is_logged_with_its_status_latency_and_an_excerpt(
    subscription, receiver, beach, run_queue
):
    receiver.answers.append(500)
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()

    attempt = WebhookDelivery.objects.get().log.get()
    assert attempt.status_code == 500
    assert attempt.latency_ms is not None
    assert attempt.response_excerpt.startswith('{"ok": false')
    assert len(attempt.response_excerpt) == 500
    assert "500" in attempt.error


def test_a_redirect_is_not_taken_for_a_delivery(subscription, receiver, beach, run_queue):
    receiver.answers.append(307)
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("redirected (307)")


def test_a_subscription_failing_for_the_whole_window_is_disabled_and_operations_told(
    subscription, receiver, beach, run_queue, settings, caplog
):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 0.3
    settings.ADMINS = [("Operations", "ops@example.com")]
    receiver.answers.extend([500] * 50)
    # Failing since before this delivery (earlier ones failed too): the whole window.
    failing_since = timezone.now() - dt.timedelta(seconds=1)
    WebhookSubscription.objects.update(events=["lead.created"], failing_since=failing_since)
    capture(subscription.team)
    with caplog.at_level(logging.ERROR, logger="integrations.webhooks.services"):
        run_queue()
        retry_until_settled(run_queue, WebhookDelivery.objects.get())

    delivery = WebhookDelivery.objects.get()
    subscription.refresh_from_db()
    assert delivery.status == "failed"
    # Tried at least once; on a busy machine the first attempt may already end the window.
    assert delivery.attempts >= 1
    assert delivery.log.count() == delivery.attempts
    assert not subscription.is_active
    assert "Every attempt has failed since" in subscription.disabled_reason
    # (Alice's email alert about the lead goes out too.)
    [to_ops] = [m for m in mail.outbox if m.to != ["alice@example.com"]]
    assert to_ops.to == ["ops@example.com"]
    assert "Back office" in to_ops.subject
    assert "disabled" in caplog.text
    assert subscription.secret not in caplog.text + mail.outbox[0].body


def test_a_receiver_that_answers_410_gone_is_disabled_at_once(
    subscription, receiver, beach, run_queue
):
    receiver.answers.append(410)
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()

    subscription.refresh_from_db()
    assert WebhookDelivery.objects.get().status == "failed"
    assert not subscription.is_active
    assert "410" in subscription.disabled_reason


def test_a_disabled_subscription_gets_no_new_events(subscription, receiver, beach, run_queue):
    WebhookSubscription.objects.update(is_active=False)
    capture(subscription.team)
    run_queue()

    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_only_the_events_and_the_team_subscribed_to_are_sent(
    receiver, team, other_team, beach, alice, run_queue
):
    mine = WebhookSubscription.objects.create(
        name="Assignments", url=receiver.url, team=team, events=["lead.assigned"]
    )
    WebhookSubscription.objects.create(name="Orlando", url=receiver.url, team=other_team)
    capture(team)
    run_queue()

    assert receiver.events() == ["lead.assigned"]
    assert WebhookDelivery.objects.get().subscription == mine


def test_accepting_moving_and_filling_in_a_contact_are_announced(
    subscription, receiver, beach, alice, run_queue
):
    lead = capture(subscription.team)
    run_queue()
    receiver.requests.clear()

    lead_accept(lead=lead, agent=alice)
    lead_set_status(lead=lead, agent=alice, status="qualified")
    capture(subscription.team, email="dana@example.com", zip_code="33140")  # a repeat inquiry
    run_queue()

    payloads = [verified(subscription, r) for r in receiver.requests]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["lead.accepted"]["agent"]["id"] == alice.pk
    assert (by_type["lead.status_changed"]["from"], by_type["lead.status_changed"]["to"]) == (
        "accepted",
        "qualified",
    )
    assert by_type["lead.status_changed"]["by"]["id"] == alice.pk
    assert "lead.created" in by_type


def test_a_contact_filled_in_by_a_new_inquiry_is_announced(subscription, receiver, team, run_queue):
    first = LeadData(
        source="webform", external_id="a", received_at=timezone.now(), team_id=team.pk,
        email="lee@example.com",
    )  # fmt: skip
    lead_capture(data=first)
    run_queue()
    receiver.requests.clear()
    second = LeadData(
        source="webform", external_id="b", received_at=timezone.now(), team_id=team.pk,
        email="lee@example.com", first_name="Lee", phone="+13055550177",
    )  # fmt: skip
    lead_capture(data=second)
    run_queue()

    payloads = [verified(subscription, r) for r in receiver.requests]
    contact_events = [p["data"] for p in payloads if p["type"] == "contact.updated"]
    assert len(contact_events) == 1
    assert contact_events[0]["contact"]["first_name"] == "Lee"
    assert contact_events[0]["fields"] == ["first_name", "phone"]


def test_two_workers_rung_for_the_same_delivery_send_it_once(
    subscription, receiver, beach, run_queue
):
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    commit_callbacks()
    delivery_id = WebhookDelivery.objects.get().pk

    first = webhook_deliver(delivery_id=delivery_id)
    second = webhook_deliver(delivery_id=delivery_id)

    assert first is not None
    assert first.status == "delivered"
    assert second is None
    assert len(receiver.requests) == 1


def test_the_sweeper_rings_for_a_delivery_whose_task_was_lost(
    subscription, receiver, beach, run_queue
):
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    commit_callbacks()  # the lead's commit (its delivery row with it) rings the queue
    get_broker().purge_queue()  # and the broker loses the task
    assert run_queue() == 0

    assert webhooks_sweep() == 1
    run_queue()

    assert receiver.events() == ["lead.created"]
    assert WebhookDelivery.objects.get().status == "delivered"


def test_private_and_loopback_addresses_are_refused_unless_allowed(
    subscription, receiver, beach, run_queue, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()

    attempt = WebhookDelivery.objects.get().log.get()
    assert receiver.requests == []
    # Plain http only to a local receiver while developing or testing; https to a private
    # address is refused for the address.
    assert attempt.error == "refused: Use https: events carry people's details."
    WebhookSubscription.objects.update(url=receiver.url.replace("http:", "https:"))
    WebhookDelivery.objects.update(status="pending", next_attempt_at=timezone.now())
    webhook_deliver(delivery_id=WebhookDelivery.objects.get().pk)
    latest = WebhookDelivery.objects.get().log.order_by("-pk").first()
    assert latest is not None
    assert latest.error.startswith("refused: 127.0.0.1 resolves to a non-public address")


def test_an_operator_redelivers_from_the_admin(
    subscription, receiver, beach, run_queue, admin_client
):
    WebhookSubscription.objects.update(events=["lead.created"])
    capture(subscription.team)
    run_queue()
    delivery = WebhookDelivery.objects.get()

    response = admin_client.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )
    run_queue()

    assert response.status_code == 302
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_the_admin_shows_a_new_subscriptions_secret_once(admin_client, team, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"name": "Books", "url": "http://127.0.0.1:8899/in", "team": team.pk,
         "events": ["lead.created"], "is_active": "on"},
    )  # fmt: skip

    subscription = WebhookSubscription.objects.get()
    assert subscription.secret.startswith("whsec_")
    assert subscription.secret in response.content.decode()
    assert "no-cache" in response["Cache-Control"]
    change = admin_client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret not in change.content.decode()


def test_the_admin_refuses_a_private_address(admin_client, team):
    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"name": "Sneaky", "url": "https://169.254.169.254/latest/meta-data/", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("url", "allow_local"),
    [
        ("http://crm.example.com/hooks", False),
        ("http://crm.example.com/hooks", True),  # a local receiver may; no one else
        ("http://127.0.0.1:8899/in", False),
        ("ftp://crm.example.com/hooks", False),
    ],
)
def test_the_admin_takes_https_only(admin_client, team, settings, url, allow_local):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = allow_local
    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"name": "Plain", "url": url, "team": team.pk, "is_active": "on"},
    )

    assert response.status_code == 200
    assert "https" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_a_disabled_subscription_is_enabled_again_with_its_counters_reset(
    subscription, admin_client
):
    WebhookSubscription.objects.update(
        is_active=False, consecutive_failures=9, failing_since=timezone.now(), disabled_reason="x"
    )

    admin_client.post(
        "/admin/webhooks/webhooksubscription/",
        {"action": "enable", "_selected_action": [subscription.pk]},
    )

    subscription.refresh_from_db()
    assert subscription.is_active
    assert (subscription.consecutive_failures, subscription.failing_since) == (0, None)


def test_a_lead_sent_through_the_api_reaches_the_receiver_signed(
    client, subscription, receiver, beach, alice, run_queue
):
    token = api_token_create(user=alice.user, name="site")[1]
    client.post(
        "/api/v1/leads/",
        {"first_name": "Kai", "email": "kai@example.com", "property_zip": "33139"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "kai-1"},
    )
    run_queue()

    payloads = {
        p["type"]: p["data"] for p in (verified(subscription, r) for r in receiver.requests)
    }
    assert set(payloads) == {"lead.created", "lead.assigned", "person.created"}
    assert payloads["person.created"]["person"]["emails"] == ["kai@example.com"]
    assert payloads["lead.created"]["lead"]["source"] == "api"
    assert payloads["lead.assigned"]["agent"]["id"] == alice.pk
