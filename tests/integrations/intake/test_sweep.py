"""The sweeper with no claimer running: the whole backlog in one sweep, each event once,
leased events left to their claimers, and nothing lost with the broker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store, events_claim, events_sweep

pytestmark = pytest.mark.django_db


def test_a_backlog_no_claimer_took_is_processed_in_one_sweep_each_event_once():
    # Every claimer stopped for half an hour: 60 events were stored and answered meanwhile
    # (bodies no form can read: each ends failed, with its reason), and the broker was emptied.
    for n in range(60):
        event_store(source="webform", body=b"{}", external_id=f"lost-{n}")
    get_broker().purge_queue()
    InboundEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=30))

    assert events_sweep() == 60  # all of them at once, not a batch a minute
    assert not InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists()
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    assert events_sweep() == 0


def test_what_live_claimers_hold_is_left_to_them_and_taken_when_their_lease_runs_out():
    for n in range(30):
        event_store(source="webform", body=b"{}", external_id=f"old-{n}")
    InboundEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=5))
    held = events_claim(limit=10)  # a claimer is working through these

    assert events_sweep() == 20
    assert set(
        InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).values_list(
            "pk", flat=True
        )
    ) == set(held)
    # That claimer's worker was killed: when the lease runs out, the sweep takes them.
    after_lease = timezone.now() + dt.timedelta(seconds=settings.EVENT_CLAIM_LEASE_SECONDS + 1)
    assert events_sweep(now=after_lease) == 10


def test_a_fresh_event_is_left_to_the_claimers():
    event_store(source="webform", body=b"{}", external_id="fresh-1")
    assert events_sweep() == 0
