"""The sweeper after a long broker loss: the whole backlog in one sweep, nothing rung twice."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.intake.models import InboundEvent
from integrations.intake.services import PROCESS_TASK, event_store, events_sweep

pytestmark = pytest.mark.django_db


def queued_events() -> Counter[int]:
    """How many tasks for each event wait in the broker (ORM or Redis)."""
    broker = get_broker()
    if settings.REDIS_URL:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    else:
        payloads = OrmQ.objects.filter(key=broker.list_key).values_list("payload", flat=True)
    tasks = [SignedPackage.loads(payload) for payload in payloads]
    return Counter(task["args"][0] for task in tasks if task["func"] == PROCESS_TASK)


def test_a_backlog_is_rung_in_one_sweep_and_what_waits_in_the_queue_is_not_rung_again(
    django_capture_on_commit_callbacks,
):
    # A long broker loss: 2,500 events were stored and answered but their tasks were lost;
    # 300 more came in since, and their tasks wait in the queue for the workers to reach them.
    InboundEvent.objects.bulk_create(
        InboundEvent(source="webform", body=b"{}", external_id=f"lost-{n}") for n in range(2500)
    )
    with django_capture_on_commit_callbacks(execute=True):
        waiting = [
            event_store(source="webform", body=b"{}", external_id=f"waiting-{n}").event.pk
            for n in range(300)
        ]
    InboundEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=30))
    assert queued_events() == Counter(waiting)

    with django_capture_on_commit_callbacks(execute=True):
        rung = events_sweep()

    assert rung == 2500  # all of them at once, not 1,000 a minute
    queued = queued_events()
    assert set(queued) == set(InboundEvent.objects.values_list("pk", flat=True))
    assert max(queued.values()) == 1  # none of the 300 waiting was rung a second time
    with django_capture_on_commit_callbacks(execute=True):
        assert events_sweep() == 0  # each rung event has a new deadline


def test_an_event_whose_task_was_taken_by_a_worker_that_died_is_rung_again(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        event = event_store(source="webform", body=b"{}", external_id="taken-1").event
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - dt.timedelta(minutes=5)
    )
    # The worker took the task (and died with it): Redis has it no more; the ORM broker keeps
    # it locked until its retry time.
    broker = get_broker()
    if settings.REDIS_URL:
        broker.connection.lpop(broker.list_key)
    else:
        later = timezone.now() + dt.timedelta(seconds=90)
        OrmQ.objects.filter(key=broker.list_key).update(lock=later)

    with django_capture_on_commit_callbacks(execute=True):
        assert events_sweep() == 1
