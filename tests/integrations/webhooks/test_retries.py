"""A retry goes out when it is due, rung by the worker that failed the attempt, not by the
once-a-minute sweep (which stays the safety net for a worker that dies meanwhile)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from integrations.lib import queue
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import capture

pytestmark = pytest.mark.django_db(transaction=True)  # the timer's thread commits its ring


def test_a_retry_is_rung_at_its_time_by_the_worker(
    subscription, receiver, beach, run_queue, queue_worker, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    settings.WEBHOOK_RETRY_MAX_SECONDS = 1.0
    WebhookSubscription.objects.update(events=["lead.created"])
    receiver.answers.append(503)
    capture(subscription.team)
    run_queue()  # the first attempt: 503, the retry due in about a second
    delivery = WebhookDelivery.objects.get()
    assert delivery.log.first() is not None

    deadline = time.monotonic() + 10
    while delivery.status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.05)
        run_queue()  # no sweep: only what the timer rang
        delivery.refresh_from_db()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    first, second = delivery.log.order_by("attempted_at")
    waited = (second.attempted_at - first.attempted_at).total_seconds()
    assert 0.9 <= waited < 5  # at its time (1 s, jitter 10%), not at the next minute's sweep


def test_outside_a_worker_or_far_ahead_the_sweep_rings(monkeypatch):
    soon = timezone.now() + dt.timedelta(seconds=1)
    assert not queue.enqueue_at(soon, "integrations.webhooks.tasks.deliver", 1)  # a web process
    monkeypatch.setattr(queue, "_worker", True)
    later = timezone.now() + dt.timedelta(hours=1)
    assert not queue.enqueue_at(later, "integrations.webhooks.tasks.deliver", 1)
